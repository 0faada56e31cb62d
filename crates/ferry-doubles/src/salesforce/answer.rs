//! Salesforce's answer shapes (dossier §5): REST errors are a JSON array
//! `[{"message", "errorCode", "fields"}]` with an HTTP status; inside collection and bulk
//! results the same error carries `statusCode` instead of `errorCode`. Times are answered
//! as `2024-05-02T10:11:12.000+0000`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// One error as Salesforce reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SfError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<String>,
}

impl SfError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// A 400 naming fields.
    pub fn on_fields(code: &'static str, message: impl Into<String>, fields: &[&str]) -> Self {
        Self {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            ..Self::new(StatusCode::BAD_REQUEST, code, message)
        }
    }

    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    pub fn malformed_query(message: impl Into<String>) -> Self {
        Self::bad("MALFORMED_QUERY", message)
    }

    pub fn session_invalid() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    }

    /// The REST shape: `{"message", "errorCode"}` plus `fields` when it names any.
    pub fn rest_json(&self) -> Value {
        let mut body = json!({"message": self.message, "errorCode": self.code});
        if !self.fields.is_empty() {
            body["fields"] = json!(self.fields);
        }
        body
    }

    /// The shape inside collection results: `{"statusCode", "message", "fields"}`.
    pub fn item_json(&self) -> Value {
        json!({"statusCode": self.code, "message": self.message, "fields": self.fields})
    }

    /// The bulk `sf__Error` text: `CODE:message:fields --`.
    pub fn bulk_text(&self) -> String {
        format!(
            "{}:{}:{} --",
            self.code,
            self.message,
            self.fields.join(",")
        )
    }
}

impl IntoResponse for SfError {
    fn into_response(self) -> Response {
        (self.status, Json(json!([self.rest_json()]))).into_response()
    }
}

pub fn json(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// A datetime as Salesforce answers it.
pub fn datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// The answer of an `ErrorInOk` fault. Salesforce reports errors inside HTTP 200 in
/// collection results (per record) and CometD replies; elsewhere the double answers the REST
/// error array with 200, a shape a real org is not documented to send (see the README).
pub fn error_in_ok(path: &str, code: &str, message: &str) -> Response {
    let body = if path.contains("/composite/sobjects") {
        json!([{"success": false, "errors": [{"statusCode": code, "message": message, "fields": []}]}])
    } else if path.starts_with("/cometd") {
        json!([{"channel": "/meta/connect", "successful": false, "error": format!("{code}::{message}")}])
    } else if path.starts_with("/services/oauth2") {
        json!({"error": code, "error_description": message})
    } else {
        json!([{"message": message, "errorCode": code}])
    };
    json(StatusCode::OK, body)
}
