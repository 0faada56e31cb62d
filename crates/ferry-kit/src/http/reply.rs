//! Errors reported inside HTTP 200 bodies.
//!
//! Many APIs answer 200 whatever happened and say in the body whether it worked: Kingdee
//! (`Result.ResponseStatus.IsSuccess: false`, `MsgCode: 1` for a lost session), Yonyou
//! (`{"code": "310036", "message": "非法token"}`), Jiandaoyun (`code` + `msg`). A
//! [`ReplyCheck`] reads every 2xx reply before the caller does and turns such a body into the
//! [`ConnectorError`] it stands for, so that retries, the one credential refresh and
//! per-record refusals work for them as for an API that uses statuses.

use std::fmt;

use ferry_model::config::ConfigIssue;
use ferry_model::{ConnectorError, ErrorKind};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::client::{Response, server_message};

/// Reads a 2xx reply and says whether its body reports an error.
///
/// `Err` with [`ErrorKind::Validation`] (the server's own message) refuses the record;
/// [`ErrorKind::Auth`] makes the client ask [`Auth::refresh`](super::Auth::refresh) once and
/// send again; [`ErrorKind::Retryable`] / [`ErrorKind::RateLimited`] are retried like a 503 /
/// 429. The client puts the request's name in front of the message and scrubs it of secrets.
pub trait ReplyCheck: Send + Sync + fmt::Debug {
    /// `Ok` if `reply` is an answer; the error it reports otherwise.
    fn check(&self, reply: &Response) -> Result<(), ConnectorError>;

    /// The kind of a refusal (a non-2xx `reply`) when its body says more than its status,
    /// e.g. an error code meaning "too many requests at once" sent with a 400 or 429
    /// (NetSuite's `CONCURRENCY_LIMIT_EXCEEDED`); `None` (the default): the status decides.
    /// A transient kind is retried as its status equivalent would be.
    fn classify(&self, reply: &Response) -> Option<ErrorKind> {
        let _ = reply;
        None
    }
}

/// A [`ReplyCheck`] for APIs that answer RFC 9457 problem details with a list of error codes
/// (`{"status": 429, "o:errorDetails": [{"o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED", …}]}`):
/// 2xx replies are answers, and a refusal is classified by the codes in its body, found at
/// `list` (a JSON pointer to an array) under `code` in each entry, rather than by its status.
#[derive(Debug, Clone)]
pub struct ErrorCodes {
    /// JSON pointer to the array of error entries (`/o:errorDetails`).
    pub list: String,
    /// The code's key in each entry (`o:errorCode`).
    pub code: String,
    /// Codes meaning "too many requests": retried with backoff, whatever the method.
    pub rate_codes: Vec<String>,
    /// Codes meaning the credentials were refused.
    pub auth_codes: Vec<String>,
}

impl ErrorCodes {
    /// The error entries of a body that has any.
    fn entries(&self, reply: &Response) -> Option<Vec<Value>> {
        let body: Value = serde_json::from_slice(reply.bytes()).ok()?;
        let entries = body.pointer(&self.list)?.as_array()?;
        (!entries.is_empty()).then(|| entries.clone())
    }
}

impl ReplyCheck for ErrorCodes {
    /// A 2xx whose body holds error entries is the refusal they describe.
    fn check(&self, reply: &Response) -> Result<(), ConnectorError> {
        if self.entries(reply).is_none() {
            return Ok(());
        }
        let kind = self.classify(reply).unwrap_or(ErrorKind::Validation);
        let message = server_message(reply.bytes());
        Err(ConnectorError::new(
            kind,
            format!("refused in a 200 reply: {message}"),
        ))
    }

    fn classify(&self, reply: &Response) -> Option<ErrorKind> {
        let entries = self.entries(reply)?;
        let codes: Vec<&str> = entries
            .iter()
            .filter_map(|e| e.get(&self.code)?.as_str())
            .collect();
        let has = |list: &[String]| codes.iter().any(|c| list.iter().any(|l| l == c));
        if has(&self.rate_codes) {
            Some(ErrorKind::RateLimited { retry_after: None })
        } else if has(&self.auth_codes) {
            Some(ErrorKind::Auth)
        } else {
            None
        }
    }
}

/// A [`ReplyCheck`] from configuration: where the success flag or status code is, which
/// values mean success, and which codes mean "log in again" or "try later". Every other
/// value is a [`ErrorKind::Validation`] refusal with the server's message.
///
/// Values compare as text, so `200`, `"200"` and `true`/`"true"` match however the server
/// types them (Kingdee's documentation and its servers disagree). A reply that is not JSON,
/// or has nothing at `status_path`, is an answer.
///
/// ```yaml
/// # Kingdee K/3 Cloud
/// reply_check:
///   status_path: /Result/ResponseStatus/IsSuccess
///   ok_values: [true]
///   code_path: /Result/ResponseStatus/MsgCode
///   message_path: /Result/ResponseStatus/Errors/0/Message
///   auth_codes: [1]          # context lost: log in again
///   retry_codes: [13]        # record locked by another user
///   rate_codes: [14]         # call limit
/// # Yonyou YonBIP
/// reply_check:
///   status_path: /code
///   ok_values: ["200", "00000"]
///   auth_codes: ["310036", "310001"]
///   rate_codes: ["310032", "310039", "310042", "310046"]
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRules {
    /// JSON pointer to the success flag or status code (`/code`, `/success`).
    pub status_path: String,
    /// The values at `status_path` that mean success.
    pub ok_values: Vec<Value>,
    /// JSON pointer to the error code the lists below are matched against (default:
    /// `status_path`).
    #[serde(default)]
    pub code_path: Option<String>,
    /// JSON pointer to the server's message (default: the usual `message`, `msg`, `error`
    /// fields).
    #[serde(default)]
    pub message_path: Option<String>,
    /// Codes meaning the credentials or session are no longer valid: renewed once, then
    /// the request is sent again.
    #[serde(default)]
    pub auth_codes: Vec<Value>,
    /// Codes meaning a passing failure: retried with backoff.
    #[serde(default)]
    pub retry_codes: Vec<Value>,
    /// Codes meaning "too many requests": retried with backoff, whatever the method.
    #[serde(default)]
    pub rate_codes: Vec<Value>,
}

impl ReplyRules {
    /// Problems with the rules, each at its key (relative to the map the rules are read
    /// from).
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut out = Vec::new();
        let pointers = [
            ("status_path", Some(&self.status_path)),
            ("code_path", self.code_path.as_ref()),
            ("message_path", self.message_path.as_ref()),
        ];
        for (key, pointer) in pointers {
            if let Some(p) = pointer.filter(|p| !p.starts_with('/')) {
                let message = format!("`{p}` is not a JSON pointer: start it with `/`");
                out.push(ConfigIssue::new([key], message));
            }
        }
        if self.ok_values.is_empty() {
            let message = "is empty: list the values that mean success";
            out.push(ConfigIssue::new(["ok_values"], message));
        }
        out
    }

    fn kind_of(&self, code: Option<&Value>) -> ErrorKind {
        let listed = |list: &[Value]| code.is_some_and(|c| list.iter().any(|v| same(v, c)));
        if listed(&self.auth_codes) {
            ErrorKind::Auth
        } else if listed(&self.rate_codes) {
            ErrorKind::RateLimited { retry_after: None }
        } else if listed(&self.retry_codes) {
            ErrorKind::Retryable
        } else {
            ErrorKind::Validation
        }
    }
}

impl ReplyCheck for ReplyRules {
    fn check(&self, reply: &Response) -> Result<(), ConnectorError> {
        let Ok(body) = serde_json::from_slice::<Value>(reply.bytes()) else {
            return Ok(());
        };
        let Some(status) = body.pointer(&self.status_path) else {
            return Ok(());
        };
        if self.ok_values.iter().any(|ok| same(ok, status)) {
            return Ok(());
        }
        let code = match &self.code_path {
            Some(p) => body.pointer(p),
            None => Some(status),
        };
        let message = match self.message_path.as_deref().and_then(|p| body.pointer(p)) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => server_message(reply.bytes()),
        };
        let code_text = code.map(text).unwrap_or_default();
        Err(ConnectorError::new(
            self.kind_of(code),
            format!("refused in a 200 reply (code {code_text}): {message}"),
        ))
    }
}

fn same(a: &Value, b: &Value) -> bool {
    text(a) == text(b)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    }
}
