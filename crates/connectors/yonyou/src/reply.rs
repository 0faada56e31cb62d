//! Yonyou's replies: HTTP 200 whatever happened, with `{"code", "message", "data"}` saying
//! what did.
//!
//! `code` is text (`"200"`) or a number (`200`) depending on the API (correction 1 of the
//! dossier); success is 200, `00000` (lookup, token) and the idempotent replay codes 100004
//! and 10004 (the first write's result). The customer save refuses with the number `0` and
//! `data: null`; `displayCode`/`level` may come on successes too (correction 2) and mean
//! nothing here.
//!
//! [`GatewayCheck`] is the client's [`ReplyCheck`]: it turns the codes that concern the call
//! rather than a record into the kinds the client acts on — 310001/310036 and a bare
//! `非法token` (the token is missing, invalid or expired: renew it once and send again),
//! 310032/310039/310042/310046 (rate limits at system, app, product and API level: back
//! off), 202 and 310504 (an idempotent request still processing, a gateway timeout: send
//! again with the same `resubmitCheckKey`). Every other refusal is left to the caller,
//! which knows which record it is about.

use ferry_kit::http::{ReplyCheck, Response};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::Value;

/// Codes saying the token is missing, invalid or expired.
pub const TOKEN_CODES: [&str; 2] = ["310001", "310036"];
/// Rate-limit codes: system, app, product and API level.
pub const RATE_CODES: [&str; 4] = ["310032", "310039", "310042", "310046"];
/// Codes to send again (with the same idempotency key): still processing, gateway timeout.
pub const AGAIN_CODES: [&str; 2] = ["202", "310504"];
/// Codes of success: 200, the platform's `00000`, and the idempotent replay codes.
pub const OK_CODES: [&str; 4] = ["200", "00000", "100004", "10004"];

/// One reply's envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `code` as text (`""` when there is none).
    pub code: String,
    /// `message` (`""` when there is none).
    pub message: String,
    /// `data` (`null` when there is none).
    pub data: Value,
}

impl Envelope {
    /// The envelope of `reply`.
    pub fn of(reply: Value) -> Self {
        let Value::Object(mut body) = reply else {
            return Self {
                code: String::new(),
                message: String::new(),
                data: reply,
            };
        };
        Self {
            code: body.get("code").and_then(text).unwrap_or_default(),
            message: body.get("message").and_then(text).unwrap_or_default(),
            data: body.remove("data").unwrap_or(Value::Null),
        }
    }

    /// Whether the call succeeded.
    pub fn ok(&self) -> bool {
        OK_CODES.contains(&self.code.as_str())
    }

    /// Yonyou's own words for a refusal: the message, with the code.
    pub fn refusal(&self) -> String {
        match (self.message.is_empty(), self.code.is_empty()) {
            (false, false) => format!("{} (code {})", self.message, self.code),
            (false, true) => self.message.clone(),
            (true, _) => format!("refused without a message (code {})", self.code),
        }
    }
}

/// The kind of a call-level code, if the code is one (see the module docs).
pub fn call_kind(code: &str) -> Option<ErrorKind> {
    if TOKEN_CODES.contains(&code) {
        Some(ErrorKind::Auth)
    } else if RATE_CODES.contains(&code) {
        Some(ErrorKind::RateLimited { retry_after: None })
    } else if AGAIN_CODES.contains(&code) {
        Some(ErrorKind::Retryable)
    } else {
        None
    }
}

/// The client's check of every reply (see the module docs).
#[derive(Debug, Default)]
pub struct GatewayCheck;

impl ReplyCheck for GatewayCheck {
    fn check(&self, reply: &Response) -> Result<(), ConnectorError> {
        let Ok(body) = serde_json::from_slice::<Value>(reply.bytes()) else {
            // Some APIs answer a bare `非法token` as text/plain.
            return if reply.text().trim() == "非法token" {
                Err(ConnectorError::new(ErrorKind::Auth, "非法token"))
            } else {
                Ok(())
            };
        };
        let envelope = Envelope::of(body);
        match call_kind(&envelope.code) {
            Some(kind) => Err(ConnectorError::new(kind, envelope.refusal())),
            None => Ok(()),
        }
    }
}

/// Text, or a number as text (codes and ids come both ways).
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_read_as_text_whichever_way_they_come() {
        let numeric = Envelope::of(json!({"code": 200, "message": "操作成功", "data": []}));
        assert!(numeric.ok());
        let saved = Envelope::of(json!({"code": "200", "success": true, "data": [{"id": 1}]}));
        assert!(saved.ok());
        let replay = Envelope::of(json!({"code": "100004", "message": "幂等", "data": {"id": 7}}));
        assert!(replay.ok());
        let refused =
            Envelope::of(json!({"code": 0, "message": "客户名称不能为空!", "data": null}));
        assert!(!refused.ok(), "the customer save refuses with code 0");
        assert_eq!(refused.refusal(), "客户名称不能为空! (code 0)");
    }

    #[test]
    fn call_level_codes_have_their_kinds() {
        assert_eq!(call_kind("310036"), Some(ErrorKind::Auth));
        assert_eq!(call_kind("310001"), Some(ErrorKind::Auth));
        for code in RATE_CODES {
            assert!(matches!(
                call_kind(code),
                Some(ErrorKind::RateLimited { .. })
            ));
        }
        assert_eq!(call_kind("202"), Some(ErrorKind::Retryable));
        assert_eq!(
            call_kind("999"),
            None,
            "a refusal of the data is the caller's"
        );
    }
}
