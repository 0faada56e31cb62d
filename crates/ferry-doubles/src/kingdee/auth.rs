//! Logging in (`ValidateUser`, `LoginByAppSecret`, `LoginBySign`) and the session check on
//! every other call: the `kdservice-sessionid` cookie or header, or the "API signature"
//! headers.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::Ctx;
use super::answer;
use super::catalog;
use super::request::{Call, text};
use crate::sessions::SessionState;

/// The cookie (and plain header) carrying the session id (`KDSVCSessionId`).
pub const SESSION_COOKIE: &str = "kdservice-sessionid";
/// The second cookie the server sets; the double does not need it back.
pub const ASPNET_COOKIE: &str = "ASP.NET_SessionId";

/// The headers of the "API signature" scheme (SDK auth type 3): a request carrying all of
/// them, for the configured app, needs no session.
pub const SIGNATURE_HEADERS: [&str; 9] = [
    "x-api-auth-version",
    "x-api-clientid",
    "x-api-timestamp",
    "x-api-nonce",
    "x-api-signheaders",
    "x-api-signature",
    "x-kd-appkey",
    "x-kd-appdata",
    "x-kd-signature",
];

/// Why a login was refused: `LoginResultType` and the message.
struct LoginRefusal {
    result_type: i64,
    message: String,
}

impl LoginRefusal {
    fn new(result_type: i64, message: impl Into<String>) -> Self {
        Self {
            result_type,
            message: message.into(),
        }
    }

    fn wrong_password() -> Self {
        Self::new(0, "用户名或密码错误！")
    }
}

/// `AuthService.ValidateUser`: acctid, username, password, lcid.
pub fn validate_user(ctx: &Ctx, call: &Call) -> Response {
    let checked = check_acct(ctx, &call.data).and_then(|()| {
        let user = ctx.config.user(text(&call.data, "username"));
        match user {
            Some(u) if u.password == text(&call.data, "password") => Ok(u.name.clone()),
            _ => Err(LoginRefusal::wrong_password()),
        }
    });
    answer_login(ctx, checked)
}

/// `AuthService.LoginByAppSecret`: acctid, username, appid, appsecret, lcid.
pub fn login_by_app_secret(ctx: &Ctx, call: &Call) -> Response {
    let checked = check_acct(ctx, &call.data)
        .and_then(|()| check_app(ctx, &call.data))
        .and_then(|()| {
            if text(&call.data, "appsecret") == ctx.config.app_secret {
                known_user(ctx, &call.data)
            } else {
                Err(LoginRefusal::new(
                    -1,
                    "第三方系统登录授权验证失败：应用密钥不正确",
                ))
            }
        });
    answer_login(ctx, checked)
}

/// `AuthService.LoginBySign`: acctid, username, appid, timestamp (seconds), sign, lcid,
/// where sign = hex(SHA-256(the five values sorted and joined)).
pub fn login_by_sign(ctx: &Ctx, call: &Call) -> Response {
    let data = &call.data;
    let checked = check_acct(ctx, data)
        .and_then(|()| check_app(ctx, data))
        .and_then(|()| {
            let timestamp = scalar_text(data.get("timestamp"));
            check_timestamp(ctx, &timestamp)?;
            let expected = sign(&[
                text(data, "acctid"),
                text(data, "username"),
                text(data, "appid"),
                &ctx.config.app_secret,
                &timestamp,
            ]);
            if text(data, "sign").eq_ignore_ascii_case(&expected) {
                known_user(ctx, data)
            } else {
                Err(LoginRefusal::new(-1, "签名验证失败"))
            }
        });
    answer_login(ctx, checked)
}

/// The `LoginBySign` signature of `values`: sorted, joined without separators, SHA-256,
/// lower-case hex.
pub fn sign(values: &[&str]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let digest = Sha256::digest(sorted.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn scalar_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A timestamp in seconds (milliseconds are accepted too) within the allowed age of the
/// machine's real clock, either way.
fn check_timestamp(ctx: &Ctx, timestamp: &str) -> Result<(), LoginRefusal> {
    let Ok(mut seconds) = timestamp.trim().parse::<i64>() else {
        return Err(LoginRefusal::new(-1, "时间戳格式不正确"));
    };
    if seconds > 100_000_000_000 {
        seconds /= 1000;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let max_age = ctx.config.sign_max_age.as_secs() as i64;
    if (now - seconds).abs() > max_age {
        return Err(LoginRefusal::new(-1, "时间戳已过期，请检查服务器时间"));
    }
    Ok(())
}

fn check_acct(ctx: &Ctx, data: &Map<String, Value>) -> Result<(), LoginRefusal> {
    let acct = text(data, "acctid");
    if acct == ctx.config.acct_id {
        Ok(())
    } else {
        Err(LoginRefusal::new(-1, format!("数据中心[{acct}]不存在")))
    }
}

fn check_app(ctx: &Ctx, data: &Map<String, Value>) -> Result<(), LoginRefusal> {
    if text(data, "appid") == ctx.config.app_id {
        Ok(())
    } else {
        Err(LoginRefusal::new(
            -1,
            "第三方系统登录授权验证失败：应用ID不存在或已禁用",
        ))
    }
}

fn known_user(ctx: &Ctx, data: &Map<String, Value>) -> Result<String, LoginRefusal> {
    let name = text(data, "username");
    ctx.config
        .user(name)
        .map(|u| u.name.clone())
        .ok_or_else(|| LoginRefusal::new(0, format!("用户[{name}]不存在")))
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// The `LoginResult` body, with the session cookies on success.
fn answer_login(ctx: &Ctx, checked: Result<String, LoginRefusal>) -> Response {
    let user_name = match checked {
        Ok(name) => name,
        Err(refusal) => return answer::ok(login_failed(&refusal)),
    };
    let session = ctx
        .harness
        .sessions()
        .issue(&user_name, ctx.config.session_idle);
    let aspnet = random_hex(12);
    let user_id = ctx.config.user(&user_name).map_or(0, |u| u.user_id);
    let org = &catalog::ORGS[0];
    let body = json!({
        "Message": null, "MessageCode": null, "LoginResultType": 1,
        "Context": {
            "UserName": user_name, "UserId": user_id, "DBid": ctx.config.acct_id,
            "SessionId": aspnet, "UserToken": random_hex(16),
            "CurrentOrganizationInfo": {"ID": org.id, "Name": org.name},
            "DataCenterName": ctx.config.data_center_name,
        },
        "KDSVCSessionId": session, "FormId": null, "ErrorStackTrace": null, "Lcid": 0,
        "AccessToken": null, "KdAccessResult": null, "IsSuccessByAPI": true,
    });
    let mut response = answer::ok(body);
    for cookie in [
        format!("{SESSION_COOKIE}={session}; path=/"),
        format!("{ASPNET_COOKIE}={aspnet}; path=/; HttpOnly"),
    ] {
        if let Ok(value) = HeaderValue::try_from(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

fn login_failed(refusal: &LoginRefusal) -> Value {
    json!({
        "Message": refusal.message, "MessageCode": null, "LoginResultType": refusal.result_type,
        "Context": null, "KDSVCSessionId": null, "FormId": null, "ErrorStackTrace": null,
        "Lcid": 0, "AccessToken": null, "KdAccessResult": null, "IsSuccessByAPI": false,
    })
}

/// `AccountService.GetDataCenterList`: the one data centre.
pub fn data_centers(ctx: &Ctx) -> Response {
    answer::ok(json!([{
        "Id": ctx.config.acct_id, "Number": ctx.config.acct_id,
        "Name": ctx.config.data_center_name, "DatabaseType": 3, "Version": "8.2",
    }]))
}

/// Whether a call may go on: a live session (renewed by the call), or the signature
/// headers for the configured app.
pub fn admitted(ctx: &Ctx, headers: &HeaderMap) -> bool {
    if let Some(id) = session_id(headers) {
        let sessions = ctx.harness.sessions();
        if let SessionState::Valid(_) = sessions.check(id) {
            sessions.renew(id, ctx.config.session_idle);
            return true;
        }
    }
    signed(ctx, headers)
}

/// The session id of a call: the `kdservice-sessionid` header, else the cookie.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    if let Some(id) = headers.get(SESSION_COOKIE).and_then(|v| v.to_str().ok()) {
        return Some(id.trim());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case(SESSION_COOKIE))
        .map(|(_, id)| id.trim())
}

/// All signature headers present, `X-Kd-Appkey` the configured app and `X-Kd-Appdata`
/// naming the data centre. The HMACs themselves are not verified (see the README).
fn signed(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if SIGNATURE_HEADERS.iter().any(|h| value(h).is_none()) {
        return false;
    }
    let app_data = value("x-kd-appdata")
        .and_then(|d| STANDARD.decode(d).ok())
        .and_then(|d| String::from_utf8(d).ok())
        .unwrap_or_default();
    value("x-kd-appkey") == Some(ctx.config.app_id.as_str())
        && app_data.split(',').next() == Some(ctx.config.acct_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_is_the_sha256_of_the_sorted_values() {
        // sorted: "1700000000" < "Administrator" < "acct" < "app" < "secret"
        let expected = Sha256::digest(b"1700000000Administratoracctappsecret");
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            sign(&["acct", "Administrator", "app", "secret", "1700000000"]),
            hex
        );
    }
}
