//! Who may call: Basic auth of the communication user or an OAuth 2.0 bearer token from
//! the client-credentials token endpoint; and CSRF protection of every modifying request,
//! the token bound to the session cookie it was fetched with.

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::Ctx;
use super::answer::{self, Reply};
use crate::sessions::SessionState;

/// The path of the OAuth 2.0 token endpoint.
pub const TOKEN_PATH: &str = "/sap/bc/sec/oauth2/token";
/// The second cookie a fetch sets; the double does not need it back.
pub const USER_CONTEXT_COOKIE: &str = "sap-usercontext";

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// `user:password` of `Authorization: Basic …`.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let (scheme, encoded) = header(headers, AUTHORIZATION.as_str())?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = header(headers, AUTHORIZATION.as_str())?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller, or the 401 answer.
pub fn check(ctx: &Ctx, headers: &HeaderMap) -> Result<String, Reply> {
    let c = &ctx.config;
    if let Some((user, password)) = basic(headers) {
        // ICF compares the user name without case.
        if user.eq_ignore_ascii_case(&c.user) && password == c.password {
            return Ok(c.user.clone());
        }
    } else if let Some(token) = bearer(headers) {
        match ctx.harness.sessions().check(token) {
            SessionState::Valid(subject) if subject.starts_with("oauth:") => return Ok(subject),
            SessionState::Expired => {
                let mut refusal = answer::unauthorized(&c.system_id, &c.client);
                refusal
                    .headers
                    .retain(|(name, _)| name != "www-authenticate");
                return Err(refusal.header(
                    "www-authenticate",
                    "Bearer error=\"invalid_token\", error_description=\"token expired\"",
                ));
            }
            _ => {}
        }
    }
    Err(answer::unauthorized(&c.system_id, &c.client))
}

/// `POST /sap/bc/sec/oauth2/token`: client credentials with Basic client auth (or
/// `client_id`/`client_secret` in the form body).
pub fn token(ctx: &Ctx, headers: &HeaderMap, body: &[u8]) -> Reply {
    let form: Vec<(String, String)> = form_pairs(body);
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let client = basic(headers).or_else(|| Some((field("client_id")?, field("client_secret")?)));
    let c = &ctx.config;
    match client {
        Some((id, secret)) if id == c.client_id && secret == c.client_secret => {}
        _ => {
            let body = json!({"error": "invalid_client",
                              "error_description": "Client authentication failed"});
            return Reply::json(StatusCode::UNAUTHORIZED, &body);
        }
    }
    if field("grant_type").as_deref() != Some("client_credentials") {
        let body = json!({"error": "unsupported_grant_type",
                          "error_description": "grant_type must be client_credentials"});
        return Reply::json(StatusCode::BAD_REQUEST, &body);
    }
    let token = ctx
        .harness
        .sessions()
        .issue(&format!("oauth:{}", c.client_id), c.token_ttl);
    let body = json!({"access_token": token, "token_type": "Bearer",
                      "expires_in": c.token_ttl.as_secs(), "scope": ""});
    Reply::json(StatusCode::OK, &body).header("cache-control", "no-store")
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The value of cookie `name`.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// Whether the request asks for a token: `x-csrf-token: Fetch` (any case).
pub fn wants_token(headers: &HeaderMap) -> bool {
    header(headers, "x-csrf-token").is_some_and(|v| v.eq_ignore_ascii_case("fetch"))
}

/// The headers answering a fetch: the token and, unless the caller's session cookie is
/// alive, a new session's cookies. The token is bound to that session.
pub fn fetch(ctx: &Ctx, headers: &HeaderMap) -> Vec<(String, String)> {
    let sessions = ctx.harness.sessions();
    let name = ctx.config.session_cookie();
    let mut out = Vec::new();
    let live = cookie(headers, &name)
        .filter(|s| matches!(sessions.check(s), SessionState::Valid(ref who) if who == "session"));
    let session = match live {
        Some(s) => s.to_owned(),
        None => {
            let s = sessions.issue("session", ctx.config.session_ttl);
            out.push(("set-cookie".into(), format!("{name}={s}; path=/; HttpOnly")));
            out.push((
                "set-cookie".into(),
                format!(
                    "{USER_CONTEXT_COOKIE}=sap-client={}; path=/",
                    ctx.config.client
                ),
            ));
            s
        }
    };
    let token = sessions.issue(&format!("csrf:{session}"), ctx.config.session_ttl);
    out.push(("x-csrf-token".into(), token));
    out
}

/// Whether a modifying request carries a live token bound to its live session cookie.
pub fn csrf_valid(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let sessions = ctx.harness.sessions();
    let (Some(token), Some(session)) = (
        header(headers, "x-csrf-token"),
        cookie(headers, &ctx.config.session_cookie()),
    ) else {
        return false;
    };
    let bound =
        matches!(sessions.check(token), SessionState::Valid(s) if s == format!("csrf:{session}"));
    bound && sessions.check(session) == SessionState::Valid("session".into())
}
