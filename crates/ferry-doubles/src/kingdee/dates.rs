//! Dates as the server writes and reads them: local time of the server's zone, no zone
//! in the text. Answers carry milliseconds (`2024-05-01T10:11:12.000`); stored dates and
//! filter literals may be written in the common shapes (`2024-05-01`,
//! `2024-05-01 10:11:12`, `2024-05-01T10:11:12.5`).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};

/// A store time in the server's local time.
pub fn local(at: DateTime<Utc>, zone: FixedOffset) -> NaiveDateTime {
    at.with_timezone(&zone).naive_local()
}

/// How answers write a date: `yyyy-MM-ddTHH:mm:ss.fff`.
pub fn answer(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

/// How the double stores a date in a record's fields: `yyyy-MM-ddTHH:mm:ss`.
pub fn stored(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A date written by a client, a test or a filter.
pub fn parse(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    for shape in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S%.f",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, shape) {
            return Some(at);
        }
    }
    for shape in ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, shape) {
            return Some(at);
        }
    }
    ["%Y-%m-%d", "%Y/%m/%d"]
        .iter()
        .find_map(|shape| NaiveDate::parse_from_str(text, shape).ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_in_common_shapes_and_answer_with_milliseconds() {
        let at = parse("2024-05-01 10:11:12").unwrap();
        assert_eq!(parse("2024-05-01T10:11:12.000"), Some(at));
        assert_eq!(answer(at), "2024-05-01T10:11:12.000");
        assert_eq!(stored(parse("2024-05-01").unwrap()), "2024-05-01T00:00:00");
        assert_eq!(parse("yesterday"), None);
        let utc: DateTime<Utc> = "2024-04-30T16:00:00Z".parse().unwrap();
        let zone = FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(answer(local(utc, zone)), "2024-05-01T00:00:00.000");
    }
}
