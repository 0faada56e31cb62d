//! Portable error classification.
//!
//! Every boundary (connector, mapping, store) has its own error enum, but each one answers
//! [`ErrorKind`]: the engine decides between *retry later* and *dead-letter now* by looking at
//! the kind only, never at message text.

use std::time::Duration;

/// What the engine should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Temporary: timeouts, connection refused, 5xx, deadlocks. Retry with backoff.
    Retryable,
    /// The system asked us to slow down; retry no sooner than `retry_after` when given.
    RateLimited {
        /// The wait the system asked for (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// Credentials were refused. Retrying the same record will not help; the whole flow
    /// should pause until an operator fixes the secret.
    Auth,
    /// The record itself is wrong (mapping, validation, constraint violated). Dead-letter it.
    Validation,
    /// The object or record does not exist on the other side.
    NotFound,
    /// The write conflicts with the target's state (duplicate key, stale version).
    Conflict,
    /// Misconfiguration or a bug: nothing will succeed until someone changes something.
    Fatal,
}

impl ErrorKind {
    /// Whether the same attempt may succeed later without anyone changing anything.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Retryable | ErrorKind::RateLimited { .. })
    }

    /// A short stable name, used in the ledger, dead letters and `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Auth => "auth",
            ErrorKind::Validation => "validation",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Fatal => "fatal",
        }
    }
}

/// An error raised by a connector, already classified.
///
/// Connectors build it with the constructor that says what went wrong (`ConnectorError::transient`,
/// `::invalid`, …); the message must name the object, record and field when they are known and
/// must never contain a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    kind: ErrorKind,
    message: String,
}

impl ConnectorError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    /// A temporary failure worth retrying (network, timeout, server restarting).
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retryable, message)
    }
    /// The record was refused for its content; retrying it unchanged will fail again.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }
    /// The configuration is wrong (unknown table, missing column, bad URL).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }
    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The human-readable reason.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The same error with `context: ` put in front of its message.
    #[must_use]
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}
