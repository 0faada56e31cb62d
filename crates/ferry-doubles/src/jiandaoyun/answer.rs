//! The Jiandaoyun answer shapes: the endpoint's JSON with HTTP 200 on success, and on
//! failure an HTTP status with `{"code": <int>, "msg": "…"}` (dossier §1–2: errors are
//! "code + error message"). The numeric codes and the texts are guesses except where
//! [`code`] says otherwise; the README lists them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The `code` of each refusal. Only the company-wide throttle code (8303) has a source (a
/// community client, low confidence); every other number is the double's invention.
pub mod code {
    /// Request body or parameter unusable (missing `app_id`, `limit` out of range, bad filter).
    pub const BAD_PARAMETER: i64 = 1003;
    /// No `Authorization: Bearer <key>`, or a key the company does not have.
    pub const INVALID_API_KEY: i64 = 1004;
    /// Not a `POST`.
    pub const METHOD_NOT_ALLOWED: i64 = 1005;
    /// A path the API does not serve.
    pub const NO_SUCH_API: i64 = 1006;
    pub const APP_NOT_FOUND: i64 = 2001;
    pub const FORM_NOT_FOUND: i64 = 3001;
    pub const DATA_NOT_FOUND: i64 = 4001;
    /// A widget's value does not fit its type (text in a number, an unknown member …).
    pub const INVALID_VALUE: i64 = 4002;
    /// A required widget left empty (only when the run enforces required widgets).
    pub const REQUIRED: i64 = 4003;
    /// A `transaction_id` already used by another kind of call or another form.
    pub const TRANSACTION_REUSED: i64 = 4004;
    /// One API's per-second limit reached.
    pub const API_RATE_LIMIT: i64 = 8302;
    /// The company-wide per-second limit reached (the code a community client handles).
    pub const COMPANY_RATE_LIMIT: i64 = 8303;
}

/// A refusal the double answers with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JdyError {
    #[error("请求参数错误：{0}")]
    BadParameter(String),
    #[error("API Key 无效或已被禁用")]
    InvalidApiKey,
    #[error("请求方法错误：开放接口只支持 POST")]
    MethodNotAllowed,
    #[error("接口不存在：{0}")]
    NoSuchApi(String),
    #[error("应用不存在：{0}")]
    AppNotFound(String),
    #[error("表单不存在：{0}")]
    FormNotFound(String),
    #[error("数据不存在：{0}")]
    DataNotFound(String),
    /// `field` names the widget: its label and its key (`订单明细[2].数量 (_widget_…)`).
    #[error("字段“{field}”的值无效：{reason}")]
    InvalidValue { field: String, reason: String },
    #[error("字段“{field}”为必填项")]
    Required { field: String },
    #[error("transaction_id 已被其他请求使用：{0}")]
    TransactionReused(String),
    #[error("接口请求频率超出限制（{0} 次/秒），请稍后重试")]
    ApiRateLimited(u32),
    #[error("团队接口请求频率超出限制（{0} 次/秒），请稍后重试")]
    CompanyRateLimited(u32),
}

impl JdyError {
    /// The `code` of the body.
    pub fn code(&self) -> i64 {
        match self {
            Self::BadParameter(_) => code::BAD_PARAMETER,
            Self::InvalidApiKey => code::INVALID_API_KEY,
            Self::MethodNotAllowed => code::METHOD_NOT_ALLOWED,
            Self::NoSuchApi(_) => code::NO_SUCH_API,
            Self::AppNotFound(_) => code::APP_NOT_FOUND,
            Self::FormNotFound(_) => code::FORM_NOT_FOUND,
            Self::DataNotFound(_) => code::DATA_NOT_FOUND,
            Self::InvalidValue { .. } => code::INVALID_VALUE,
            Self::Required { .. } => code::REQUIRED,
            Self::TransactionReused(_) => code::TRANSACTION_REUSED,
            Self::ApiRateLimited(_) => code::API_RATE_LIMIT,
            Self::CompanyRateLimited(_) => code::COMPANY_RATE_LIMIT,
        }
    }

    /// The HTTP status: 429 for the limits (documented), 401 for the key, 405 and 404 for
    /// the transport, 400 for everything else (a guess).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidApiKey => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NoSuchApi(_) => StatusCode::NOT_FOUND,
            Self::ApiRateLimited(_) | Self::CompanyRateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A bad value of `field` (the widget named by its label and key), for `reason`.
    pub fn invalid(field: String, reason: &str) -> Self {
        Self::InvalidValue {
            field,
            reason: reason.to_owned(),
        }
    }
}

impl IntoResponse for JdyError {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.code(), "msg": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}

/// HTTP 200 with the endpoint's JSON.
pub fn ok(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

/// The answer of an `ErrorInOk` fault: HTTP 200 with `{"code", "msg"}`, the code a number
/// when it reads as one.
pub fn error_in_ok(code: &str, message: &str) -> Response {
    let code = code
        .parse::<i64>()
        .map_or_else(|_| Value::from(code), Value::from);
    ok(json!({ "code": code, "msg": message }))
}
