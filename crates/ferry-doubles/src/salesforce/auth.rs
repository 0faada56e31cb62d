//! OAuth 2.0 (dossier §1): `POST /services/oauth2/token` with the client-credentials or the
//! JWT-bearer grant, answering the token reply with `instance_url` = the double itself; and
//! the `Authorization: Bearer` check of every API call: an unknown or expired token (the
//! harness `SessionBook`, lifetime sliding with use) answers 401 `INVALID_SESSION_ID`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::Ctx;
use super::answer::{SfError, json};
use super::config::{ORG_ID, USER_ID};
use super::jwt;
use crate::sessions::SessionState;

/// What separates the org id from the session part of a token.
const TOKEN_MARK: &str = "!AQ0AQ";
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn refuse(error: &str, description: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        json!({"error": error, "error_description": description}),
    )
}

/// `POST /services/oauth2/token`.
pub async fn token(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let form = read_form(&body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let c = &ctx.config;
    match get("grant_type") {
        Some("client_credentials") => {
            if get("client_id") != Some(c.client_id.as_str()) {
                return refuse("invalid_client_id", "client identifier invalid");
            }
            if get("client_secret") != Some(c.client_secret.as_str()) {
                return refuse("invalid_client", "invalid client credentials");
            }
        }
        Some(JWT_GRANT) => {
            let Some(key) = &c.jwt_public_key else {
                return refuse("invalid_grant", "invalid assertion");
            };
            let claims = match jwt::verify(get("assertion").unwrap_or_default(), key) {
                Ok(claims) => claims,
                Err(why) => return refuse("invalid_grant", why),
            };
            if claims.iss != c.client_id {
                return refuse("invalid_client_id", "client identifier invalid");
            }
            if claims.sub != c.username {
                return refuse("invalid_grant", "user hasn't approved this consumer");
            }
            let own = ctx.harness.base_url();
            if !jwt::AUDIENCES.contains(&claims.aud.as_str()) && claims.aud != own {
                return refuse("invalid_grant", "audience is invalid");
            }
            let now = Utc::now().timestamp();
            if claims.exp <= now || claims.exp > now + 3 * 60 + 5 {
                return refuse("invalid_grant", "invalid assertion");
            }
        }
        _ => return refuse("unsupported_grant_type", "grant type not supported"),
    }
    let session = ctx.harness.sessions().issue(&c.username, c.token_ttl);
    let access_token = format!("{ORG_ID}{TOKEN_MARK}{session}");
    let base = ctx.harness.base_url();
    let id = format!("{base}/id/{ORG_ID}/{USER_ID}");
    let issued_at = Utc::now().timestamp_millis().to_string();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(c.client_secret.as_bytes())
        .expect("HMAC takes any key");
    mac.update(format!("{id}{issued_at}").as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    json(
        StatusCode::OK,
        json!({
            "access_token": access_token, "signature": signature, "scope": c.scope,
            "instance_url": base, "id": id, "token_type": "Bearer", "issued_at": issued_at,
        }),
    )
}

/// The bearer check of an API call; a live token's lifetime starts again (sliding).
pub fn check(ctx: &Ctx, headers: &HeaderMap) -> Result<(), SfError> {
    let session = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth")
        })
        .and_then(|(_, token)| token.trim().split_once(TOKEN_MARK))
        .map(|(_, session)| session.to_owned())
        .ok_or_else(SfError::session_invalid)?;
    match ctx.harness.sessions().check(&session) {
        SessionState::Valid(_) => {}
        SessionState::Expired | SessionState::Unknown => return Err(SfError::session_invalid()),
    }
    ctx.harness.sessions().renew(&session, ctx.config.token_ttl);
    let scopes = &ctx.config.scope;
    if !scopes.split(' ').any(|s| s == "api" || s == "full") {
        return Err(SfError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "This session is not valid for use with the specified REST API endpoint. Please check that your session has the required scope for this API.",
        ));
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` pairs.
pub fn read_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}
