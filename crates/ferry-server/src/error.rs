//! Errors: [`ApiError`] is what a client sees (a status and a JSON `{"error": "..."}` saying
//! why); [`ServerError`] is what stops the server from starting or serving.

use std::net::IpAddr;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry_engine::EngineError;
use ferry_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Role;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in a sentence.
    pub error: String,
}

/// A refused or failed request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// No usable `Authorization: Bearer` header.
    #[error("missing API key: send `Authorization: Bearer <key>`")]
    NoKey,
    /// The key is unknown or revoked.
    #[error("unknown or revoked API key")]
    BadKey,
    /// A webhook whose signature or timestamp does not check out.
    #[error("webhook refused: {0}")]
    BadSignature(String),
    /// The key's role is not enough.
    #[error("this needs the {needed} role; the key is {has}")]
    Forbidden {
        /// The role the endpoint needs.
        needed: Role,
        /// The key's role.
        has: Role,
    },
    /// The client address is outside `server.allow_ips`.
    #[error("client address {0} is not allowed")]
    AddressNotAllowed(IpAddr),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The thing is not in a state that allows the action (a dead letter already replayed, a
    /// webhook delivery id already accepted for other records).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests; retry after this many seconds.
    #[error("rate limit exceeded: retry in {0} s")]
    RateLimited(u64),
    /// The body is larger than allowed.
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// The state store cannot be reached.
    #[error("state store unavailable")]
    Unavailable,
    /// Something failed on our side; details are in the server log, not in the answer.
    #[error("internal error (see the server log)")]
    Internal,
    /// A connected system refused or failed a write the request asked for.
    #[error("{0}")]
    BadGateway(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NoKey | ApiError::BadKey | ApiError::BadSignature(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden { .. } | ApiError::AddressNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::RateLimited(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            ApiError::NoKey | ApiError::BadKey => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"ferry\""),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(message) => ApiError::NotFound(message),
            e if matches!(e.kind(), ferry_model::ErrorKind::Retryable) => {
                tracing::warn!(error = ?e.to_string(), "State store unavailable.");
                ApiError::Unavailable
            }
            e => {
                tracing::error!(error = ?e.to_string(), "State store failure while serving a request.");
                ApiError::Internal
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownFlow(flow) => ApiError::NotFound(format!("unknown flow `{flow}`")),
            EngineError::Store(e) => e.into(),
            // Found but not in a state to act on (a conflict resolved meanwhile).
            EngineError::NotFound(message) => ApiError::Conflict(message),
            e @ (EngineError::Target { .. } | EngineError::Source { .. }) => {
                tracing::warn!(error = ?e.to_string(), "A system refused an operator's request.");
                ApiError::BadGateway(e.to_string())
            }
            e => {
                tracing::error!(error = ?e.to_string(), "Engine failure while serving a request.");
                ApiError::Internal
            }
        }
    }
}

/// What stops the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A setting cannot be used.
    #[error("server config: {0}")]
    Config(String),
    /// The listen address cannot be bound.
    // `reason`, not `source`: the message already says why, and an error chain printed
    // whole (`{:#}`) would otherwise say it twice.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        reason: std::io::Error,
    },
    /// The TLS certificate or key cannot be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// Serving failed.
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}
