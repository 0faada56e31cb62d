//! Authentication of the reference double: the check on every API request, the OAuth 2
//! token endpoint and session login.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use super::Ctx;
use super::answer::{self, ApiError};
use super::config::{AuthMode, ExpiredAnswer};
use crate::sessions::SessionState;

/// The session cookie set by `POST /session/login`.
pub const SESSION_COOKIE: &str = "ref_session";
/// The header that may carry the session id instead of the cookie.
pub const SESSION_HEADER: &str = "x-session-id";
/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Middleware: lets a request through when it carries the credentials of the run's mode,
/// else answers the refusal.
pub async fn require(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    match refusal(&ctx, request.headers()) {
        None => next.run(request).await,
        Some(refusal) => refusal,
    }
}

/// The answer to a request without the run's credentials; `None` lets it in.
fn refusal(ctx: &Ctx, headers: &HeaderMap) -> Option<Response> {
    let creds = &ctx.config.credentials;
    match ctx.config.auth {
        AuthMode::None => None,
        AuthMode::ApiKey => match header(headers, API_KEY_HEADER) {
            Some(key) if key == creds.api_key => None,
            _ => Some(refuse("missing or wrong X-API-Key header")),
        },
        AuthMode::Basic => match credentials_in(headers, "Basic") {
            Some(pair) if pair == format!("{}:{}", creds.username, creds.password) => None,
            _ => Some(challenge(
                refuse("missing or wrong Basic credentials"),
                "Basic realm=\"reference-double\"",
            )),
        },
        AuthMode::Bearer => match bearer(headers) {
            Some(token) if token == creds.bearer_token => None,
            _ => Some(challenge(
                refuse("missing or wrong bearer token"),
                "Bearer error=\"invalid_token\"",
            )),
        },
        AuthMode::OAuth2 => session_check(ctx, bearer(headers), "TOKEN_EXPIRED"),
        AuthMode::Session => session_check(ctx, session_id(headers), "SESSION_EXPIRED"),
    }
}

fn session_check(
    ctx: &Ctx,
    presented: Option<&str>,
    expired_code: &'static str,
) -> Option<Response> {
    let state = presented.map_or(SessionState::Unknown, |t| ctx.harness.sessions().check(t));
    let how = if ctx.config.auth == AuthMode::OAuth2 {
        "get a token at POST /oauth/token"
    } else {
        "log in at POST /session/login"
    };
    match state {
        SessionState::Valid(_) => None,
        SessionState::Expired => {
            let message = format!("the session expired; {how}");
            Some(match ctx.config.expired_answer {
                ExpiredAnswer::Unauthorized => {
                    ApiError::unauthorized(expired_code, message).into_response()
                }
                ExpiredAnswer::ErrorInOk => answer::error_in_ok(expired_code, &message),
            })
        }
        SessionState::Unknown => Some(refuse(&format!("no valid credentials; {how}"))),
    }
}

fn refuse(message: &str) -> Response {
    ApiError::unauthorized("UNAUTHORIZED", message).into_response()
}

fn challenge(mut response: Response, value: &'static str) -> Response {
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(value));
    response
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok()
}

/// The decoded `user:password` of `Authorization: <scheme> base64(…)`.
fn credentials_in(headers: &HeaderMap, scheme: &str) -> Option<String> {
    let value = header(headers, AUTHORIZATION.as_str())?;
    let (given, encoded) = value.split_once(' ')?;
    if !given.eq_ignore_ascii_case(scheme) {
        return None;
    }
    String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = header(headers, AUTHORIZATION.as_str())?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn session_id(headers: &HeaderMap) -> Option<&str> {
    if let Some(id) = header(headers, SESSION_HEADER) {
        return Some(id);
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, id)| id)
}

/// `POST /oauth/token`: the client-credentials grant (RFC 6749 §4.4). The client may
/// authenticate in the form (`client_id`, `client_secret`) or with HTTP Basic.
pub async fn token(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let creds = &ctx.config.credentials;
    let from_form = form
        .get("client_id")
        .zip(form.get("client_secret"))
        .map(|(id, secret)| format!("{id}:{secret}"));
    let presented = from_form.or_else(|| credentials_in(&headers, "Basic"));
    if presented != Some(format!("{}:{}", creds.client_id, creds.client_secret)) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let ttl = ctx.config.session_ttl;
    let token = ctx.harness.sessions().issue(&creds.client_id, ttl);
    Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
    }))
    .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// `POST /session/login` with `{"username", "password"}`: sets the session cookie and
/// answers `{"session_id", "expires_in"}`.
pub async fn login(State(ctx): State<Ctx>, body: axum::body::Bytes) -> Response {
    let login: Login = match serde_json::from_slice(&body) {
        Ok(login) => login,
        Err(e) => return ApiError::bad_request(format!("body: {e}")).into_response(),
    };
    let creds = &ctx.config.credentials;
    if login.username != creds.username || login.password != creds.password {
        return ApiError::unauthorized("LOGIN_FAILED", "wrong username or password")
            .into_response();
    }
    let ttl = ctx.config.session_ttl;
    let id = ctx.harness.sessions().issue(&login.username, ttl);
    let cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly");
    let mut response =
        Json(json!({ "session_id": id, "expires_in": ttl.as_secs() })).into_response();
    if let Ok(value) = HeaderValue::try_from(cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// `POST /session/logout`: ends the presented session.
pub async fn logout(State(ctx): State<Ctx>, headers: HeaderMap) -> StatusCode {
    if let Some(id) = session_id(&headers) {
        ctx.harness.sessions().end(id);
    }
    StatusCode::NO_CONTENT
}
