//! Shopify search syntax in `query:` (dossier §3) and the opaque cursors of connections.
//! Terms are separated by spaces (an `AND` between them is read and ignored; `OR` and
//! `NOT` are not served). Served fields: `updated_at`, `created_at` (with `:>`, `:>=`,
//! `:<`, `:<=`, `:`), `email`, `status`, `sku`, `name`, `tag`. Other terms and free text
//! are ignored, as Shopify ignores search fields it does not know.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// One term of a search.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub field: String,
    pub op: &'static str,
    pub value: String,
}

/// The terms of a `query:` string.
pub fn parse(query: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    let mut rest = query.trim();
    while !rest.is_empty() {
        let (word, tail) = next_word(rest);
        rest = tail.trim_start();
        let Some((field, value)) = word.split_once(':') else {
            continue;
        };
        let (op, value) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|op| value.strip_prefix(op).map(|v| (*op, v)))
            .unwrap_or(("=", value));
        let value = value.trim_matches(|c| c == '\'' || c == '"').to_owned();
        terms.push(Term {
            field: field.to_ascii_lowercase(),
            op,
            value,
        });
    }
    terms
}

fn next_word(text: &str) -> (&str, &str) {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => return (&text[..i], &text[i..]),
            _ => {}
        }
    }
    (text, "")
}

fn compare<T: PartialOrd>(op: &str, left: T, right: T) -> bool {
    match op {
        ">" => left > right,
        ">=" => left >= right,
        "<" => left < right,
        "<=" => left <= right,
        _ => left == right,
    }
}

/// Parses a time of a search: RFC 3339, or a date (midnight UTC).
pub fn time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
}

/// Whether `node` (as answered, with `updatedAt`/`createdAt`) passes every term. An
/// unreadable time refuses the term (an error for the caller).
pub fn admits(terms: &[Term], node: &Value) -> Result<bool, String> {
    for t in terms {
        let pass = match t.field.as_str() {
            "updated_at" | "created_at" => {
                let key = if t.field == "updated_at" {
                    "updatedAt"
                } else {
                    "createdAt"
                };
                let right = time(&t.value)
                    .ok_or_else(|| format!("Invalid date in search: `{}`", t.value))?;
                let left = node[key].as_str().and_then(time);
                left.is_some_and(|l| compare(t.op, l, right))
            }
            "email" | "name" => node[t.field.as_str()]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case(&t.value)),
            "status" => {
                let v = node["status"]
                    .as_str()
                    .or(node["displayFulfillmentStatus"].as_str());
                v.is_some_and(|v| v.eq_ignore_ascii_case(&t.value))
            }
            "tag" => node["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|x| x.as_str() == Some(t.value.as_str()))),
            "sku" => node["variants"].as_array().is_some_and(|vs| {
                vs.iter()
                    .any(|v| v["sku"].as_str() == Some(t.value.as_str()))
            }),
            _ => true,
        };
        if !pass {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A cursor: Base64 of `{"last_id": id, "last_value": value}` (the shape of Shopify's
/// cursors; clients must treat them as opaque).
pub fn cursor(id: u64, value: &Value) -> String {
    STANDARD.encode(json!({"last_id": id, "last_value": value}).to_string())
}

/// The (id, value) of a cursor; none when it is not one of this double's.
pub fn read_cursor(text: &str) -> Option<(u64, Value)> {
    let bytes = STANDARD.decode(text).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((v["last_id"].as_u64()?, v["last_value"].clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_updated_at_terms() {
        let terms = parse("updated_at:>'2024-05-01T00:00:00Z' AND status:active");
        assert_eq!(
            terms[0],
            Term {
                field: "updated_at".into(),
                op: ">",
                value: "2024-05-01T00:00:00Z".into()
            }
        );
        assert_eq!(terms[1].field, "status");
        let node = json!({"updatedAt": "2024-05-01T00:00:01Z", "status": "ACTIVE"});
        assert!(admits(&terms, &node).unwrap());
        let tie = json!({"updatedAt": "2024-05-01T00:00:00Z", "status": "ACTIVE"});
        assert!(!admits(&terms, &tie).unwrap());
        assert!(admits(&parse("updated_at:>=2024-05-01T00:00:00Z"), &tie).unwrap());
    }

    #[test]
    fn cursors_round_trip() {
        let c = cursor(7, &json!("2024-05-01T00:00:00Z"));
        assert_eq!(read_cursor(&c), Some((7, json!("2024-05-01T00:00:00Z"))));
        assert_eq!(read_cursor("nope"), None);
    }
}
