//! The engine's errors.

use ferry_model::{ConnectorError, ErrorKind};
use ferry_store::StoreError;

/// Why a run or a queue drain stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No flow has that name.
    #[error("unknown flow `{0}`")]
    UnknownFlow(String),
    /// The state store failed (and retrying did not help).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source could not be read (and retrying did not help).
    #[error("flow `{flow}`: reading the source failed: {error}")]
    Source {
        /// The flow.
        flow: String,
        /// The last error.
        error: ConnectorError,
    },
    /// The target could not be written (and retrying did not help).
    #[error("flow `{flow}`: writing the target failed: {error}")]
    Target {
        /// The flow.
        flow: String,
        /// The last error.
        error: ConnectorError,
    },
    /// Shutdown was requested; work in flight was committed or left for the next run.
    #[error("cancelled")]
    Cancelled,
    /// What an operator asked about does not exist or is not in a state to act on (a
    /// conflict already resolved).
    #[error("{0}")]
    NotFound(String),
}

impl EngineError {
    /// The classification of the underlying failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::UnknownFlow(_) => ErrorKind::Fatal,
            EngineError::Store(e) => e.kind(),
            EngineError::Source { error, .. } | EngineError::Target { error, .. } => error.kind(),
            EngineError::Cancelled => ErrorKind::Retryable,
            EngineError::NotFound(_) => ErrorKind::NotFound,
        }
    }
}
