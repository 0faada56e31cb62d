//! Tryton's typed JSON values (`{"__class__": "Decimal", "decimal": "24.50"}`, naive-UTC
//! datetimes, dates) to and from plain JSON: decimals as strings (money stays exact), dates
//! `YYYY-MM-DD`, instants RFC 3339 UTC. Writes convert each value to its field's type.

use std::str::FromStr;

use base64::Engine;
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc,
};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

/// A value read from Tryton as plain JSON, recursively.
pub(crate) fn from_tryton(value: Value) -> Value {
    match value {
        Value::Object(map) => match map.get("__class__").and_then(Value::as_str) {
            Some(class) => typed(class, &map).unwrap_or(Value::Object(map)),
            None => Value::Object(map.into_iter().map(|(k, v)| (k, from_tryton(v))).collect()),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(from_tryton).collect()),
        other => other,
    }
}

fn typed(class: &str, map: &Map<String, Value>) -> Option<Value> {
    let int = |k: &str| {
        map.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(match class {
        "Decimal" => Value::String(map.get("decimal")?.as_str()?.to_owned()),
        "datetime" => Value::String(datetime_of(map)?.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        "date" => Value::String(
            NaiveDate::from_ymd_opt(int("year")? as i32, int("month")?, int("day")?)?.to_string(),
        ),
        "time" => Value::String(
            NaiveTime::from_hms_micro_opt(
                int("hour")?,
                int("minute")?,
                int("second")?,
                int("microsecond").unwrap_or(0),
            )?
            .to_string(),
        ),
        "timedelta" => map.get("seconds")?.clone(),
        "bytes" => Value::String(map.get("base64")?.as_str()?.replace('\n', "")),
        _ => return None,
    })
}

/// The instant of a Tryton `datetime` object (naive UTC).
pub(crate) fn datetime_of(map: &Map<String, Value>) -> Option<DateTime<Utc>> {
    let int = |k: &str| {
        map.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let date = NaiveDate::from_ymd_opt(int("year")? as i32, int("month")?, int("day")?)?;
    let time = NaiveTime::from_hms_micro_opt(
        int("hour")?,
        int("minute")?,
        int("second")?,
        int("microsecond").unwrap_or(0),
    )?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// A Tryton `datetime` object for an instant (microsecond precision, as Tryton keeps).
pub(crate) fn tryton_datetime(at: DateTime<Utc>) -> Value {
    let t = at.naive_utc();
    json!({
        "__class__": "datetime",
        "year": t.year(),
        "month": t.month(),
        "day": t.day(),
        "hour": t.hour(),
        "minute": t.minute(),
        "second": t.second(),
        "microsecond": t.nanosecond() / 1000 % 1_000_000,
    })
}

/// `value` converted for a field of Tryton type `ty` (from `fields_get`), or why it
/// cannot be. `null` stays `null` for every type.
pub(crate) fn to_tryton(value: &Value, ty: &str) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let text = || match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match ty {
        "numeric" => {
            let t = text().ok_or_else(|| format!("not a decimal number: {value}"))?;
            let d = Decimal::from_str(&t)
                .or_else(|_| Decimal::from_scientific(&t))
                .map_err(|_| format!("not a decimal number: {value}"))?;
            Ok(json!({"__class__": "Decimal", "decimal": d.to_string()}))
        }
        "float" => {
            let t = text().ok_or_else(|| format!("not a number: {value}"))?;
            let f: f64 = t.parse().map_err(|_| format!("not a number: {value}"))?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| format!("not a finite number: {value}"))
        }
        "integer" | "many2one" => {
            let t = text().ok_or_else(|| format!("not an integer: {value}"))?;
            t.parse::<i64>().map(Value::from).map_err(|_| {
                format!(
                    "not an integer{}: {value}",
                    if ty == "many2one" { " id" } else { "" }
                )
            })
        }
        "boolean" => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Number(n) => Ok(Value::Bool(n.as_f64() != Some(0.0))),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
                "false" | "f" | "no" | "n" | "0" | "" => Ok(Value::Bool(false)),
                _ => Err(format!("not a boolean: {value}")),
            },
            _ => Err(format!("not a boolean: {value}")),
        },
        "date" => {
            let t = text().ok_or_else(|| format!("not a date: {value}"))?;
            let d = NaiveDate::parse_from_str(t.get(..10).unwrap_or(&t), "%Y-%m-%d")
                .map_err(|_| format!("not a date (YYYY-MM-DD): {value}"))?;
            Ok(json!({"__class__": "date", "year": d.year(), "month": d.month(), "day": d.day()}))
        }
        "datetime" | "timestamp" => {
            let t = text().ok_or_else(|| format!("not a date and time: {value}"))?;
            let at = DateTime::parse_from_rfc3339(&t)
                .map(|d| d.to_utc())
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
                })
                .map_err(|_| format!("not a date and time (RFC 3339): {value}"))?;
            Ok(tryton_datetime(at))
        }
        "char" | "text" | "selection" | "reference" => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(_) | Value::Bool(_) => Ok(Value::String(value.to_string())),
            _ => Err(format!("not text: {value}")),
        },
        "binary" => match value {
            Value::String(s) => {
                // Binary values travel as base64 text both ways.
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|_| format!("not base64: {value}"))?;
                Ok(json!({"__class__": "bytes", "base64": s.trim()}))
            }
            _ => Err(format!("not base64 text: {value}")),
        },
        _ => Ok(value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_become_plain_json_and_back() {
        let read = from_tryton(json!({
            "price": {"__class__": "Decimal", "decimal": "24.50"},
            "at": {"__class__": "datetime", "year": 2026, "month": 11, "day": 21, "hour": 23,
                   "minute": 50, "second": 21, "microsecond": 264221},
            "on": {"__class__": "date", "year": 2026, "month": 2, "day": 3},
            "lines.": [{"amount": {"__class__": "Decimal", "decimal": "0.10"}}],
            "qty": 3.5,
        }));
        assert_eq!(
            read,
            json!({"price": "24.50", "at": "2026-11-21T23:50:21.264221Z", "on": "2026-02-03",
                   "lines.": [{"amount": "0.10"}], "qty": 3.5})
        );
        assert_eq!(
            to_tryton(&json!("24.50"), "numeric").unwrap(),
            json!({"__class__": "Decimal", "decimal": "24.50"})
        );
        assert_eq!(
            to_tryton(&json!("2026-11-21T23:50:21.264221+08:00"), "timestamp").unwrap(),
            json!({"__class__": "datetime", "year": 2026, "month": 11, "day": 21, "hour": 15,
                   "minute": 50, "second": 21, "microsecond": 264221})
        );
        assert_eq!(
            to_tryton(&json!("2026-02-03"), "date").unwrap(),
            json!({"__class__": "date", "year": 2026, "month": 2, "day": 3})
        );
        assert_eq!(to_tryton(&json!("7"), "many2one").unwrap(), json!(7));
        assert_eq!(to_tryton(&json!("3"), "float").unwrap(), json!(3.0));
        assert_eq!(to_tryton(&json!(12), "char").unwrap(), json!("12"));
        assert_eq!(to_tryton(&Value::Null, "numeric").unwrap(), Value::Null);
        assert!(
            to_tryton(&json!("ten"), "numeric")
                .unwrap_err()
                .contains("\"ten\"")
        );
        assert!(to_tryton(&json!("x"), "many2one").is_err());
        assert!(to_tryton(&json!("2026-13-01"), "date").is_err());
    }

    #[test]
    fn a_datetime_round_trips_at_microsecond_precision() {
        let at = DateTime::parse_from_rfc3339("2026-11-21T23:50:21.000007Z")
            .unwrap()
            .to_utc();
        let v = tryton_datetime(at);
        assert_eq!(datetime_of(v.as_object().unwrap()), Some(at));
    }
}
