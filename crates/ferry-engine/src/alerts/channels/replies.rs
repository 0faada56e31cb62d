//! Refusals inside HTTP 200 answers: WeCom and DingTalk answer `{"errcode": 310000,
//! "errmsg": "…"}`, Feishu `{"code": 19021, "msg": "…"}`. A code other than 0 is a failure
//! to report; the vendors' "too fast" codes are retried, as a 429 would be.

use ferry_kit::http::{ReplyCheck, Response};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::Value;

/// Where a vendor puts its result code and message, and which codes are worth retrying.
#[derive(Debug)]
pub struct CodeReply {
    vendor: &'static str,
    code: &'static str,
    message: &'static str,
    /// Sending too fast: retried after a backoff.
    rate_limited: &'static [i64],
    /// The vendor busy: retried.
    busy: &'static [i64],
}

/// 企业微信: 45009 is "api freq out of limit" (a robot takes 20 messages a minute); -1 is
/// "system busy".
pub const WECOM: CodeReply = CodeReply {
    vendor: "WeCom",
    code: "errcode",
    message: "errmsg",
    rate_limited: &[45009],
    busy: &[-1],
};

/// 钉钉: 130101 "send too fast, exceed 20 times per minute" and 410100 (发送速度太快而限流);
/// -1 is "system busy".
pub const DINGTALK: CodeReply = CodeReply {
    vendor: "DingTalk",
    code: "errcode",
    message: "errmsg",
    rate_limited: &[130101, 410100],
    busy: &[-1],
};

/// 飞书 / Lark: 11232 is "frequency limited" in an HTTP 200 (a custom bot takes 100 requests
/// a minute, 5 a second). Feishu has also been seen to answer HTTP 400 with code 9499 "too
/// many request": a 400 is reported, not retried, since 9499 is its "Bad Request" too; one
/// message per check keeps Ferry far below those limits.
pub const FEISHU: CodeReply = CodeReply {
    vendor: "Feishu",
    code: "code",
    message: "msg",
    rate_limited: &[11232],
    busy: &[],
};

impl ReplyCheck for CodeReply {
    fn check(&self, reply: &Response) -> Result<(), ConnectorError> {
        // A body that is not the vendor's JSON (a proxy's page) is left to the status.
        let Ok(body) = serde_json::from_slice::<Value>(reply.bytes()) else {
            return Ok(());
        };
        let code = match body.get(self.code).and_then(Value::as_i64) {
            None | Some(0) => return Ok(()),
            Some(code) => code,
        };
        let said = body
            .get(self.message)
            .and_then(Value::as_str)
            .filter(|m| !m.trim().is_empty())
            .unwrap_or("no message");
        let kind = if self.rate_limited.contains(&code) {
            ErrorKind::RateLimited { retry_after: None }
        } else if self.busy.contains(&code) {
            ErrorKind::Retryable
        } else {
            ErrorKind::Validation
        };
        Err(ConnectorError::new(
            kind,
            format!(
                "{} refused the message: {said} ({} {code})",
                self.vendor, self.code
            ),
        ))
    }
}
