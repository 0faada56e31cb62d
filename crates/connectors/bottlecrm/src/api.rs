//! BottleCRM's REST API on top of the shared [`HttpClient`]: list pages (whose records sit
//! at a different place in each object's reply), detail reads, lookups by key, writes whose
//! refusals are turned into messages naming the fields, and the ids in write replies.
//!
//! Retries, the rate limit, the daily quota and credentials are the shared client's; this
//! module only knows BottleCRM's shapes.

use std::fmt;

use ferry_model::{ConnectorError, ErrorKind};
use reqwest::StatusCode;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::config::KeyField;
use crate::objects::Spec;
use ferry_kit::http::{Call, HttpClient, server_message};

/// A record as BottleCRM returns it.
pub type Fields = Map<String, Value>;

/// The largest page a lookup asks for.
const LOOKUP_PAGE: usize = 100;

/// The API of one system.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: HttpClient,
}

/// A write BottleCRM refused for the record's content: its field errors, in its words.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The HTTP status (400, or 409 for a conflict).
    pub status: StatusCode,
    /// `(field, messages)`; the field is empty for an error about the whole record.
    pub errors: Vec<(String, String)>,
}

impl Api {
    /// One page of one segment of an object's list.
    pub async fn list_page(
        &self,
        spec: &Spec,
        segment: usize,
        filter: &[(String, String)],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Fields>, ConnectorError> {
        let part = &spec.segments[segment];
        let mut call = Call::get(spec.path)
            .query("limit", limit)
            .query("offset", offset);
        for (name, value) in filter {
            call = call.query(name, value);
        }
        if let Some((name, value)) = part.query {
            call = call.query(name, value);
        }
        let response = self.http.send(call).await?;
        records_at(response.bytes(), &[part.records]).map_err(|e| {
            ConnectorError::fatal(format!(
                "{}: unexpected reply ({e}): BottleCRM 1.35's list of {} has its records under `{}`",
                response.what(),
                spec.name,
                part.records.join(".")
            ))
        })
    }

    /// The current state of one record; `None` when it does not exist (or is not a
    /// BottleCRM id at all).
    pub async fn detail(&self, spec: &Spec, id: &str) -> Result<Option<Fields>, ConnectorError> {
        if !is_id(id) {
            return Ok(None);
        }
        let response = self
            .http
            .send(Call::get(spec.item_path(id)).accept(StatusCode::NOT_FOUND))
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let reply: Value = response.json()?;
        spec.detail_record(reply).map(Some).ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: unexpected reply: no {} record in it",
                response.what(),
                spec.singular
            ))
        })
    }

    /// The records of `spec` whose key field equals `value` exactly.
    ///
    /// A custom field is matched by BottleCRM itself (`?cf_<key>=value` is an exact JSON
    /// containment test); a plain field goes through the list's substring filter and every
    /// page of candidates is checked here, so `ACME` never matches `ACME Asia`.
    pub async fn lookup(
        &self,
        spec: &Spec,
        key: &KeyField,
        value: &str,
    ) -> Result<Vec<Fields>, ConnectorError> {
        let (param, exact_field) = match key {
            KeyField::Custom(name) => (format!("cf_{name}"), None),
            KeyField::Plain { field, filter } => ((*filter).to_owned(), Some(field.as_str())),
            KeyField::PaymentReference => {
                return Err(ConnectorError::fatal(
                    "payments are looked up on their invoice, not by a list filter",
                ));
            }
        };
        // No segment filter: an account lookup reads the active and the inactive half.
        let paths: Vec<&[&str]> = spec.segments.iter().map(|s| s.records).collect();
        let mut found = Vec::new();
        let mut offset = 0;
        loop {
            let call = Call::get(spec.path)
                .query(&param, value)
                .query("limit", LOOKUP_PAGE)
                .query("offset", offset);
            let response = self.http.send(call).await?;
            let page = records_at(response.bytes(), &paths).map_err(|e| {
                ConnectorError::fatal(format!("{}: unexpected reply ({e})", response.what()))
            })?;
            // Accounts return up to `limit` records per half, so a page is full when either
            // half was.
            let full = page.len() >= LOOKUP_PAGE;
            found.extend(page.into_iter().filter(|record| match exact_field {
                Some(field) => record.get(field).and_then(Value::as_str) == Some(value),
                None => true,
            }));
            if !full {
                return Ok(found);
            }
            offset += LOOKUP_PAGE;
        }
    }

    /// Sends a write; a refusal of the record's content (400, or 409) comes back as
    /// `Ok(Err(refusal))`, every other failure as the outer error.
    pub async fn write(&self, call: Call) -> Result<Result<Value, Refusal>, ConnectorError> {
        let response = self
            .http
            .send(
                call.accept(StatusCode::BAD_REQUEST)
                    .accept(StatusCode::CONFLICT),
            )
            .await?;
        let status = response.status();
        if status.is_success() {
            // Some writes answer with an empty body; that is a success too.
            if response.bytes().iter().all(u8::is_ascii_whitespace) {
                return Ok(Ok(Value::Null));
            }
            return response.json().map(Ok);
        }
        let body: Value = serde_json::from_slice(response.bytes()).unwrap_or(Value::Null);
        let mut errors = field_errors(&body);
        if errors.is_empty() {
            errors.push((String::new(), server_message(response.bytes())));
        }
        for (_, message) in &mut errors {
            *message = self.http.scrub(message);
        }
        Ok(Err(Refusal { status, errors }))
    }
}

impl Refusal {
    /// The error for this refusal: a validation error (a conflict for a 409) naming the
    /// record and each field, with BottleCRM's own messages. `name` turns an API field into
    /// what the message shows (the canonical field it was mapped from, say).
    pub fn error(&self, record: &str, name: impl Fn(&str) -> String) -> ConnectorError {
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|(field, message)| {
                if field.is_empty() {
                    message.clone()
                } else {
                    format!("field {}: {message}", name(field))
                }
            })
            .collect();
        let kind = if self.status == StatusCode::CONFLICT {
            ErrorKind::Conflict
        } else {
            ErrorKind::Validation
        };
        ConnectorError::new(
            kind,
            format!("{record}: BottleCRM refused it: {}", parts.join("; ")),
        )
    }
}

/// The id of the record a create reply talks about: `id` at the top (accounts, contacts,
/// deals) or in the returned record, under the object's singular name (`product`,
/// `invoice`, `payment`, `line_item`; a payment's reply also carries its invoice).
pub fn created_id(reply: &Value, singular: &str) -> Option<String> {
    reply
        .get("id")
        .or_else(|| reply.get(singular)?.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Whether `id` looks like a BottleCRM id (a UUID); anything else cannot exist there.
pub fn is_id(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// BottleCRM's field errors: `{"errors": {"name": ["…"], "custom_fields": {"x": "…"}}}`,
/// `{"errors": "…"}`, or `{"message": "…"}` — flattened to `(field path, message)`.
fn field_errors(body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match body.get("errors") {
        Some(Value::Object(map)) => flatten_errors("", map, &mut out),
        Some(Value::String(s)) => out.push((String::new(), s.clone())),
        Some(Value::Array(items)) => out.push((String::new(), join_messages(items))),
        _ => {}
    }
    out
}

fn flatten_errors(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (field, value) in map {
        // DRF names errors about the whole record `non_field_errors`.
        let path = match (prefix.is_empty(), field.as_str()) {
            (true, "non_field_errors") => String::new(),
            (true, _) => field.clone(),
            (false, _) => format!("{prefix}.{field}"),
        };
        match value {
            Value::Object(inner) => flatten_errors(&path, inner, out),
            Value::Array(items) if items.iter().any(Value::is_object) => {
                // Errors of list items (`line_items`): one object per item, empty when fine.
                for (i, item) in items.iter().enumerate() {
                    if let Value::Object(inner) = item {
                        flatten_errors(&format!("{path}[{}]", i + 1), inner, out);
                    }
                }
            }
            Value::Array(items) => out.push((path, join_messages(items))),
            Value::String(s) => out.push((path, s.clone())),
            other => out.push((path, other.to_string())),
        }
    }
}

fn join_messages(items: &[Value]) -> String {
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The records found at any of `paths` (each a chain of object keys ending at an array of
/// records) in a JSON body, decoded without building the rest of the reply: BottleCRM's
/// lists carry org-wide side lists (every contact's name in the account list, every account
/// in the deal list) that are skipped here rather than held in memory.
pub fn records_at(body: &[u8], paths: &[&[&str]]) -> Result<Vec<Fields>, serde_json::Error> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    PathSeed {
        paths: paths.to_vec(),
        out: &mut out,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// Walks into the reply along `paths`, appending the records found to `out`.
struct PathSeed<'a, 'p> {
    paths: Vec<&'p [&'p str]>,
    out: &'a mut Vec<Fields>,
}

impl<'de> DeserializeSeed<'de> for PathSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.paths.iter().any(|p| p.is_empty()) {
            let records: Vec<Fields> = serde::Deserialize::deserialize(deserializer)?;
            self.out.extend(records);
            Ok(())
        } else {
            deserializer.deserialize_map(self)
        }
    }
}

impl<'de> Visitor<'de> for PathSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let rest: Vec<&[&str]> = self
                .paths
                .iter()
                .filter(|p| p[0] == key)
                .map(|p| &p[1..])
                .collect();
            if rest.is_empty() {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(PathSeed {
                    paths: rest,
                    out: &mut *self.out,
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_are_found_at_their_path_and_side_lists_skipped() {
        let body = json!({
            "per_page": 10,
            "active_accounts": {"offset": null, "open_accounts": [{"id": "a"}, {"id": "b"}]},
            "contacts": [{"id": "x", "first_name": "not a record"}],
            "closed_accounts": {"close_accounts": [{"id": "c"}]}
        })
        .to_string();
        let ids = |paths: &[&[&str]]| -> Vec<String> {
            records_at(body.as_bytes(), paths)
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&[&["active_accounts", "open_accounts"]]), ["a", "b"]);
        assert_eq!(
            ids(&[
                &["active_accounts", "open_accounts"],
                &["closed_accounts", "close_accounts"]
            ]),
            ["a", "b", "c"]
        );
        assert!(ids(&[&["results"]]).is_empty());
        assert!(records_at(b"{\"results\": 5}", &[&["results"]]).is_err());
    }

    #[test]
    fn field_errors_are_flattened_with_their_paths() {
        let body = json!({"error": true, "errors": {
            "name": ["Account already exists with this name"],
            "custom_fields": {"erp_id": "Too long."},
            "line_items": [{}, {"quantity": ["A valid number is required."]}],
            "non_field_errors": ["Contact does not belong to the selected account"]
        }});
        assert_eq!(
            field_errors(&body),
            [
                (
                    "name".to_owned(),
                    "Account already exists with this name".to_owned()
                ),
                ("custom_fields.erp_id".to_owned(), "Too long.".to_owned()),
                (
                    "line_items[2].quantity".to_owned(),
                    "A valid number is required.".to_owned()
                ),
                (
                    String::new(),
                    "Contact does not belong to the selected account".to_owned()
                ),
            ]
        );
        assert_eq!(
            field_errors(&json!({"errors": "no"})),
            [(String::new(), "no".to_owned())]
        );
    }

    #[test]
    fn ids_are_uuids_and_created_ids_are_found() {
        assert!(is_id("6423364e-fd33-4b78-8759-fa60f1a771be"));
        assert!(!is_id("6423364e-fd33-4b78-8759-fa60f1a771b"));
        assert!(!is_id("../accounts/6423364e-fd33-4b78-8759-fa60f1"));
        assert_eq!(
            created_id(&json!({"error": false, "id": "a"}), "account").as_deref(),
            Some("a")
        );
        assert_eq!(
            created_id(&json!({"product": {"id": "p"}}), "product").as_deref(),
            Some("p")
        );
        let payment = json!({"payment": {"id": "p"}, "invoice": {"id": "i"}});
        assert_eq!(created_id(&payment, "payment").as_deref(), Some("p"));
        assert_eq!(created_id(&json!({"message": "ok"}), "account"), None);
    }
}
