//! "Did you mean …?": the nearest of a few known names to a mistyped one.

/// The candidate nearest to `name`, when it is a near miss: at most two edits away, or a
/// third of the candidate's length for long names (`custmers` → `customers`,
/// `Asia/Shangai` → `Asia/Shanghai`). `None` when nothing is that close.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.chars().count() / 3))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance in characters (insert, delete, substitute).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn only_a_near_miss_is_suggested() {
        let known = ["customers", "orders"];
        assert_eq!(nearest("custmers", known), Some("customers"));
        assert_eq!(nearest("nosuchflow", known), None);
    }
}
