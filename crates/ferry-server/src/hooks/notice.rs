//! The body of a webhook and the sender's delivery id.
//!
//! A body is one notice or a JSON list of them ([`Notice`], as `POST /sync` takes). A notice
//! may also carry `delivery_id` (text or integer): the sender's id of the delivery, the same
//! on every redelivery. It can come in a header instead ([`DELIVERY_HEADERS`]); a request is
//! one delivery, so every id it carries must be the same.

use axum::http::HeaderMap;
use serde_json::Value;

use crate::api::sync::Notice;

/// Headers that may carry the delivery id: Ferry's own, and the `Idempotency-Key` many
/// senders already set. Unlike an id in the body, a header is not covered by the signature,
/// so its ids must be unguessable (see the module docs of [`super`]).
pub const DELIVERY_HEADERS: [&str; 2] = ["x-ferry-delivery", "idempotency-key"];
/// The notice field that may carry the delivery id (covered by the signature).
pub const DELIVERY_FIELD: &str = "delivery_id";
/// The longest delivery id accepted, in characters.
pub const DELIVERY_ID_MAX: usize = 200;

/// A parsed body.
#[derive(Debug)]
pub struct Body {
    /// The notices, in the order sent.
    pub notices: Vec<Notice>,
    /// The delivery id the notices carry, if any.
    pub delivery_id: Option<String>,
}

/// One notice or a list of them, with the JSON error's line and column when malformed, and
/// the `delivery_id` the notices carry (taken out before each notice is read, so a notice
/// admits no other field than `POST /sync` does).
pub fn parse(body: &[u8]) -> Result<Body, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let list = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        other => {
            return Err(format!(
                "the body must be a notice object or a list of them, not {}",
                kind(&other)
            ));
        }
    };
    let mut out = Body {
        notices: Vec::with_capacity(list.len()),
        delivery_id: None,
    };
    for (n, mut v) in list.into_iter().enumerate() {
        if let Some(id) = v.as_object_mut().and_then(|m| m.remove(DELIVERY_FIELD)) {
            let id = delivery_text(id).map_err(|e| format!("notice {n}: {e}"))?;
            match &out.delivery_id {
                Some(first) if *first != id => {
                    return Err(format!(
                        "notice {n}: `{DELIVERY_FIELD}` is `{id}` but an earlier notice has \
                         `{first}`: a request is one delivery, with one id"
                    ));
                }
                _ => out.delivery_id = Some(id),
            }
        }
        let notice = serde_json::from_value(v).map_err(|e| format!("notice {n}: {e}"))?;
        out.notices.push(notice);
    }
    Ok(out)
}

/// The request's delivery id: from the headers of [`DELIVERY_HEADERS`] and the body's
/// `delivery_id`, which must agree. `Err` says which two differ, or what is wrong with one.
pub fn delivery_id(headers: &HeaderMap, in_body: Option<String>) -> Result<Option<String>, String> {
    let mut found: Option<(String, String)> = None;
    for name in DELIVERY_HEADERS {
        for value in headers.get_all(name) {
            let id = value
                .to_str()
                .map_err(|_| format!("header {name} is not text"))?
                .trim();
            check(id).map_err(|e| format!("header {name}: {e}"))?;
            agree(&mut found, format!("header {name}"), id.to_owned())?;
        }
    }
    if let Some(id) = in_body {
        agree(&mut found, format!("the body's `{DELIVERY_FIELD}`"), id)?;
    }
    Ok(found.map(|(_, id)| id))
}

/// Keeps the first id seen (`found`: where from, the id); another, different one is an error.
fn agree(found: &mut Option<(String, String)>, at: String, id: String) -> Result<(), String> {
    match found {
        Some((first_at, first)) if *first != id => Err(format!(
            "the delivery id is `{first}` in {first_at} but `{id}` in {at}: send one id"
        )),
        Some(_) => Ok(()),
        None => {
            *found = Some((at, id));
            Ok(())
        }
    }
}

/// A body's `delivery_id` as text (an integer is taken as its digits).
fn delivery_text(v: Value) -> Result<String, String> {
    let id = match v {
        Value::String(s) => s,
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        other => {
            return Err(format!(
                "`{DELIVERY_FIELD}` must be a text or an integer, not {}",
                kind(&other)
            ));
        }
    };
    check(&id).map_err(|e| format!("`{DELIVERY_FIELD}`: {e}"))?;
    Ok(id)
}

/// A delivery id is 1 to [`DELIVERY_ID_MAX`] characters with no control character (so it
/// can be shown in an answer and a log as sent).
fn check(id: &str) -> Result<(), String> {
    let len = id.chars().count();
    if id.trim().is_empty() {
        Err("a delivery id must not be empty".into())
    } else if len > DELIVERY_ID_MAX {
        Err(format!(
            "a delivery id has at most {DELIVERY_ID_MAX} characters, not {len}"
        ))
    } else if id.chars().any(char::is_control) {
        Err("a delivery id must not contain control characters".into())
    } else {
        Ok(())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_delivery_id_comes_out_of_the_notices() {
        let body = parse(
            br#"[{"flow": "customers", "id": 1, "delivery_id": "evt-1"},
                               {"flow": "customers", "id": 2, "delivery_id": "evt-1"},
                               {"flow": "customers", "id": 3}]"#,
        )
        .unwrap();
        assert_eq!(body.notices.len(), 3);
        assert_eq!(body.delivery_id.as_deref(), Some("evt-1"));
        let number = parse(br#"{"entity": "customer", "id": "1", "delivery_id": 42}"#).unwrap();
        assert_eq!(number.delivery_id.as_deref(), Some("42"));
        assert_eq!(
            parse(br#"{"entity": "customer", "id": "1"}"#)
                .unwrap()
                .delivery_id,
            None
        );
    }

    #[test]
    fn a_request_carries_one_delivery_id() {
        let two = parse(
            br#"[{"flow": "c", "id": 1, "delivery_id": "a"},
                              {"flow": "c", "id": 2, "delivery_id": "b"}]"#,
        )
        .unwrap_err();
        assert!(
            two.contains("notice 1") && two.contains("one delivery"),
            "{two}"
        );
        for (bad, why) in [
            (
                r#"{"flow": "c", "id": 1, "delivery_id": ""}"#,
                "must not be empty",
            ),
            (
                r#"{"flow": "c", "id": 1, "delivery_id": "a\nb"}"#,
                "control",
            ),
            (
                r#"{"flow": "c", "id": 1, "delivery_id": {"x": 1}}"#,
                "not an object",
            ),
        ] {
            let e = parse(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let long = format!(
            r#"{{"flow": "c", "id": 1, "delivery_id": "{}"}}"#,
            "x".repeat(201)
        );
        assert!(parse(long.as_bytes()).unwrap_err().contains("at most 200"));

        let mut headers = HeaderMap::new();
        headers.insert("x-ferry-delivery", HeaderValue::from_static("evt-1"));
        assert_eq!(
            delivery_id(&headers, Some("evt-1".into())).unwrap(),
            Some("evt-1".into())
        );
        let e = delivery_id(&headers, Some("evt-2".into())).unwrap_err();
        assert!(
            e.contains("`evt-1` in header x-ferry-delivery but `evt-2`"),
            "{e}"
        );
        headers.insert("idempotency-key", HeaderValue::from_static("evt-9"));
        assert!(delivery_id(&headers, None).is_err());
        assert_eq!(delivery_id(&HeaderMap::new(), None).unwrap(), None);
    }
}
