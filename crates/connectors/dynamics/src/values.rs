//! Canonical values written as the JSON type each column's Edm type wants: decimals and
//! money as JSON numbers (a decimal read from a CRM as text `"12.50"` included), integers
//! as integers, `Edm.DateTimeOffset` as RFC 3339 UTC, `Edm.Date` as `YYYY-MM-DD`. A value
//! that cannot be one is refused with the reason; the caller names the record and field.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Number, Value};

/// `value` as a column of Edm type `edm` takes it, or why it cannot be.
pub fn to_edm(edm: &str, value: &Value) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    match edm {
        "Edm.Decimal" | "Edm.Double" | "Edm.Single" => decimal(value),
        "Edm.Int32" | "Edm.Int64" | "Edm.Int16" | "Edm.Byte" => integer(edm, value),
        "Edm.Boolean" => boolean(value),
        "Edm.DateTimeOffset" => timestamp(value),
        "Edm.Date" => date(value),
        "Edm.String" | "Edm.Guid" => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(_) | Value::Bool(_) => Ok(Value::String(value.to_string())),
            _ => Err(format!("{value} is not text")),
        },
        _ => Ok(value.clone()),
    }
}

fn decimal(value: &Value) -> Result<Value, String> {
    match value {
        Value::Number(_) => Ok(value.clone()),
        Value::String(s) => s
            .trim()
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|_| format!("`{s}` is not a decimal number")),
        _ => Err(format!("{value} is not a decimal number")),
    }
}

fn integer(edm: &str, value: &Value) -> Result<Value, String> {
    let n = match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{value} is not a whole number"))?;
    if edm == "Edm.Int32" && i32::try_from(n).is_err() {
        return Err(format!("{n} does not fit a 32-bit whole number"));
    }
    Ok(Value::from(n))
}

fn boolean(value: &Value) -> Result<Value, String> {
    match value {
        Value::Bool(_) => Ok(value.clone()),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        _ => Err(format!("{value} is not true or false")),
    }
}

fn timestamp(value: &Value) -> Result<Value, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{value} is not a timestamp"))?;
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        let utc = at.with_timezone(&Utc);
        return Ok(Value::String(
            utc.to_rfc3339_opts(SecondsFormat::Secs, true),
        ));
    }
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(|d| Value::String(format!("{d}T00:00:00Z")))
        .map_err(|_| format!("`{text}` is not an RFC 3339 timestamp or a date"))
}

fn date(value: &Value) -> Result<Value, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{value} is not a date"))?;
    let text = text.trim();
    let day = text.get(..10).unwrap_or(text);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|d| Value::String(d.to_string()))
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_take_the_json_type_of_their_edm_type() {
        assert_eq!(to_edm("Edm.Decimal", &json!("12.50")).unwrap(), json!(12.5));
        assert_eq!(to_edm("Edm.Int32", &json!("7")).unwrap(), json!(7));
        assert_eq!(to_edm("Edm.Int32", &json!(7.0)).unwrap(), json!(7));
        assert_eq!(
            to_edm("Edm.DateTimeOffset", &json!("2026-05-01T10:00:00+02:00")).unwrap(),
            json!("2026-05-01T08:00:00Z")
        );
        assert_eq!(
            to_edm("Edm.Date", &json!("2026-05-01T10:00:00Z")).unwrap(),
            json!("2026-05-01")
        );
        assert_eq!(to_edm("Edm.String", &json!(42)).unwrap(), json!("42"));
        assert!(
            to_edm("Edm.Decimal", &json!("12,5x"))
                .unwrap_err()
                .contains("`12,5x`")
        );
        assert!(to_edm("Edm.Int32", &json!(1.5)).is_err());
        assert!(to_edm("Edm.Int32", &json!(5_000_000_000_i64)).is_err());
        assert_eq!(to_edm("Edm.Decimal", &Value::Null).unwrap(), Value::Null);
    }
}
