//! The reference double's error body: `{"error": {"code", "message", "details"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::StoreError;

/// One refused field: `field` is a path into the record (`email`, `lines[1].qty`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error the reference double answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// A record refused: the message names the record and every field with its reason.
    pub fn validation(record: &str, details: Vec<FieldError>) -> Self {
        let reasons: Vec<String> = details
            .iter()
            .map(|d| format!("{}: {}", d.field, d.message))
            .collect();
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "VALIDATION_FAILED",
            message: format!("{record}: {}", reasons.join("; ")),
            details,
        }
    }

    /// The `error` object of the body.
    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if !self.details.is_empty() {
            error["details"] = json!(self.details);
        }
        error
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code) = match e {
            StoreError::UnknownObject { .. } | StoreError::NotFound { .. } => {
                (StatusCode::NOT_FOUND, "NOT_FOUND")
            }
            StoreError::DuplicateKey { .. } => (StatusCode::CONFLICT, "DUPLICATE_KEY"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.body() }))).into_response()
    }
}

/// The error-inside-HTTP-200 body: `{"ok": false, "error": {"code", "message"}}`.
pub fn error_in_ok(code: &str, message: &str) -> Response {
    let body = json!({ "ok": false, "error": { "code": code, "message": message } });
    (StatusCode::OK, Json(body)).into_response()
}
