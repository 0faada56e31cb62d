//! # ferry-server
//!
//! Ferry's HTTP server, started by `ferry run` (default `127.0.0.1:7878`, the `server:`
//! section of `ferry.yaml`):
//!
//! - [`api`]: the REST API under `/api/v1` (flows and their state, sync triggers with
//!   tracking ids, runs, ledger, dead letters, API keys, audit log) with its OpenAPI document
//!   at `/api/v1/openapi.json`;
//! - [`hooks`]: inbound change notices, `POST /hooks/{system}`, signed with HMAC-SHA256 and
//!   written to the durable queue before the `202` answer;
//! - [`ops`]: `/metrics` (Prometheus text), `/healthz`, `/readyz`.
//!
//! Layers (see `docs/architecture.md`): the server drives the engine
//! ([`ferry_engine::Engine`]) and reads the store; it never touches a connector. A sync
//! request is a queue item that `ferry run`'s flow loops work off, so the server answers at
//! once and the engine does the work. Security ([`auth`]): address allowlist, hashed API keys
//! with roles, a rate limit per key, optional TLS ([`tls`]), masked payload fields
//! ([`mask`]) and an audit log of every operator action ([`audit`]).
//!
//! - [`console`]: the operations console under `/console/` (server-rendered pages, login with
//!   an API key into a session cookie, CSRF-checked forms).
//!
//! [`router`] composes the sub-routers.

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod console;
mod error;
pub mod hooks;
pub mod html;
pub mod mask;
pub mod ops;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use ferry_engine::Engine;
use ferry_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::ServerSettings;
pub use error::{ApiError, ErrorBody, ServerError};

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The engine (flows, and the store behind it).
    pub engine: Arc<Engine>,
    /// The server's settings.
    pub settings: Arc<ServerSettings>,
    /// Rate-limit buckets of API keys and addresses.
    pub limiter: Arc<auth::RateLimiter>,
    /// Rate-limit buckets of webhook systems, each with its own quota.
    pub hook_limiters: Arc<std::collections::HashMap<String, auth::RateLimiter>>,
    /// Console sessions (in memory, bounded).
    pub sessions: Arc<console::session::Sessions>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for serving `engine` with `settings`.
    pub fn new(engine: Arc<Engine>, settings: ServerSettings) -> Self {
        Self {
            limiter: Arc::new(auth::RateLimiter::new(&settings.rate_limit)),
            hook_limiters: Arc::new(
                settings
                    .hooks
                    .iter()
                    .map(|(system, hook)| {
                        (system.clone(), auth::RateLimiter::new(&hook.rate_limit))
                    })
                    .collect(),
            ),
            sessions: Arc::default(),
            engine,
            settings: Arc::new(settings),
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.engine.store().as_ref()
    }

    /// The business key field of a configured flow (to mask keys by it).
    pub(crate) fn key_field(&self, flow: &str) -> Option<&str> {
        self.engine.flow(flow).ok().map(|f| f.key_field.as_str())
    }

    /// A dead letter as the API and the console show it: masked by `server.mask` as its
    /// flow carries it (source fields behind masked fields too).
    pub fn dead_letter_view(&self, d: ferry_store::DeadLetter) -> api::views::DeadLetterView {
        let key_field = self.key_field(&d.flow);
        let mask = self.settings.mask.flow(&d.flow);
        api::views::DeadLetterView::masked(d, mask, key_field)
    }

    /// A ledger entry as the API and the console show it: masked by `server.mask` as its
    /// flow carries it.
    pub fn ledger_view(&self, e: ferry_store::LedgerEntry) -> api::views::LedgerView {
        let key_field = self.key_field(&e.flow);
        let mask = self.settings.mask.flow(&e.flow);
        api::views::LedgerView::masked(e, mask, key_field)
    }

    /// A reconciliation as the API and the console show it: its error and its report's
    /// keys, field values and errors masked by `server.mask` (see
    /// [`api::reconcile::mask_report`]).
    pub fn reconciliation_view(
        &self,
        r: ferry_store::Reconciliation,
    ) -> api::reconcile::ReconciliationView {
        let key_field = self.key_field(&r.flow);
        api::reconcile::ReconciliationView::masked(r, &self.settings.mask, key_field)
    }
}

/// Every route: `/api/v1/…`, `/hooks/…`, `/metrics`, `/healthz`, `/readyz` and the console
/// (`/console/…`, `/` redirects there), behind the address allowlist.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::router())
        .merge(hooks::router(&state.settings))
        .merge(ops::router())
        .merge(console::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::allowlist,
        ))
        .with_state(state)
}

/// A bound server, not yet serving.
pub struct Server {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    limiter: Arc<auth::RateLimiter>,
}

/// How often idle rate-limit buckets are forgotten.
const BUCKET_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

impl Server {
    /// Binds `settings.listen` and loads the TLS certificate, so that a wrong address or
    /// certificate stops `ferry run` at once rather than later.
    pub async fn bind(state: AppState) -> Result<Self, ServerError> {
        let addr = state.settings.listen;
        let tls = match &state.settings.tls {
            Some(paths) => Some(tls::acceptor(paths)?),
            None => None,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|reason| ServerError::Bind { addr, reason })?;
        ops::install_metrics();
        Ok(Self {
            listener,
            tls,
            limiter: state.limiter.clone(),
            app: router(state),
        })
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` is cancelled, then stops accepting and lets requests in flight
    /// finish.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        let limiter = self.limiter.clone();
        let sweeping = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BUCKET_SWEEP);
            loop {
                tokio::select! {
                    _ = tick.tick() => limiter.forget_idle(),
                    () = sweeping.cancelled() => break,
                }
            }
        });
        match self.tls {
            None => {
                axum::serve(
                    self.listener,
                    self.app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await?;
                Ok(())
            }
            Some(acceptor) => tls::serve(self.listener, acceptor, self.app, shutdown).await,
        }
    }
}
