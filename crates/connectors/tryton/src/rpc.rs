//! Tryton's JSON-RPC over the shared HTTP client: the session login (`common.db.login`,
//! `Authorization: Session base64(login:uid:token)`, renewed on 401), model calls with the
//! context as last argument, and Tryton's error replies classified.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use base64::Engine;
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use ferry_kit::http::{Auth, Call, HeaderValue, HttpClient, Outgoing, StatusCode};

use crate::config::Password;

/// A Tryton database reached through one [`HttpClient`].
#[derive(Debug)]
pub(crate) struct Rpc {
    pub(crate) http: HttpClient,
    /// `<db>/rpc/`, relative to the server URL.
    path: String,
    /// The system's context, under every call's own.
    pub(crate) context: Map<String, Value>,
    next_id: AtomicU64,
}

/// Whether a call only reads (safe to send again after a timeout) or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Read,
    Write,
}

impl Rpc {
    pub(crate) fn new(http: HttpClient, database: &str, context: Map<String, Value>) -> Self {
        Self {
            http,
            path: rpc_path(database),
            context,
            next_id: AtomicU64::new(1),
        }
    }

    /// Calls `method` with `params` and returns its result.
    ///
    /// Tryton checks the session in its own transaction before it runs the method; when
    /// another client's login purges sessions at that moment, the check fails with "You are
    /// trying to read records … of \"Session\" that don't exist" and the method never ran. That
    /// race is tried again (a few times) here, whatever the method.
    pub(crate) async fn call(
        &self,
        method: &str,
        params: Vec<Value>,
        effect: Effect,
    ) -> Result<Value, ConnectorError> {
        (|| self.call_once(method, &params, effect))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(std::time::Duration::from_millis(50))
                    .with_max_times(SESSION_RACE_RETRIES),
            )
            .when(is_session_race)
            .await
    }

    async fn call_once(
        &self,
        method: &str,
        params: &[Value],
        effect: Effect,
    ) -> Result<Value, ConnectorError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut call = Call::post(self.path.clone())
            .json(&json!({"id": id, "method": method, "params": params}))
            .label(method)
            // Tryton answers 403 to a method that does not exist or is not exposed over
            // RPC: a configuration problem, not credentials (those get 401).
            .classify(StatusCode::FORBIDDEN, ErrorKind::Fatal);
        if effect == Effect::Read {
            call = call.safe_to_repeat();
        }
        let response = self.http.send(call).await?;
        let reply: Map<String, Value> = response.json()?;
        match (reply.get("error"), reply.get("result")) {
            (Some(error), _) if !error.is_null() => {
                let (kind, message) = fault(error);
                Err(ConnectorError::new(
                    kind,
                    self.http
                        .scrub(&format!("{}: {method}: {message}", self.http.system())),
                ))
            }
            (_, Some(result)) => Ok(result.clone()),
            _ => Err(ConnectorError::fatal(format!(
                "{}: {method}: a JSON-RPC reply without result or error",
                response.what()
            ))),
        }
    }

    /// `model.<model>.<method>(args…, context)`, the context being the system's with `extra`
    /// on top.
    pub(crate) async fn model(
        &self,
        model: &str,
        method: &str,
        mut args: Vec<Value>,
        extra: &Map<String, Value>,
        effect: Effect,
    ) -> Result<Value, ConnectorError> {
        args.push(Value::Object(self.context_with(extra)));
        self.call(&format!("model.{model}.{method}"), args, effect)
            .await
    }

    /// The system's context with `extra` on top.
    pub(crate) fn context_with(&self, extra: &Map<String, Value>) -> Map<String, Value> {
        let mut context = self.context.clone();
        context.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        context
    }
}

/// Retries of a call that meets Tryton's session race (see [`Rpc::call`]).
const SESSION_RACE_RETRIES: usize = 3;

/// Whether Tryton refused a call because its session check raced another client's session
/// purge (the method did not run).
fn is_session_race(e: &ConnectorError) -> bool {
    e.message().contains("of \"Session\" that don't exist")
}

/// The RPC path of a database.
pub(crate) fn rpc_path(database: &str) -> String {
    format!("{database}/rpc/")
}

/// Tryton's error reply as a kind and a message. Known shapes (trytond 8.2):
/// `["UserError", [message, description, domain]]`, `["UserWarning", [name, message,
/// description]]`, `["ConcurrencyException", message]`, `["LoginException", [name, message,
/// type]]`, and `[str(exception), traceback]` for anything else (`"'bogus'"` for an unknown
/// field: Python's KeyError).
pub(crate) fn fault(error: &Value) -> (ErrorKind, String) {
    let parts = error.as_array().map(Vec::as_slice).unwrap_or_default();
    let name = parts.first().and_then(Value::as_str).unwrap_or_default();
    let args = parts.get(1).cloned().unwrap_or(Value::Null);
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let joined = |message: Option<String>, description: Option<String>| match (message, description)
    {
        (Some(m), Some(d)) => format!("{m} {d}"),
        (Some(m), None) => m,
        (None, Some(d)) => d,
        (None, None) => error.to_string(),
    };
    match name {
        "UserError" => (
            ErrorKind::Validation,
            joined(text(args.get(0)), text(args.get(1))),
        ),
        "UserWarning" => (
            ErrorKind::Validation,
            format!(
                "Tryton asks for a confirmation a sync cannot give: {}",
                joined(text(args.get(1)), text(args.get(2)))
            ),
        ),
        "ConcurrencyException" => (
            ErrorKind::Conflict,
            text(Some(&args)).unwrap_or_else(|| "the record was modified meanwhile".to_owned()),
        ),
        "LoginException" => (
            ErrorKind::Auth,
            format!("login refused: {}", joined(text(args.get(1)), None)),
        ),
        other => {
            let lower = other.to_ascii_lowercase();
            let transient = [
                "database is locked",
                "could not serialize",
                "deadlock detected",
                "could not obtain lock",
                "timeout",
            ]
            .iter()
            .any(|p| lower.contains(p));
            let kind = if transient {
                ErrorKind::Retryable
            } else {
                ErrorKind::Fatal
            };
            // A bare quoted name is Python's KeyError: an unknown field or model.
            let message = if other.len() > 2 && other.starts_with('\'') && other.ends_with('\'') {
                format!(
                    "server error: unknown name {other} (a field or model that does not exist?)"
                )
            } else {
                format!("server error: {other}")
            };
            (kind, message)
        }
    }
}

/// The session of one system: logs in on first use and again when the server answers 401
/// (sessions expire after the server's idle timeout, or on logout).
pub(crate) struct Session {
    path: String,
    user: String,
    password: Password,
    language: String,
    header: Mutex<Option<HeaderValue>>,
    /// Logins so far (first use and renewals).
    pub(crate) logins: AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(database: &str, user: &str, password: Password, language: &str) -> Self {
        Self {
            path: rpc_path(database),
            user: user.to_owned(),
            password,
            language: language.to_owned(),
            header: Mutex::new(None),
            logins: AtomicU64::new(0),
        }
    }

    async fn login(&self, http: &HttpClient) -> Result<HeaderValue, ConnectorError> {
        self.logins.fetch_add(1, Ordering::Relaxed);
        let body = json!({
            "id": 0,
            "method": "common.db.login",
            "params": [self.user, {"password": self.password.0}, self.language],
        });
        // A login that timed out only leaves an unused session behind: safe to repeat.
        let call = Call::post(self.path.clone())
            .json(&body)
            .label("common.db.login")
            .without_auth()
            .safe_to_repeat();
        let reply: Map<String, Value> = http.json(call).await.map_err(|e| {
            if e.kind() == ErrorKind::Auth {
                e.context(format!("user `{}` cannot log in", self.user))
            } else {
                e
            }
        })?;
        if let Some(error) = reply.get("error").filter(|e| !e.is_null()) {
            let (kind, message) = fault(error);
            return Err(ConnectorError::new(
                kind,
                http.scrub(&format!(
                    "{}: login of `{}`: {message}",
                    http.system(),
                    self.user
                )),
            ));
        }
        let result = reply.get("result").and_then(Value::as_array);
        let uid = result.and_then(|r| r.first()).and_then(Value::as_i64);
        let token = result.and_then(|r| r.get(1)).and_then(Value::as_str);
        let (Some(uid), Some(token)) = (uid, token) else {
            return Err(ConnectorError::fatal(format!(
                "{}: login of `{}`: unexpected reply (is this a Tryton server?)",
                http.system(),
                self.user
            )));
        };
        let raw = format!("{}:{uid}:{token}", self.user);
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        let mut header = HeaderValue::from_str(&format!("Session {encoded}")).map_err(|_| {
            ConnectorError::fatal(format!(
                "{}: the user name `{}` cannot go in an HTTP header",
                http.system(),
                self.user
            ))
        })?;
        header.set_sensitive(true);
        tracing::debug!(system = http.system(), user = %self.user, uid, "Logged in to Tryton.");
        Ok(header)
    }
}

#[async_trait]
impl Auth for Session {
    async fn apply(&self, http: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        let mut current = self.header.lock().await;
        let header = match current.as_ref() {
            Some(h) => h.clone(),
            None => {
                let h = self.login(http).await?;
                *current = Some(h.clone());
                h
            }
        };
        request
            .headers
            .insert(reqwest::header::AUTHORIZATION, header);
        Ok(())
    }

    async fn refresh(
        &self,
        http: &HttpClient,
        rejected: &Outgoing,
    ) -> Result<bool, ConnectorError> {
        let mut current = self.header.lock().await;
        // Only the first of several requests refused with the same session logs in again.
        if current.as_ref() == rejected.headers.get(reqwest::header::AUTHORIZATION) {
            tracing::info!(system = http.system(), user = %self.user, "Tryton session expired; logging in again.");
            *current = Some(self.login(http).await?);
        }
        Ok(true)
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.password.0.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tryton_errors_are_classified() {
        let (kind, message) = fault(&json!([
            "UserError",
            [
                "A value is required for field \"Sale UoM\" in record \"X\" of \"Product Template\".",
                "",
                null
            ]
        ]));
        assert_eq!(kind, ErrorKind::Validation);
        assert_eq!(
            message,
            "A value is required for field \"Sale UoM\" in record \"X\" of \"Product Template\"."
        );
        assert_eq!(
            fault(&json!([
                "ConcurrencyException",
                "Records were modified in the meanwhile"
            ]))
            .0,
            ErrorKind::Conflict
        );
        assert_eq!(
            fault(&json!(["UserWarning", ["w", "Are you sure?", ""]])).0,
            ErrorKind::Validation
        );
        let (kind, message) = fault(&json!(["'bogus'", ""]));
        assert_eq!(kind, ErrorKind::Fatal);
        assert!(message.contains("unknown name 'bogus'"), "{message}");
        assert_eq!(
            fault(&json!(["database is locked", "Traceback…"])).0,
            ErrorKind::Retryable
        );
    }

    #[test]
    fn only_the_session_check_race_is_tried_again() {
        let race = |text: &str| {
            let (kind, message) = fault(&json!(["UserError", [text, "", null]]));
            is_session_race(&ConnectorError::new(kind, format!("erp: m: {message}")))
        };
        assert!(race(
            "You are trying to read records \"142\" of \"Session\" that don't exist."
        ));
        assert!(!race(
            "You are trying to read records \"7\" of \"Party\" that don't exist."
        ));
    }
}
