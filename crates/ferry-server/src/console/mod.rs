//! The operations console: server-rendered HTML pages under `/console/` for operators.
//!
//! - Pages are [askama](https://docs.rs/askama) templates (`crates/ferry-server/templates/`),
//!   checked against their structs at compile time; one stylesheet is compiled into the
//!   binary and served at `/console/console.css`; charts are inline SVG drawn on the server
//!   ([`charts`]). No script and nothing fetched from a network: it works on a closed network.
//! - Log in with an API key ([`login`]); the browser then holds a session cookie
//!   ([`session`]). Roles apply as in the API: viewers see, operators replay, edit and skip
//!   dead letters and start reconciliations, admins also read the audit log.
//! - Every form is a plain POST answered with a redirect, and carries the session's CSRF
//!   token; a POST without it is refused with 403 before anything changes.
//! - It shares the API's views ([`crate::api::views`]), store queries and dead-letter
//!   actions, so the console and the API cannot drift apart, and operator actions land in the
//!   same audit log with the client address.

pub mod charts;
mod conflicts;
mod dead_letters;
mod login;
mod pages;
mod preview;
mod reconcile;
pub mod session;

use askama::Template as _;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;
use session::Session;

/// The stylesheet, compiled in.
const CSS: &str = include_str!("console.css");

/// The console's routes (merged at the root: `/` redirects to `/console/`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/console.css", get(stylesheet))
        .route("/console/login", get(login::form).post(login::submit))
        .route("/console/logout", post(login::logout))
        .route("/console/", get(pages::overview))
        .route("/console/flows/{flow}", get(pages::flow))
        .route("/console/audit", get(pages::audit))
        .route("/console/dead-letters", get(dead_letters::list))
        .route("/console/dead-letters/{id}", get(dead_letters::show))
        .route(
            "/console/dead-letters/{id}/replay",
            post(dead_letters::replay),
        )
        .route("/console/dead-letters/{id}/edit", post(dead_letters::edit))
        .route("/console/dead-letters/{id}/skip", post(dead_letters::skip))
        .route("/console/preview", get(preview::form).post(preview::submit))
        .route("/console/conflicts", get(conflicts::list))
        .route("/console/conflicts/{id}/resolve", post(conflicts::resolve))
        .route("/console/flows/{flow}/reconcile", post(reconcile::start))
        .route("/console/reconciliations/{id}", get(reconcile::show))
        .layer(axum::middleware::map_response(harden))
}

/// Headers on every console answer: the pages load nothing but their own stylesheet and run
/// no script (so an injected `<script>` would not run either), cannot be framed
/// (clickjacking), post forms only to this server, and are not cached (payloads are
/// personal data).
async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
}

/// What every page's header shows: who is logged in, the CSRF token for the logout form,
/// which menu entry is current, and a notice after a redirect.
#[derive(Debug)]
pub struct Nav {
    /// The key's name.
    pub user: String,
    /// The key's role.
    pub role: Role,
    /// The session's CSRF token.
    pub csrf: String,
    /// The current menu entry (`overview`, `dead-letters`, `audit`, `preview`).
    pub current: &'static str,
    /// A one-line notice (`Dead letter 4 replayed.`).
    pub notice: Option<String>,
}

impl Nav {
    /// The header of a page for this session.
    pub fn new(session: &Session, current: &'static str) -> Self {
        Self {
            user: session.caller.key_name.clone(),
            role: session.caller.role,
            csrf: session.csrf.clone(),
            current,
            notice: None,
        }
    }

    /// Whether the audit log is in the menu.
    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }

    /// Whether operator forms are shown.
    pub fn is_operator(&self) -> bool {
        self.role >= Role::Operator
    }
}

/// The flows for a `<select>`, with the one named `picked` marked.
fn options(state: &AppState, picked: &str) -> Vec<(String, bool)> {
    state
        .engine
        .flows()
        .map(|f| (f.name.clone(), f.name == picked))
        .collect()
}

/// Rows for a textarea holding `text`, so a payload shows whole without scrolling (within
/// reason).
fn rows(text: &str) -> usize {
    (text.lines().count() + 1).clamp(6, 40)
}

/// Renders a template as a page.
pub fn page<T: askama::Template>(template: &T) -> Result<Response, ConsoleError> {
    let html = template.render().map_err(|e| {
        tracing::error!(error = ?e.to_string(), "A console template failed to render.");
        ConsoleError::Api(ApiError::Internal)
    })?;
    Ok(Html(html).into_response())
}

/// Why a console request did not get its page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid session: the login form instead.
    #[error("not logged in")]
    LoggedOut,
    /// A form without the session's CSRF token.
    #[error("the form's CSRF token is missing or wrong; reload the page and try again")]
    Csrf,
    /// What the API would answer (not found, forbidden, conflict, store down…).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<ferry_store::StoreError> for ConsoleError {
    fn from(e: ferry_store::StoreError) -> Self {
        ConsoleError::Api(e.into())
    }
}

/// The error page.
#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    reason: String,
    message: String,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = match &self {
            ConsoleError::LoggedOut => return Redirect::to("/console/login").into_response(),
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::Api(e) => e.status(),
        };
        let body = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.to_string(),
        };
        match body.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.to_string()).into_response(),
        }
    }
}
