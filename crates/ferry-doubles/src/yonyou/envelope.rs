//! The YonBIP answer shell `{"code", "message", "data"}`: success `"200"` (a number on the
//! APIs whose documented examples show one), platform and business errors inside HTTP 200,
//! and the one documented exception, an unregistered path answered HTTP 404.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The success message of business APIs.
pub const OK_MESSAGE: &str = "操作成功";
/// The success code of the gateway lookup and the token endpoint.
pub const AUTH_OK_CODE: &str = "00000";

/// A refusal: the HTTP status (200 for all but an unregistered path or a wrong method), the
/// `code` as the vendor writes it (a string, or a number for the customer save), the
/// message, and whether the body carries `"data": null`.
#[derive(Clone, Debug, PartialEq)]
pub struct YyError {
    pub status: StatusCode,
    pub code: Value,
    pub message: String,
    pub data_null: bool,
}

impl YyError {
    /// An error with a string code inside HTTP 200.
    pub fn coded(code: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            code: code.into(),
            message: message.into(),
            data_null: false,
        }
    }

    /// 310404, HTTP 404: the gateway has no API at `path` (checked before the token).
    pub fn not_registered(path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            ..Self::coded(
                "310404",
                format!("网关上没有注册此API[{path}]，请确认后重新调用"),
            )
        }
    }

    /// 310405, HTTP 405: the API exists with another method.
    pub fn method_not_allowed(method: &str) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            ..Self::coded("310405", format!("请求方法[{method}]不允许"))
        }
    }

    /// 310001: no `access_token` query parameter.
    pub fn token_missing() -> Self {
        Self::coded("310001", "access_token不能为空。")
    }

    /// 310036: a token this double never issued, or one that expired.
    pub fn token_invalid() -> Self {
        Self::coded("310036", "非法token")
    }

    /// 310002: the body is not JSON.
    pub fn body_not_json() -> Self {
        Self::coded("310002", "请求体必须是JSON结构")
    }

    /// 310008: a parameter the API's definition marks required is absent or empty.
    pub fn required(field: &str) -> Self {
        Self::coded("310008", format!("参数校验失败，缺少必填参数[{field}]"))
    }

    /// 310015: a parameter fails its pattern (length) check.
    pub fn pattern(field: &str, rule: &str) -> Self {
        Self::coded(
            "310015",
            format!("参数校验错误，参数[{field}]未通过参数正则匹配：{rule}"),
        )
    }

    /// 310023: a parameter has the wrong JSON type.
    pub fn wrong_type(field: &str, expected: &str) -> Self {
        Self::coded(
            "310023",
            format!("参数类型校验失败，参数[{field}]应为{expected}"),
        )
    }

    /// 999: the usual business refusal.
    pub fn business(message: impl Into<String>) -> Self {
        Self::coded("999", message)
    }

    /// 1002 数据不存在: the record asked for is not there.
    pub fn not_found() -> Self {
        Self::coded("1002", "数据不存在")
    }

    /// The customer save's own refusal: a numeric `code` 0 and `"data": null`.
    pub fn customer_refused(message: impl Into<String>) -> Self {
        Self {
            code: 0.into(),
            data_null: true,
            ..Self::coded("", message)
        }
    }

    /// The body as the vendor writes it.
    pub fn body(&self) -> Value {
        let mut out = Map::new();
        out.insert("code".into(), self.code.clone());
        out.insert("message".into(), self.message.clone().into());
        if self.data_null {
            out.insert("data".into(), Value::Null);
        }
        Value::Object(out)
    }

    pub fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// HTTP 200 with `body`.
pub fn answer(body: Value) -> Response {
    Json(body).into_response()
}

/// The success shell with a string code: `{"code": "200", "message": "操作成功", "data": …}`.
pub fn ok_body(data: Value) -> Value {
    json!({"code": "200", "message": OK_MESSAGE, "data": data})
}

/// The success shell with a numeric code 200, as the customer list's example shows.
pub fn ok_numeric_body(data: Value) -> Value {
    json!({"code": 200, "message": OK_MESSAGE, "data": data})
}

/// A batch operation's result: code 200 even when some rows failed; the counts (official
/// spelling `sucessCount`), the failures' messages and the rows' latest state.
pub fn batch_body(count: usize, messages: Vec<Value>, infos: Vec<Value>) -> Value {
    let failed = messages.len();
    ok_body(json!({
        "count": count,
        "sucessCount": count.saturating_sub(failed),
        "failCount": failed,
        "messages": messages,
        "infos": infos,
    }))
}
