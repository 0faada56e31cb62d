//! Value conversions shared by the field rules and the validation rules: exact decimals,
//! booleans in the spellings business systems use, dates and instants, and the short
//! rendering of an offending value for error messages.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::Value;

/// How many characters of an offending value an error message shows.
const SHOWN_CHARS: usize = 60;

/// The value as JSON text, cut to about 60 characters, for error messages.
pub(crate) fn show(value: &Value) -> String {
    let text = value.to_string();
    truncate(text)
}

/// A string cut to about 60 characters (on a char boundary), with `…` when cut.
pub(crate) fn truncate(text: String) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Parses a decimal written as text: `12.50`, `-3`, `+7`, `1e3`. No float is involved.
pub(crate) fn parse_decimal_str(text: &str) -> Option<Decimal> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() {
        return None;
    }
    Decimal::from_str(t).ok().or_else(|| {
        if t.contains(['e', 'E']) {
            Decimal::from_scientific(t).ok()
        } else {
            None
        }
    })
}

/// A JSON number or numeric string as an exact decimal. A JSON float goes through its shortest
/// textual form (`0.1` stays `0.1`), never through f64 arithmetic.
pub(crate) fn to_decimal(value: &Value) -> Result<Decimal, String> {
    let parsed = match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(Decimal::from(i)),
            None => match n.as_u64() {
                Some(u) => Some(Decimal::from(u)),
                None => parse_decimal_str(&n.to_string()),
            },
        },
        Value::String(s) => parse_decimal_str(s),
        _ => None,
    };
    parsed.ok_or_else(|| format!("not a decimal number: {}", show(value)))
}

/// Whether a value counts as empty for `default` and `required`: missing, null or `""`.
pub(crate) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Reads a boolean: JSON booleans, 1/0, and true/false, yes/no, y/n, 是/否 (any case).
pub(crate) fn to_bool(value: &Value) -> Result<bool, String> {
    let bad = || format!("not a yes/no value: {}", show(value));
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(bad()),
        },
        Value::String(s) => {
            let t = s.trim();
            for (word, meaning) in BOOL_WORDS {
                if t.eq_ignore_ascii_case(word) {
                    return Ok(*meaning);
                }
            }
            Err(bad())
        }
        _ => Err(bad()),
    }
}

const BOOL_WORDS: &[(&str, bool)] = &[
    ("true", true),
    ("false", false),
    ("1", true),
    ("0", false),
    ("yes", true),
    ("no", false),
    ("y", true),
    ("n", false),
    ("是", true),
    ("否", false),
];

/// A point in time or a calendar day, between the `date` step and type normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Temporal {
    /// An instant.
    Instant(DateTime<Utc>),
    /// A calendar day with no time of day.
    Day(NaiveDate),
}

impl Temporal {
    /// As an instant: a day is its midnight in `zone`.
    pub(crate) fn instant(self, zone: Tz) -> Result<DateTime<Utc>, String> {
        match self {
            Temporal::Instant(t) => Ok(t),
            Temporal::Day(d) => local_to_utc(d.and_time(NaiveTime::MIN), zone),
        }
    }

    /// As a calendar day: an instant's day is taken in `zone`.
    pub(crate) fn day(self, zone: Tz) -> NaiveDate {
        match self {
            Temporal::Instant(t) => t.with_timezone(&zone).date_naive(),
            Temporal::Day(d) => d,
        }
    }
}

/// RFC 3339 in UTC with a `Z`, fractional seconds only when there are some.
pub(crate) fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `YYYY-MM-DD`.
pub(crate) fn format_day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn local_to_utc(naive: NaiveDateTime, zone: Tz) -> Result<DateTime<Utc>, String> {
    // In a DST overlap take the earlier instant; a time in a DST gap does not exist.
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{naive} does not exist in time zone {zone}"))
}

/// Reads a date or time. With `format`, the text must match that strftime format (with or
/// without a time of day, with or without an offset). Without, RFC 3339, `YYYY-MM-DD`,
/// `YYYY-MM-DD HH:MM[:SS[.f]]` (also with `T`) and Unix seconds (a JSON number) are accepted.
/// Values without an offset are read in `zone`.
pub(crate) fn parse_temporal(
    value: &Value,
    format: Option<&str>,
    zone: Tz,
) -> Result<Temporal, String> {
    let bad = || match format {
        Some(f) => format!("not a date/time in format `{f}`: {}", show(value)),
        None => format!(
            "not a date/time (RFC 3339, YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or Unix seconds): {}",
            show(value)
        ),
    };
    match value {
        Value::Number(n) => {
            let secs = n.as_i64().ok_or_else(bad)?;
            DateTime::from_timestamp(secs, 0)
                .map(Temporal::Instant)
                .ok_or_else(bad)
        }
        Value::String(s) => {
            let s = s.trim();
            match format {
                Some(f) => parse_with_format(s, f, zone).ok_or_else(bad)?,
                None => parse_default(s, zone).ok_or_else(bad)?,
            }
        }
        _ => Err(bad()),
    }
}

fn parse_with_format(s: &str, f: &str, zone: Tz) -> Option<Result<Temporal, String>> {
    if let Ok(t) = DateTime::parse_from_str(s, f) {
        return Some(Ok(Temporal::Instant(t.with_timezone(&Utc))));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
        return Some(local_to_utc(n, zone).map(Temporal::Instant));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, f) {
        return Some(Ok(Temporal::Day(d)));
    }
    None
}

fn parse_default(s: &str, zone: Tz) -> Option<Result<Temporal, String>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(Ok(Temporal::Instant(t.with_timezone(&Utc))));
    }
    if s.len() == 10
        && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
    {
        return Some(Ok(Temporal::Day(d)));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(local_to_utc(n, zone).map(Temporal::Instant));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_come_from_text_not_floats() {
        assert_eq!(to_decimal(&json!(0.1)).unwrap().to_string(), "0.1");
        assert_eq!(to_decimal(&json!(1234.5)).unwrap().to_string(), "1234.5");
        assert_eq!(to_decimal(&json!("  12.50 ")).unwrap().to_string(), "12.50");
        assert_eq!(to_decimal(&json!("+7")).unwrap().to_string(), "7");
        assert_eq!(to_decimal(&json!("1e3")).unwrap(), Decimal::from(1000));
        assert_eq!(
            to_decimal(&json!(u64::MAX)).unwrap().to_string(),
            u64::MAX.to_string()
        );
        assert!(to_decimal(&json!("12,5")).is_err());
        assert!(to_decimal(&json!(true)).is_err());
    }

    #[test]
    fn booleans_in_many_spellings() {
        for yes in [
            json!(true),
            json!(1),
            json!("yes"),
            json!("Y"),
            json!("是"),
            json!("TRUE"),
        ] {
            assert!(to_bool(&yes).unwrap(), "{yes}");
        }
        for no in [
            json!(false),
            json!(0),
            json!("no"),
            json!("n"),
            json!("否"),
            json!("0"),
        ] {
            assert!(!to_bool(&no).unwrap(), "{no}");
        }
        assert!(to_bool(&json!("maybe")).is_err());
        assert!(to_bool(&json!(2)).is_err());
    }

    #[test]
    fn default_date_parsing() {
        let utc = chrono_tz::UTC;
        let at = |v: Value| {
            parse_temporal(&v, None, utc)
                .unwrap()
                .instant(utc)
                .map(format_instant)
                .unwrap()
        };
        assert_eq!(
            at(json!("2024-03-01T16:00:00+08:00")),
            "2024-03-01T08:00:00Z"
        );
        assert_eq!(at(json!("2024-03-01 08:00:00")), "2024-03-01T08:00:00Z");
        assert_eq!(at(json!("2024-03-01")), "2024-03-01T00:00:00Z");
        assert_eq!(at(json!(1_709_280_000)), "2024-03-01T08:00:00Z");
        let sh = chrono_tz::Asia::Shanghai;
        let t = parse_temporal(&json!("2024-03-01 16:00:00"), None, sh).unwrap();
        assert_eq!(
            format_instant(t.instant(sh).unwrap()),
            "2024-03-01T08:00:00Z"
        );
        assert!(parse_temporal(&json!("yesterday"), None, utc).is_err());
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(100);
        let shown = show(&json!(long));
        assert_eq!(shown.chars().count(), 61);
        assert!(shown.ends_with('…'));
        assert_eq!(show(&json!("foo@")), "\"foo@\"");
    }
}
