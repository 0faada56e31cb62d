//! Microsoft Entra ID's token endpoint (client credentials, v2.0) and the bearer check on
//! every Web API request.

use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::Ctx;
use crate::reply::Reply;
use crate::sessions::SessionState;

fn form(body: &[u8]) -> Vec<(String, String)> {
    url_form(&String::from_utf8_lossy(body))
}

/// `a=1&b=2`, `+` and percent escapes decoded.
pub fn url_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn aad_error(status: StatusCode, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": error, "error_description": description, "error_codes": [],
                "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string()}),
    )
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub fn token(ctx: &Ctx, tenant: &str, body: &[u8]) -> Reply {
    let c = &ctx.config;
    let form = form(body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if tenant != c.tenant {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    if field("grant_type") != Some("client_credentials") {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != Some(c.client_id.as_str()) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if field("client_secret") != Some(c.client_secret.as_str()) {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    let scope = format!("{}/.default", ctx.harness.base_url());
    if field("scope") != Some(scope.as_str()) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!(
                "AADSTS70011: The provided request must include a 'scope' input parameter of the form '{scope}'."
            ),
        );
    }
    let ttl = c.token_ttl;
    let token = ctx
        .harness
        .sessions()
        .issue(&format!("app:{}", c.client_id), ttl);
    Reply::json(
        StatusCode::OK,
        &json!({"token_type": "Bearer", "expires_in": ttl.as_secs(),
                "ext_expires_in": ttl.as_secs(), "access_token": format!("eyJ0.{token}")}),
    )
}

/// The caller, or Dataverse's 401.
pub fn check(ctx: &Ctx, headers: &HeaderMap) -> Result<String, Reply> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().trim_start_matches("eyJ0."));
    let refusal = |value: String| {
        Reply::new(StatusCode::UNAUTHORIZED, "text/plain", Vec::new())
            .header("www-authenticate", value)
    };
    let authority = format!(
        "Bearer authorization_uri={}/{}/oauth2/authorize, resource_id={}/",
        ctx.harness.base_url(),
        ctx.config.tenant,
        ctx.harness.base_url()
    );
    match bearer.map(|t| ctx.harness.sessions().check(t)) {
        Some(SessionState::Valid(subject)) => Ok(subject),
        Some(SessionState::Expired) => Err(refusal(format!(
            "{authority}, error=\"invalid_token\", error_description=\"The access token expired\""
        ))),
        _ => Err(refusal(authority)),
    }
}
