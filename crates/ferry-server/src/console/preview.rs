//! The mapping preview: pick a flow, paste one source record, see the mapped fields or the
//! validation error the pipeline would dead-letter it with. Nothing is read or written
//! ([`ferry_engine::Flow::preview`]), so viewers may use it.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use ferry_model::Record;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::session::Session;
use super::{ConsoleError, Nav, page};
use crate::AppState;
use crate::error::ApiError;

#[derive(askama::Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    nav: Nav,
    /// Flow names, and whether each is the one picked.
    flows: Vec<(String, bool)>,
    record: String,
    /// The mapped fields, each with its value as JSON text.
    mapped: Option<Vec<(String, String)>>,
    /// Why the record does not map: `(field, reason)`, or the input's problem.
    error: Option<(String, String)>,
    /// The record box's height.
    rows: usize,
}

/// The flow picked by a link (`?flow=`).
#[derive(Debug, Deserialize)]
pub struct Pick {
    #[serde(default)]
    flow: String,
}

const EXAMPLE: &str = "{\n  \"id\": \"1\",\n  \"fields\": {\n  }\n}";

/// `GET /console/preview`.
pub async fn form(
    State(state): State<AppState>,
    session: Session,
    Query(pick): Query<Pick>,
) -> Result<Response, ConsoleError> {
    page(&PreviewPage {
        nav: Nav::new(&session, "preview"),
        flows: super::options(&state, &pick.flow),
        record: EXAMPLE.into(),
        rows: super::rows(EXAMPLE),
        mapped: None,
        error: None,
    })
}

/// The preview form's fields.
#[derive(Debug, Deserialize)]
pub struct PreviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    record: String,
}

/// `POST /console/preview`: maps the pasted record and shows the result on the same page
/// (there is nothing to redirect to: nothing changed).
pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<PreviewForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    let flow = state.engine.flow(&form.flow).map_err(ApiError::from)?;
    let (mapped, error) = match parse_record(&form.record) {
        Err(reason) => (None, Some(("record".to_owned(), reason))),
        Ok(record) => match flow.preview(&record) {
            Ok(fields) => (Some(shown(fields)), None),
            Err(e) => (None, Some((e.field, e.reason))),
        },
    };
    page(&PreviewPage {
        nav: Nav::new(&session, "preview"),
        flows: super::options(&state, &form.flow),
        rows: super::rows(&form.record),
        record: form.record,
        mapped,
        error,
    })
}

/// A pasted record: `{"id": …, "fields": {…}}` as dead letters show it, or just the fields
/// (then its id is `preview`).
fn parse_record(text: &str) -> Result<Record, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    match value {
        Value::Object(ref map) if map.get("fields").is_some_and(Value::is_object) => {
            serde_json::from_value(value)
                .map_err(|e| format!("not a record ({{\"id\", \"fields\"}}): {e}"))
        }
        Value::Object(fields) => Ok(Record::new("preview", fields)),
        _ => Err("a record is a JSON object".into()),
    }
}

fn shown(fields: Map<String, Value>) -> Vec<(String, String)> {
    fields
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_pasted_whole_or_as_fields() {
        let whole = parse_record(r#"{"id": "7", "fields": {"name": "客户一"}}"#).unwrap();
        assert_eq!(whole.id, "7");
        assert_eq!(whole.fields["name"], "客户一");
        let bare = parse_record(r#"{"name": "Ada"}"#).unwrap();
        assert_eq!(bare.id, "preview");
        assert!(parse_record("[1]").is_err());
        assert!(parse_record("{").unwrap_err().contains("not valid JSON"));
    }
}
