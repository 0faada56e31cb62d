//! Logging in with an API key, and out.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{self, ClientAddr, Session};
use super::{ConsoleError, page};
use crate::AppState;
use crate::audit::{self, Actor};
use crate::auth::{self, hash_token};
use crate::error::ApiError;

/// The login page.
#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
}

/// `GET /console/login`.
pub async fn form() -> Result<Response, ConsoleError> {
    page(&LoginPage { error: None })
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    key: String,
}

/// `POST /console/login`: checks the key exactly as the API does (unknown and revoked keys
/// refused, failed attempts counted against the address's rate limit), then starts a
/// session and sets its cookie. A refused key is audited (`console.login`, the client
/// address; never the key tried), at a bounded rate (see [`crate::audit::Throttle`]).
pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    let hash = hash_token(form.key.trim());
    match auth::authenticate(&state, &hash, addr).await {
        Ok(_) => {}
        Err(ApiError::BadKey) => {
            state
                .sessions
                .failed_logins
                .refused(
                    state.store(),
                    &Actor::anonymous(addr),
                    audit::action::CONSOLE_LOGIN,
                    "console",
                    "unknown or revoked API key",
                )
                .await;
            let mut response = page(&LoginPage {
                error: Some("Unknown or revoked API key.".into()),
            })?;
            *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            return Ok(response);
        }
        Err(e) => {
            if matches!(e, ApiError::RateLimited(_)) {
                state.sessions.failed_logins.count();
            }
            return Err(e.into());
        }
    }
    let id = state.sessions.create(hash);
    let cookie = session::set_cookie(&id, state.settings.tls.is_some());
    Ok(with_cookie(Redirect::to("/console/"), &cookie))
}

/// `POST /console/logout`: ends the session (CSRF-checked like every form).
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<super::pages::CsrfForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    state.sessions.remove(&session.id);
    let cookie = session::clear_cookie(state.settings.tls.is_some());
    Ok(with_cookie(Redirect::to("/console/login"), &cookie))
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    response.headers_mut().extend(headers);
    response
}
