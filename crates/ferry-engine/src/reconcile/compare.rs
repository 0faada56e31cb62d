//! Fair field comparison after mapping: both sides are normalised before they are compared,
//! so that a type's spelling is not a difference (`"10.50"` = `10.5`, `2026-01-01T00:00:00Z` =
//! `2026-01-01 00:00:00`, `true` = `1`) while a change of content is.
//!
//! What stays a difference on purpose: null against an empty string (the target holds
//! something else than the source, and a `NOT NULL` column may depend on it), leading and
//! trailing spaces, letter case, and codes with leading zeros against numbers (`"007"` is a
//! code, not the number 7).

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

/// A value reduced to what it means.
#[derive(Debug, Clone, PartialEq)]
enum Norm {
    Null,
    Bool(bool),
    Number(Decimal),
    Time(DateTime<Utc>),
    Date(NaiveDate),
    Text(String),
    /// Arrays and objects, compared element by element after normalising.
    List(Vec<Norm>),
    Object(Vec<(String, Norm)>),
}

/// Whether the source's mapped value and the target's value mean the same.
pub fn same(source: &Value, target: &Value) -> bool {
    equivalent(&norm(source), &norm(target))
}

fn equivalent(a: &Norm, b: &Norm) -> bool {
    match (a, b) {
        (Norm::Bool(x), Norm::Number(n)) | (Norm::Number(n), Norm::Bool(x)) => {
            *n == Decimal::from(u8::from(*x))
        }
        (Norm::Bool(x), Norm::Text(t)) | (Norm::Text(t), Norm::Bool(x)) => {
            t == if *x { "true" } else { "false" }
        }
        (Norm::Date(d), Norm::Time(t)) | (Norm::Time(t), Norm::Date(d)) => {
            d.and_hms_opt(0, 0, 0).map(|m| m.and_utc()) == Some(*t)
        }
        (Norm::List(x), Norm::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equivalent(a, b))
        }
        (Norm::Object(x), Norm::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, a), (kb, b))| ka == kb && equivalent(a, b))
        }
        _ => a == b,
    }
}

fn norm(v: &Value) -> Norm {
    match v {
        Value::Null => Norm::Null,
        Value::Bool(b) => Norm::Bool(*b),
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map(|d| Norm::Number(d.normalize()))
            .unwrap_or_else(|_| Norm::Text(n.to_string())),
        Value::String(s) => norm_text(s),
        Value::Array(items) => Norm::List(items.iter().map(norm).collect()),
        Value::Object(map) => {
            let mut fields: Vec<(String, Norm)> =
                map.iter().map(|(k, v)| (k.clone(), norm(v))).collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::Object(fields)
        }
    }
}

fn norm_text(s: &str) -> Norm {
    if is_decimal_text(s)
        && let Ok(d) = Decimal::from_str(s)
    {
        return Norm::Number(d.normalize());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Norm::Time(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Norm::Time(t.and_utc());
        }
    }
    if s.len() == 10
        && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
    {
        return Norm::Date(d);
    }
    Norm::Text(s.to_owned())
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: a number as a database or a mapping writes it, and not a
/// code such as `007` or `+49`.
fn is_decimal_text(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let int_ok = int == "0"
        || (!int.is_empty() && !int.starts_with('0') && int.bytes().all(|b| b.is_ascii_digit()));
    let frac_ok = frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    int_ok && frac_ok
}

#[cfg(test)]
mod tests {
    use super::same;
    use serde_json::json;

    #[test]
    fn spellings_of_one_value_are_the_same() {
        for (a, b) in [
            (json!("10.50"), json!("10.5")),
            (json!("10.50"), json!(10.5)),
            (json!(42), json!("42")),
            (json!("-0.10"), json!("-0.1")),
            (json!(true), json!(1)),
            (json!(false), json!("false")),
            (json!("2026-01-02T03:04:05Z"), json!("2026-01-02 03:04:05")),
            (
                json!("2026-01-02T05:04:05+02:00"),
                json!("2026-01-02T03:04:05Z"),
            ),
            (json!("2026-01-02"), json!("2026-01-02T00:00:00Z")),
            (
                json!({"a": "1.0", "b": [1, "2.50"]}),
                json!({"b": ["1", 2.5], "a": 1}),
            ),
            (json!(null), json!(null)),
        ] {
            assert!(same(&a, &b), "{a} should equal {b}");
        }
    }

    #[test]
    fn changes_of_content_are_differences() {
        for (a, b) in [
            (json!("10.50"), json!("10.51")),
            (json!(""), json!(null)),
            (json!("007"), json!(7)),
            (json!("007"), json!("7")),
            (json!("Acme"), json!("acme")),
            (json!("Acme"), json!("Acme ")),
            (json!(true), json!(2)),
            (json!("2026-01-02"), json!("2026-01-03")),
            (json!("2026-01-02T03:04:05Z"), json!("2026-01-02 03:04:06")),
            (json!([1, 2]), json!([2, 1])),
            (json!("1e3"), json!(1000)),
        ] {
            assert!(!same(&a, &b), "{a} should differ from {b}");
        }
    }
}
