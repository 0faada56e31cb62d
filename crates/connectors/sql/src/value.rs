//! Typed SQL values: what a row cell decodes into, what the cursor keeps, and what the sink
//! binds, plus the conversions between them and canonical JSON.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a column's values are read and written, from its declared type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColClass {
    Int,
    Float,
    /// NUMERIC/DECIMAL with its declared scale when known.
    Decimal(Option<u32>),
    Bool,
    Text,
    Date,
    Time,
    /// Timestamp without time zone (`timestamp`, MySQL `datetime`), taken as UTC.
    Timestamp,
    /// Timestamp with time zone (PostgreSQL `timestamptz`, MySQL `timestamp`).
    TimestampTz,
    Json,
    Bytes,
    /// Anything else (PostgreSQL uuid, enums…): written as text with a cast to this type.
    Other(String),
}

/// One typed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum Val {
    Null,
    /// A NULL bound for a column of this class (PostgreSQL types its parameters).
    NullAs(ColClass),
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Dec(Decimal),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    Ts(DateTime<Utc>),
    NaiveTs(NaiveDateTime),
    Json(Value),
}

impl Val {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null | Val::NullAs(_))
    }

    /// The value as an id string (`Record.id`, line parents).
    pub fn to_id_string(&self) -> String {
        match self {
            Val::Null | Val::NullAs(_) => String::new(),
            Val::Text(s) => s.clone(),
            Val::Bytes(b) => String::from_utf8(b.clone()).unwrap_or_else(|_| hex::encode(b)),
            other => match other.to_json(None) {
                Value::String(s) => s,
                v => v.to_string(),
            },
        }
    }

    /// Text content, for metadata queries (MySQL may answer in binary strings).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Val::Text(s) => Some(s.clone()),
            Val::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Val::Null | Val::NullAs(_) => None,
            other => Some(other.to_id_string()),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::UInt(u) => i64::try_from(*u).ok(),
            Val::Bool(b) => Some(i64::from(*b)),
            Val::Text(s) => s.trim().parse().ok(),
            Val::Dec(d) => d.to_string().parse().ok(),
            Val::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// Canonical JSON, interpreted against the column's declared class when known (SQLite
    /// stores by value, so its declared type says what an integer or a real means).
    pub fn to_json(&self, class: Option<&ColClass>) -> Value {
        match (self, class) {
            (Val::Null | Val::NullAs(_), _) => Value::Null,
            (Val::Int(i), Some(ColClass::Bool)) => Value::Bool(*i != 0),
            (Val::Int(i), Some(ColClass::Decimal(scale))) => {
                Value::String(with_scale(Decimal::from(*i), *scale))
            }
            (Val::Float(f), Some(ColClass::Decimal(scale))) => {
                match Decimal::from_str(&f.to_string()) {
                    Ok(d) => Value::String(with_scale(d, *scale)),
                    Err(_) => float_json(*f),
                }
            }
            (Val::Text(s), Some(ColClass::Decimal(scale))) => match Decimal::from_str(s.trim()) {
                Ok(d) => Value::String(with_scale(d, *scale)),
                Err(_) => Value::String(s.clone()),
            },
            (
                Val::Int(_) | Val::Float(_) | Val::Text(_),
                Some(ColClass::Timestamp | ColClass::TimestampTz),
            ) => match self.to_datetime() {
                Some(t) => Value::String(rfc3339(t)),
                None => self.to_json(None),
            },
            (Val::Text(s), Some(ColClass::Json)) => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
            }
            (Val::Bool(b), _) => Value::Bool(*b),
            (Val::Int(i), _) => Value::from(*i),
            (Val::UInt(u), _) => Value::from(*u),
            (Val::Float(f), _) => float_json(*f),
            (Val::Dec(d), _) => Value::String(d.to_string()),
            (Val::Text(s), _) => Value::String(s.clone()),
            (Val::Bytes(b), _) => Value::String(hex::encode(b)),
            (Val::Date(d), _) => Value::String(d.format("%Y-%m-%d").to_string()),
            (Val::Time(t), _) => Value::String(t.format("%H:%M:%S%.f").to_string()),
            (Val::Ts(t), _) => Value::String(rfc3339(*t)),
            (Val::NaiveTs(t), _) => Value::String(rfc3339(t.and_utc())),
            (Val::Json(v), _) => v.clone(),
        }
    }

    /// [`Val::to_json`] of an owned value: text moves into the JSON string instead of being
    /// copied (the common case of a row read into a record).
    pub fn into_json(self, class: Option<&ColClass>) -> Value {
        match (self, class) {
            (Val::Text(s), None | Some(ColClass::Text | ColClass::Other(_))) => Value::String(s),
            (other, class) => other.to_json(class),
        }
    }

    /// The instant this value names, if it is a timestamp (or ISO text / epoch number).
    pub fn to_datetime(&self) -> Option<DateTime<Utc>> {
        match self {
            Val::Ts(t) => Some(*t),
            Val::NaiveTs(t) => Some(t.and_utc()),
            Val::Date(d) => Some(d.and_hms_opt(0, 0, 0)?.and_utc()),
            Val::Text(s) => parse_datetime(s),
            Val::Int(i) => epoch(*i),
            Val::Float(f) => DateTime::from_timestamp_millis((*f * 1000.0) as i64),
            _ => None,
        }
    }

    /// This watermark value moved back by `overlap`, in the same representation (so the
    /// comparison in SQL stays between like values). `None` when it is not a timestamp.
    pub fn minus(&self, overlap: TimeDelta) -> Option<Val> {
        Some(match self {
            Val::Ts(t) => Val::Ts(*t - overlap),
            Val::NaiveTs(t) => Val::NaiveTs(*t - overlap),
            Val::Date(d) => Val::Date((d.and_hms_opt(0, 0, 0)? - overlap).date()),
            Val::Int(i) if i.abs() >= MILLIS_THRESHOLD => Val::Int(i - overlap.num_milliseconds()),
            Val::Int(i) => Val::Int(i - ceil_secs(overlap)),
            Val::Float(f) => Val::Float(f - overlap.as_seconds_f64()),
            Val::Text(s) => Val::Text(text_minus(s, overlap)?),
            _ => return None,
        })
    }
}

const MILLIS_THRESHOLD: i64 = 100_000_000_000;

fn ceil_secs(d: TimeDelta) -> i64 {
    let s = d.num_seconds();
    if d.subsec_nanos() > 0 { s + 1 } else { s }
}

fn epoch(i: i64) -> Option<DateTime<Utc>> {
    if i.abs() >= MILLIS_THRESHOLD {
        DateTime::from_timestamp_millis(i)
    } else {
        DateTime::from_timestamp(i, 0)
    }
}

fn float_json(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn with_scale(mut d: Decimal, scale: Option<u32>) -> String {
    if let Some(scale) = scale
        && d.scale() < scale
    {
        d.rescale(scale);
    }
    d.to_string()
}

/// RFC 3339 in UTC with `Z`, sub-seconds only when present.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` (taken as UTC) or a bare date.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    // Only text with a zone after the time can parse with one; skipping those attempts keeps
    // the common zone-less column (read on every row of a watermark scan) to one parse.
    let zoned = s
        .get(19..)
        .is_some_and(|rest| rest.contains(['+', '-', 'Z', 'z']));
    if zoned {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&Utc));
        }
        for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
            if let Ok(t) = DateTime::parse_from_str(s, fmt) {
                return Some(t.with_timezone(&Utc));
            }
        }
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| Some(d.and_hms_opt(0, 0, 0)?.and_utc()))
}

/// Moves an ISO-8601 text timestamp back, keeping its exact layout (separator, fraction
/// digits, zone suffix) so that SQLite's text comparison stays meaningful.
fn text_minus(s: &str, overlap: TimeDelta) -> Option<String> {
    let t = parse_datetime(s)? - overlap;
    let s = s.trim();
    if s.len() == 10 {
        return Some(t.format("%Y-%m-%d").to_string());
    }
    let sep = if s.as_bytes().get(10) == Some(&b'T') {
        "T"
    } else {
        " "
    };
    let rest = &s[s.len().min(19)..];
    let digits = rest
        .strip_prefix('.')
        .map(|r| r.bytes().take_while(u8::is_ascii_digit).count())
        .unwrap_or(0);
    let after_fraction = if digits > 0 {
        &rest[1 + digits..]
    } else {
        rest
    };
    let suffix = match after_fraction {
        "" => "",
        "Z" => "Z",
        z if z.starts_with('+') || z.starts_with('-') => "+00:00",
        _ => return None,
    };
    // Time-zone offsets other than UTC would need the offset kept; convert to UTC only when
    // the source already wrote UTC.
    if !suffix.is_empty() && after_fraction != "Z" && after_fraction != "+00:00" {
        return None;
    }
    let minutes = if s.len() == 16 { "%H:%M" } else { "%H:%M:%S" };
    let mut out = t.format(&format!("%Y-%m-%d{sep}{minutes}")).to_string();
    if digits > 0 {
        let nanos = format!("{:09}", t.timestamp_subsec_nanos());
        out.push('.');
        out.push_str(&nanos[..digits.min(9)]);
    }
    out.push_str(suffix);
    Some(out)
}

/// Converts a canonical JSON value into a value the column accepts. `Err` says why not.
pub fn coerce(value: &Value, class: &ColClass) -> Result<Val, String> {
    if value.is_null() {
        return Ok(Val::NullAs(class.clone()));
    }
    let text = || match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let bad = |what: &str| format!("`{}` is not {what}", short(&text()));
    Ok(match class {
        ColClass::Int => match value {
            Value::Number(n) if n.is_i64() => Val::Int(n.as_i64().unwrap_or_default()),
            Value::Number(n) if n.is_u64() => Val::UInt(n.as_u64().unwrap_or_default()),
            Value::Bool(b) => Val::Int(i64::from(*b)),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Val::Int(i),
                Err(_) => match Decimal::from_str(s.trim()) {
                    Ok(d) if d.fract().is_zero() => Val::Int(
                        d.trunc()
                            .to_string()
                            .parse()
                            .map_err(|_| bad("an integer"))?,
                    ),
                    _ => return Err(bad("an integer")),
                },
            },
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Val::Int(f as i64),
                _ => return Err(bad("an integer")),
            },
            _ => return Err(bad("an integer")),
        },
        ColClass::Float => match value {
            Value::Number(n) => Val::Float(n.as_f64().ok_or_else(|| bad("a number"))?),
            Value::String(s) => Val::Float(s.trim().parse().map_err(|_| bad("a number"))?),
            _ => return Err(bad("a number")),
        },
        ColClass::Decimal(_) => match value {
            Value::Number(_) | Value::String(_) => {
                let t = text();
                let t = t.trim();
                Val::Dec(
                    Decimal::from_str(t)
                        .or_else(|_| Decimal::from_scientific(t))
                        .map_err(|_| bad("a decimal number"))?,
                )
            }
            _ => return Err(bad("a decimal number")),
        },
        ColClass::Bool => match value {
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Bool(n.as_f64() != Some(0.0)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" => Val::Bool(true),
                "false" | "f" | "no" | "n" | "0" | "" => Val::Bool(false),
                _ => return Err(bad("a boolean")),
            },
            _ => return Err(bad("a boolean")),
        },
        ColClass::Text | ColClass::Other(_) => Val::Text(text()),
        ColClass::Date => {
            let t = text();
            match NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d") {
                Ok(d) => Val::Date(d),
                Err(_) => Val::Date(
                    parse_datetime(&t)
                        .ok_or_else(|| bad("a date"))?
                        .date_naive(),
                ),
            }
        }
        ColClass::Time => {
            let t = text();
            Val::Time(
                NaiveTime::parse_from_str(t.trim(), "%H:%M:%S%.f").map_err(|_| bad("a time"))?,
            )
        }
        ColClass::Timestamp => match value {
            Value::Number(n) => Val::NaiveTs(
                epoch(n.as_i64().ok_or_else(|| bad("a timestamp"))?)
                    .ok_or_else(|| bad("a timestamp"))?
                    .naive_utc(),
            ),
            _ => Val::NaiveTs(
                parse_datetime(&text())
                    .ok_or_else(|| bad("a timestamp"))?
                    .naive_utc(),
            ),
        },
        ColClass::TimestampTz => match value {
            Value::Number(n) => Val::Ts(
                epoch(n.as_i64().ok_or_else(|| bad("a timestamp"))?)
                    .ok_or_else(|| bad("a timestamp"))?,
            ),
            _ => Val::Ts(parse_datetime(&text()).ok_or_else(|| bad("a timestamp"))?),
        },
        ColClass::Json => Val::Json(value.clone()),
        ColClass::Bytes => match value {
            Value::String(s) => {
                Val::Bytes(hex::decode(s).unwrap_or_else(|_| s.as_bytes().to_vec()))
            }
            other => Val::Bytes(other.to_string().into_bytes()),
        },
    })
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Parses an id given as text into the id column's type.
pub fn id_from_str(s: &str, class: &ColClass) -> Val {
    match class {
        ColClass::Int => s
            .trim()
            .parse()
            .map(Val::Int)
            .unwrap_or_else(|_| Val::Text(s.to_owned())),
        ColClass::Decimal(_) => Decimal::from_str(s.trim())
            .map(Val::Dec)
            .unwrap_or_else(|_| Val::Text(s.to_owned())),
        _ => Val::Text(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zoned text parses with its offset, zone-less text as UTC, whatever the layout; text
    /// that is no timestamp is none.
    #[test]
    fn timestamps_parse_with_and_without_a_zone() {
        let at = |s: &str| parse_datetime(s).map(rfc3339);
        assert_eq!(
            at("2024-05-01T12:00:00+02:00").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            at("2024-05-01T12:00:00Z").as_deref(),
            Some("2024-05-01T12:00:00Z")
        );
        assert_eq!(
            at("2024-05-01 12:00:00.5-05").as_deref(),
            Some("2024-05-01T17:00:00.500Z")
        );
        assert_eq!(
            at("2024-05-01 12:00:00+0800").as_deref(),
            Some("2024-05-01T04:00:00Z")
        );
        assert_eq!(
            at(" 2024-05-01 12:00:00 ").as_deref(),
            Some("2024-05-01T12:00:00Z")
        );
        assert_eq!(
            at("2024-05-01T12:00:00.25").as_deref(),
            Some("2024-05-01T12:00:00.250Z")
        );
        assert_eq!(
            at("2024-05-01 12:00").as_deref(),
            Some("2024-05-01T12:00:00Z")
        );
        assert_eq!(at("2024-05-01").as_deref(), Some("2024-05-01T00:00:00Z"));
        assert_eq!(at("2024-05-01 12:00:00 tomorrow"), None);
        assert_eq!(at("yesterday"), None);
    }
}
