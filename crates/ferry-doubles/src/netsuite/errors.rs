//! NetSuite's error body: RFC 9457 problem details with `o:errorDetails`.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A refusal as NetSuite answers it:
/// `{"type": …, "title": "Bad Request", "status": 400, "o:errorDetails": [{"detail": …,
/// "o:errorCode": "USER_ERROR", "o:errorPath": "companyName"}]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsError {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
    /// The field at fault (`o:errorPath`), when there is one.
    pub path: Option<String>,
}

impl NsError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            detail: detail.into(),
            path: None,
        }
    }

    /// The same refusal naming the field at fault.
    #[must_use]
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// 400 `USER_ERROR`: the record's data is refused.
    pub fn user(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "USER_ERROR", detail)
    }

    /// 400 `INVALID_PARAMETER`: the request itself is malformed.
    pub fn parameter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", detail)
    }

    /// 404 `NONEXISTENT_ID`.
    pub fn missing(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NONEXISTENT_ID", detail)
    }

    /// 401 `INVALID_LOGIN_ATTEMPT` (the wording is the dossier's guess).
    pub fn login(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "INVALID_LOGIN_ATTEMPT", detail)
    }

    /// 429 `CONCURRENCY_LIMIT_EXCEEDED`, titled "Bad Request" and without a `type`, as
    /// captured from real accounts (dossier, corrections 1 and 4: no `Retry-After`).
    pub fn concurrency() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Concurrent request limit exceeded. Request blocked.",
        )
    }

    /// The body.
    pub fn body(&self) -> Value {
        let mut detail = json!({"detail": self.detail, "o:errorCode": self.code});
        if let Some(path) = &self.path {
            detail["o:errorPath"] = json!(path);
        }
        let (kind, title) = match self.status.as_u16() {
            400 | 200 => (Some("15.5.1"), "Bad Request"),
            401 => (Some("15.5.2"), "Unauthorized"),
            403 => (Some("15.5.4"), "Forbidden"),
            404 => (Some("15.5.5"), "Not Found"),
            405 => (Some("15.5.6"), "Method Not Allowed"),
            429 => (None, "Bad Request"),
            _ => (Some("15.6.1"), "Internal Server Error"),
        };
        let mut body = json!({"title": title, "status": self.status.as_u16(),
                              "o:errorDetails": [detail]});
        if let Some(section) = kind {
            body["type"] = json!(format!(
                "https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}"
            ));
        }
        body
    }
}

impl IntoResponse for NsError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        response.headers_mut().insert(
            CONTENT_TYPE,
            axum::http::HeaderValue::from_static(
                "application/vnd.oracle.resource+json; type=error",
            ),
        );
        response
    }
}
