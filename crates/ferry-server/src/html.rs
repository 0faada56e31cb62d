//! HTML text for pages built without a template: the console's SVG charts, and the
//! reconciliation report ([`reconcile`]) that both the CLI (`ferry reconcile --format html`,
//! a self-contained page) and the console (`/console/reconciliations/{id}`) show.

pub mod reconcile;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_both_quotes_and_keeps_chinese() {
        assert_eq!(
            super::escape(r#"<a href="x">'客户' & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;客户&#39; &amp; co&lt;/a&gt;"
        );
    }
}
