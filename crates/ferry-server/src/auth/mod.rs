//! Who may do what: API keys and roles, the client address allowlist, and the per-key rate
//! limit.
//!
//! - **Keys** are random 256-bit tokens (`fy_` + 64 hex digits) shown once at creation; the
//!   store keeps only their SHA-256, so a copy of the database grants nothing. A request
//!   names its key with `Authorization: Bearer <token>`; the hash is looked up (an index
//!   lookup on a uniformly random value, so timing reveals nothing useful).
//! - **Roles** are ordered: `viewer` reads; `operator` also triggers syncs and replays, skips
//!   and edits dead letters; `admin` also manages keys and reads the audit log. A handler
//!   states its minimum role in its signature ([`Viewer`], [`Operator`], [`Admin`]).
//! - **Order of checks**: address allowlist (every route, [`allowlist`]) → key (401; requests
//!   without a valid key draw from their address's bucket, 429 past it) → rate limit for that
//!   key (429 with `Retry-After`) → role (403).

mod keys;
mod rate;

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use keys::{CreatedKey, create_key, hash_token, new_token, revoke_key};
pub use rate::{RateKey, RateLimiter};

use crate::AppState;
use crate::audit::Actor;
use crate::error::ApiError;

/// What a key may do. Ordered: each role can do everything the one before it can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read flows, runs, ledger, dead letters, sync outcomes and metrics.
    Viewer,
    /// Also trigger syncs; replay, edit and skip dead letters.
    Operator,
    /// Also create and revoke API keys and read the audit log.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| format!("`{s}` is not a role (viewer, operator, admin)"))
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id.
    pub key_id: i64,
    /// The key's name.
    pub key_name: String,
    /// The key's role.
    pub role: Role,
    /// The client address.
    pub addr: Option<IpAddr>,
}

impl Caller {
    /// The caller as the audit log records it.
    pub fn actor(&self) -> Actor {
        Actor {
            key_id: Some(self.key_id),
            key_name: Some(self.key_name.clone()),
            role: Some(self.role.as_str().to_owned()),
            source: self.addr.map(|a| a.to_string()),
        }
    }
}

/// A minimum role, as a type, for [`Authed`].
pub trait MinRole: Send + Sync + 'static {
    /// The role needed.
    const ROLE: Role;
}

/// Marker: needs [`Role::Viewer`].
#[derive(Debug)]
pub struct NeedsViewer;
/// Marker: needs [`Role::Operator`].
#[derive(Debug)]
pub struct NeedsOperator;
/// Marker: needs [`Role::Admin`].
#[derive(Debug)]
pub struct NeedsAdmin;

impl MinRole for NeedsViewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for NeedsOperator {
    const ROLE: Role = Role::Operator;
}
impl MinRole for NeedsAdmin {
    const ROLE: Role = Role::Admin;
}

/// An extractor that authenticates the request, applies the key's rate limit and requires
/// the role `R`; the handler gets the [`Caller`].
#[derive(Debug)]
pub struct Authed<R>(pub Caller, PhantomData<R>);

/// Any valid key.
pub type Viewer = Authed<NeedsViewer>;
/// An operator or admin key.
pub type Operator = Authed<NeedsOperator>;
/// An admin key.
pub type Admin = Authed<NeedsAdmin>;

impl<R: MinRole> FromRequestParts<AppState> for Authed<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let addr = client_addr(parts);
        let caller = match bearer_token(parts) {
            Some(token) => authenticate(state, &hash_token(token), addr).await?,
            None => return refuse(state, addr, ApiError::NoKey),
        };
        caller.require(R::ROLE)?;
        Ok(Authed(caller, PhantomData))
    }
}

impl Caller {
    /// 403 unless the caller's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role < needed {
            return Err(ApiError::Forbidden {
                needed,
                has: self.role,
            });
        }
        Ok(())
    }
}

/// Refuses a request without a valid key. It draws from its address's bucket first, so
/// guessing keys (or hammering the key lookup) is rate-limited like any key.
fn refuse<T>(state: &AppState, addr: Option<IpAddr>, error: ApiError) -> Result<T, ApiError> {
    match addr {
        Some(addr) => state.limiter.check(&RateKey::Address(addr)).and(Err(error)),
        None => Err(error),
    }
}

/// The caller holding the key with this token hash: the key must exist and not be revoked,
/// and the request is counted against the key's rate limit. Shared by the API (a bearer
/// token on every request) and the console (a token at login, its hash on every page after,
/// so revoking a key also ends its console sessions).
pub async fn authenticate(
    state: &AppState,
    token_hash: &str,
    addr: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let key = state
        .store()
        .api_key_by_hash(token_hash)
        .await?
        .filter(|k| k.revoked_at.is_none());
    let Some(key) = key else {
        return refuse(state, addr, ApiError::BadKey);
    };
    let Some(role) = Role::parse(&key.role) else {
        tracing::error!(key_id = key.id, role = ?key.role, "An API key has an unknown role.");
        return Err(ApiError::BadKey);
    };
    state.limiter.check(&RateKey::ApiKey(key.id))?;
    Ok(Caller {
        key_id: key.id,
        key_name: key.name,
        role,
        addr,
    })
}

/// The token of `Authorization: Bearer <token>`.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The client address of the connection (the server inserts `ConnectInfo` for every
/// connection, plain or TLS).
pub fn client_addr(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
}

/// Middleware on every route: refuses clients outside `server.allow_ips` with 403 before
/// anything else runs. A connection with no known address is refused when a list is set.
pub async fn allowlist(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.settings.allow.is_empty() {
        let addr = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical());
        match addr {
            Some(addr) if state.settings.allows(addr) => {}
            Some(addr) => return ApiError::AddressNotAllowed(addr).into_response(),
            None => {
                return ApiError::AddressNotAllowed(IpAddr::from([0, 0, 0, 0])).into_response();
            }
        }
    }
    next.run(request).await
}
