//! OData v2 JSON values: `/Date(ms)/` dates, `PT10H30M00S` times, decimals as strings, and
//! the timestamp ETag.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::Value;

use super::catalog::Kind;

/// `Edm.DateTime`: `/Date(1130112000000)/`.
pub fn date(at: DateTime<Utc>) -> String {
    format!("/Date({})/", at.timestamp_millis())
}

/// `Edm.DateTimeOffset`: `/Date(1130168212000+0000)/`.
pub fn stamp(at: DateTime<Utc>) -> String {
    format!("/Date({}+0000)/", at.timestamp_millis())
}

/// Midnight of `at`'s day, as `Edm.DateTime`.
pub fn day(at: DateTime<Utc>) -> String {
    date(at.date_naive().and_time(chrono::NaiveTime::MIN).and_utc())
}

/// `Edm.Time` of `at`: `PT10H30M00S`.
pub fn time(at: DateTime<Utc>) -> String {
    format!("PT{:02}H{:02}M{:02}S", at.hour(), at.minute(), at.second())
}

/// Milliseconds of a `/Date(ms)/` or `/Date(ms+0000)/` value.
pub fn millis(text: &str) -> Option<i64> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let end = inner[1..].find(['+', '-']).map_or(inner.len(), |i| i + 1);
    // `/Date(ms+0060)/`: the offset (minutes) is informational; ms is UTC already.
    let (ms, offset) = inner.split_at(end);
    if !offset.is_empty() {
        offset[1..].parse::<u32>().ok()?;
    }
    ms.parse().ok()
}

/// An ISO date-time as Gateway accepts it in payloads and literals:
/// `2024-06-01T00:00:00`, with optional fraction and `Z`/offset.
pub fn iso_millis(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis()
    })
}

/// Seconds since midnight of `PT10H30M00S`.
pub fn time_seconds(text: &str) -> Option<i64> {
    let rest = text.strip_prefix("PT")?;
    let (h, rest) = rest.split_once('H')?;
    let (m, rest) = rest.split_once('M')?;
    let s = rest.strip_suffix('S')?;
    Some(h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60 + s.parse::<i64>().ok()?)
}

/// A decimal written with `scale` places: `2656.24`.
pub fn decimal(value: f64, scale: usize) -> String {
    format!("{value:.scale$}")
}

/// A client's value for a property of `kind`, in the form the store keeps (the JSON form);
/// `None` when Gateway would fail to read it.
pub fn accept(kind: Kind, value: &Value) -> Option<Value> {
    match (kind, value) {
        (_, Value::Null) => Some(Value::Null),
        (Kind::Str, Value::String(_)) | (Kind::Bool, Value::Bool(_)) => Some(value.clone()),
        // Edm.Decimal travels as a string; a JSON number is refused as Gateway does.
        (Kind::Dec, Value::String(s)) => s.trim().parse::<f64>().ok().map(|_| value.clone()),
        (Kind::Date | Kind::Stamp, Value::String(s)) => {
            let ms = millis(s).or_else(|| iso_millis(s))?;
            let at = DateTime::from_timestamp_millis(ms)?;
            Some(Value::String(if kind == Kind::Date {
                date(at)
            } else {
                stamp(at)
            }))
        }
        (Kind::Time, Value::String(s)) => time_seconds(s).map(|_| value.clone()),
        _ => None,
    }
}

/// The ETag of a record changed at `at`, revision `rev`: SAP's weak timestamp ETag with
/// seven fraction digits. The double's clock has whole seconds, so the revision fills the
/// sub-millisecond digits: two changes within one second still differ (see the README).
pub fn etag(at: DateTime<Utc>, rev: u64) -> String {
    let when = at.format("%Y-%m-%dT%H%%3A%M%%3A%S");
    format!("W/\"datetimeoffset'{when}.000{:04}Z'\"", rev % 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_both_forms_and_etags_escape_colons() {
        assert_eq!(millis("/Date(1130168212000+0000)/"), Some(1130168212000));
        assert_eq!(millis("/Date(1130112000000)/"), Some(1130112000000));
        assert_eq!(millis("/Date(-1000)/"), Some(-1000));
        assert_eq!(iso_millis("2024-06-01T00:00:00"), Some(1717200000000));
        let at = DateTime::from_timestamp(1130168212, 0).unwrap();
        assert_eq!(
            etag(at, 3),
            "W/\"datetimeoffset'2005-10-24T15%3A36%3A52.0000003Z'\""
        );
        assert_eq!(time(at), "PT15H36M52S");
        assert_eq!(time_seconds("PT15H36M52S"), Some(56212));
    }
}
