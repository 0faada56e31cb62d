//! The self-built app token (自建应用 access_token): the signed `getAccessToken` request,
//! and the check of `access_token` on every gateway call.
//!
//! `signature = URLEncode(Base64(HmacSHA256(key = appSecret, msg)))` where `msg` is every
//! query parameter but `signature`, sorted by name, written name + value with nothing
//! between (`"appKey" + appKey + "timestamp" + timestamp`); the timestamp is in
//! milliseconds. Tokens live in the harness `SessionBook`, so an `ExpireSessions` fault
//! expires them.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use sha2::Sha256;

use super::Ctx;
use super::envelope::{self, AUTH_OK_CODE, YyError};
use crate::sessions::SessionState;

/// Base64 of HmacSHA256 over `message` keyed with `secret`.
pub fn hmac_sha256_base64(secret: &str, message: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// What is signed: the parameters but `signature`, sorted by name, as name + value.
pub fn signing_text(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.iter().map(|(k, v)| format!("{k}{v}")).collect()
}

/// The `signature` of a token request for `app_key` at `timestamp_ms`, as it is put in the
/// URL: Base64 of the HMAC, URL-encoded once (`+` → `%2B`, `/` → `%2F`, `=` → `%3D`).
pub fn token_signature(app_key: &str, timestamp_ms: u64, app_secret: &str) -> String {
    let params = [
        ("appKey".to_owned(), app_key.to_owned()),
        ("timestamp".to_owned(), timestamp_ms.to_string()),
    ];
    url_encode(&hmac_sha256_base64(app_secret, &signing_text(&params)))
}

/// Percent-encodes everything but ASCII letters and digits.
pub fn url_encode(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// Milliseconds since the epoch by the machine's real clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `GET {tokenUrl}/open-auth/selfAppAuth[/base/v1]/getAccessToken?appKey&timestamp&signature`.
pub fn issue(ctx: &Ctx, params: &[(String, String)]) -> Response {
    match check_request(ctx, params) {
        Ok(()) => {
            let lifetime = ctx.config.token_lifetime;
            let token = ctx.harness.sessions().issue(&ctx.config.app_key, lifetime);
            envelope::answer(json!({
                "code": AUTH_OK_CODE,
                "message": "成功！",
                "data": {"access_token": token, "expire": lifetime.as_secs()},
            }))
        }
        Err(e) => e.into_response(),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The app, then the timestamp, then the signature.
fn check_request(ctx: &Ctx, params: &[(String, String)]) -> Result<(), YyError> {
    if param(params, "appKey") != ctx.config.app_key {
        return Err(YyError::coded("10018", "应用不存在或appKey已停用"));
    }
    let timestamp = param(params, "timestamp");
    let Ok(sent_ms) = timestamp.parse::<u64>() else {
        return Err(YyError::coded(
            "310003",
            format!("获取token失败：时间戳[{timestamp}]格式不正确，应为毫秒数"),
        ));
    };
    let tolerance = u64::try_from(ctx.config.timestamp_tolerance.as_millis()).unwrap_or(u64::MAX);
    if now_ms().abs_diff(sent_ms) > tolerance {
        return Err(YyError::coded(
            "310003",
            format!("获取token失败：时间戳[{timestamp}]已过期"),
        ));
    }
    let expected = hmac_sha256_base64(&ctx.config.app_secret, &signing_text(params));
    if param(params, "signature") != expected {
        return Err(YyError::coded("310003", "获取token失败：签名验证失败"));
    }
    Ok(())
}

/// The `access_token` of a gateway call: absent → 310001, not issued or expired → 310036.
pub fn check_access(ctx: &Ctx, params: &[(String, String)]) -> Result<(), YyError> {
    let token = param(params, "access_token");
    if token.is_empty() {
        return Err(YyError::token_missing());
    }
    match ctx.harness.sessions().check(token) {
        SessionState::Valid(_) => Ok(()),
        SessionState::Expired | SessionState::Unknown => Err(YyError::token_invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_signs_sorted_names_and_values_without_separators() {
        let params = [
            ("timestamp".to_owned(), "1568098531823".to_owned()),
            ("signature".to_owned(), "ignored".to_owned()),
            ("appKey".to_owned(), "k".to_owned()),
        ];
        assert_eq!(signing_text(&params), "appKeyktimestamp1568098531823");
        let raw = hmac_sha256_base64("s", "appKeyktimestamp1568098531823");
        assert_eq!(raw.len(), 44);
        let encoded = token_signature("k", 1568098531823, "s");
        assert_eq!(
            encoded,
            raw.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        );
    }

    /// Computed independently with Python (`hmac`, `base64`, `urllib.parse.quote`).
    #[test]
    fn a_known_answer_from_an_independent_implementation() {
        assert_eq!(
            token_signature("yy-app-key", 1_568_098_531_823, "yy-app-s3cret"),
            "T7eFm3Ew5yStpAcK6DwSSQjJpnyqoPgr%2F2Q31UJOKnA%3D"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        // Key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha256_base64("Jefe", "what do ya want for nothing?");
        let hex: String = STANDARD
            .decode(mac)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
