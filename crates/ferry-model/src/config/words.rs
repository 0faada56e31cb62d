//! Config problems in words a user knows: serde's and the YAML parser's messages
//! (`invalid type: string "abc", expected u64`, `unknown variant`, `expected mapping start`)
//! rewritten as what was expected and what was found, with "did you mean" for near misses.
//! Shared by the loader and by connectors that read their own settings.

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| !c.is_empty() && *c != word)
        .map(|c| (strsim::jaro_winkler(&word_lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `unknown key `trigerr`; did you mean `trigger`?` or the list of allowed keys.
pub fn unknown_key(key: &str, allowed: &[&str]) -> String {
    match did_you_mean(key, allowed.iter().copied()) {
        Some(near) => format!("unknown key `{key}`; did you mean `{near}`?"),
        None if allowed.is_empty() => format!("unknown key `{key}`"),
        None => format!("unknown key `{key}` (allowed here: {})", allowed.join(", ")),
    }
}

/// `unknown system `erpx`; did you mean `erp`?` or `unknown system `x` (systems: crm, erp)`:
/// a reference to a name defined elsewhere in the file.
pub fn unknown_name(what: &str, name: &str, known: &[&str]) -> String {
    match did_you_mean(name, known.iter().copied()) {
        Some(near) => format!("unknown {what} `{name}`; did you mean `{near}`?"),
        None if known.is_empty() => format!("unknown {what} `{name}` (there are none)"),
        None => format!("unknown {what} `{name}` ({what}s: {})", known.join(", ")),
    }
}

/// `` `custmer` is not one of customer, contact, …; did you mean `customer`? ``
pub fn unknown_value(value: &str, allowed: &[&str]) -> String {
    let list = allowed.join(", ");
    match did_you_mean(value, allowed.iter().copied()) {
        Some(near) => format!("`{value}` is not one of {list}; did you mean `{near}`?"),
        None => format!("`{value}` is not one of {list}"),
    }
}

/// `expected a whole number (0 or more), found `-1``.
pub fn expected_found(expected: &str, found: &str) -> String {
    format!(
        "expected {}, found {}",
        expected_words(expected),
        found_words(found)
    )
}

/// Rewrites one of serde's standard messages (as `serde_json` and custom deserializers
/// produce them) in user words; other messages are returned as they are.
pub fn humanize(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return expected_found(expected, found);
    }
    if let Some(rest) = message.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return expected_found(expected, found);
    }
    if let Some(key) = backquoted_after(message, "unknown field `") {
        return unknown_key(key, &backquoted_list(message));
    }
    if let Some(value) = backquoted_after(message, "unknown variant `") {
        return unknown_value(value, &backquoted_list(message));
    }
    if let Some(key) = backquoted_after(message, "missing field `") {
        return format!("missing `{key}:`");
    }
    syntax(message).unwrap_or_else(|| message.to_owned())
}

/// The YAML parser's syntax errors that users meet most, in plain words.
fn syntax(message: &str) -> Option<String> {
    const KNOWN: &[(&str, &str)] = &[
        (
            "did not find expected key",
            "this line does not line up with the keys above it (check its indentation)",
        ),
        (
            "mapping values are not allowed in this context",
            "a `:` where a value was expected (quote the value, or check the indentation)",
        ),
        (
            "found character that cannot start any token",
            "a value cannot start with this character (a tab? quote the value)",
        ),
        (
            "did not find expected ',' or '}'",
            "an inline map `{ … }` is not closed, or a `,` is missing",
        ),
        (
            "did not find expected ',' or ']'",
            "an inline list `[ … ]` is not closed, or a `,` is missing",
        ),
        (
            "found unexpected end of stream",
            "the file ends inside a quoted value or `{ … }`",
        ),
    ];
    KNOWN
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map(|(_, words)| format!("YAML syntax: {words}"))
}

/// serde's and the parser's names for what they expected, as a user would say it.
fn expected_words(expected: &str) -> String {
    let e = expected.trim();
    let e = e.strip_prefix("a value of type ").unwrap_or(e);
    let words = match e {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "an unsigned integer" => {
            "a whole number (0 or more)"
        }
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "an integer" | "integer" => {
            "a whole number"
        }
        "f32" | "f64" | "a float" | "a number" => "a number",
        "a string" | "string" | "str" | "a borrowed string" => "text",
        "a boolean" | "bool" | "boolean" => "true or false",
        "a map" | "map" | "mapping start" | "a mapping" | "mapping" => {
            "a map of `key: value` entries"
        }
        "a sequence" | "sequence" | "sequence start" | "a list" => {
            "a list (`[a, b]` or `- a` lines)"
        }
        "unit" => "nothing",
        "a Decimal type representing a fixed-point number" => "a decimal number",
        _ if e.starts_with("struct ") || e.starts_with("a map with") => {
            "a map of `key: value` entries"
        }
        _ if e.starts_with("enum ") => "one of the allowed values",
        _ => return e.to_owned(),
    };
    words.to_owned()
}

/// serde's description of what it found (`string "abc"`, `integer `-1``, `map`).
fn found_words(found: &str) -> String {
    let f = found.trim();
    if let Some(text) = f.strip_prefix("string ") {
        return format!("`{}`", text.trim_matches('"'));
    }
    for prefix in ["integer ", "floating point ", "boolean ", "character "] {
        if let Some(value) = f.strip_prefix(prefix) {
            return value.to_owned();
        }
    }
    match f {
        "map" | "a map" => "a map".to_owned(),
        "sequence" | "a sequence" => "a list".to_owned(),
        "unit value" | "null" | "unit" => "nothing".to_owned(),
        _ => f.to_owned(),
    }
}

fn backquoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// The backquoted names after "expected" (`expected one of `a`, `b``), or none.
fn backquoted_list(message: &str) -> Vec<&str> {
    let Some((_, rest)) = message.split_once("expected") else {
        return Vec::new();
    };
    rest.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_jargon_becomes_what_was_expected_and_found() {
        assert_eq!(
            humanize("invalid type: string \"abc\", expected u64"),
            "expected a whole number (0 or more), found `abc`"
        );
        assert_eq!(
            humanize("invalid value: integer `-1`, expected usize"),
            "expected a whole number (0 or more), found `-1`"
        );
        assert_eq!(
            humanize("invalid type: sequence, expected a map"),
            "expected a map of `key: value` entries, found a list"
        );
    }

    #[test]
    fn near_misses_get_a_suggestion_and_far_ones_the_list() {
        assert_eq!(
            humanize("unknown field `trigerr`, expected one of `entity`, `trigger`"),
            "unknown key `trigerr`; did you mean `trigger`?"
        );
        assert_eq!(
            humanize("unknown variant `archiv`, expected one of `ignore`, `delete`, `archive`"),
            "`archiv` is not one of ignore, delete, archive; did you mean `archive`?"
        );
        assert_eq!(
            unknown_key("colour", &["table", "where"]),
            "unknown key `colour` (allowed here: table, where)"
        );
        assert_eq!(did_you_mean("Tabel", ["table", "id"]), Some("table"));
        assert_eq!(did_you_mean("xyz", ["table", "id"]), None);
    }

    #[test]
    fn parser_errors_say_what_to_fix() {
        assert!(
            humanize("while parsing a block mapping, did not find expected key")
                .contains("indentation"),
        );
        assert_eq!(humanize("something new"), "something new");
    }
}
