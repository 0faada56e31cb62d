//! Token-Based Authentication: the OAuth 1.0a signature recomputed from the request
//! (RFC 5849 §3.4 with HMAC-SHA256, as the dossier describes NetSuite's).

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, Uri};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::collections::BTreeMap;
use std::sync::PoisonError;

use super::{Ctx, NetSuiteConfig, NsError};

/// RFC 3986 unreserved characters stay; everything else is encoded (RFC 5849 §3.6).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn pct(text: &str) -> String {
    utf8_percent_encode(text, RFC3986).to_string()
}

/// The `Authorization` header a client with `config`'s token sends for `method url` at
/// `timestamp` with `nonce`: for tests and hand-made requests (`curl`) to the double.
pub fn header(
    config: &NetSuiteConfig,
    method: &str,
    url: &str,
    timestamp: i64,
    nonce: &str,
) -> String {
    let parsed = reqwest::Url::parse(url).expect("an absolute URL");
    let query: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let mut bare = parsed.clone();
    bare.set_query(None);
    let oauth: BTreeMap<String, String> = [
        ("oauth_consumer_key", config.consumer_key.as_str()),
        ("oauth_token", config.token_id.as_str()),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", &timestamp.to_string()),
        ("oauth_nonce", nonce),
        ("oauth_version", "1.0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let base = base_string(method, bare.as_str(), &oauth, &query);
    let signature = sign(&base, &config.consumer_secret, &config.token_secret);
    let fields: Vec<String> = oauth
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", pct(v)))
        .chain([format!("oauth_signature=\"{}\"", pct(&signature))])
        .collect();
    format!("OAuth realm=\"{}\", {}", config.realm(), fields.join(", "))
}

/// The parameters of an `Authorization: OAuth k="v", …` header, values decoded.
pub fn parse_header(value: &str) -> Option<BTreeMap<String, String>> {
    let rest = value.trim().strip_prefix("OAuth ")?;
    let mut params = BTreeMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        let v = percent_decode_str(v).decode_utf8().ok()?.into_owned();
        params.insert(k.trim().to_owned(), v);
    }
    Some(params)
}

/// The signature base string of a request (`base_url` without the query).
pub fn base_string(
    method: &str,
    base_url: &str,
    oauth: &BTreeMap<String, String>,
    query: &[(String, String)],
) -> String {
    let mut params: Vec<(String, String)> = oauth
        .iter()
        .filter(|(k, _)| k.as_str() != "realm" && k.as_str() != "oauth_signature")
        .map(|(k, v)| (pct(k), pct(v)))
        .chain(query.iter().map(|(k, v)| (pct(k), pct(v))))
        .collect();
    params.sort();
    let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        pct(base_url),
        pct(&joined.join("&"))
    )
}

/// base64 HMAC-SHA256 of `base` under `consumer_secret&token_secret`.
pub fn sign(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", pct(consumer_secret), pct(token_secret));
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks the request's TBA header; the refusal NetSuite would answer otherwise.
pub(super) fn verify(
    ctx: &Ctx,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), NsError> {
    let refuse = |why: &str| Err(NsError::login(format!("Invalid login attempt. {why}")));
    let Some(header) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return refuse("No Authorization header.");
    };
    let Some(oauth) = parse_header(header) else {
        return refuse("The Authorization header is not an OAuth header.");
    };
    let c = &ctx.config;
    let get = |k: &str| oauth.get(k).map(String::as_str).unwrap_or("");
    if get("realm") != c.realm() {
        return refuse("Unknown account (realm).");
    }
    if get("oauth_consumer_key") != c.consumer_key || get("oauth_token") != c.token_id {
        return refuse("Unknown consumer key or token.");
    }
    if get("oauth_signature_method") != "HMAC-SHA256" {
        return refuse("Unsupported signature method.");
    }
    if get("oauth_nonce").len() < 6 {
        return refuse("The nonce is too short.");
    }
    let Ok(timestamp) = get("oauth_timestamp").parse::<i64>() else {
        return refuse("Missing timestamp.");
    };
    // Real time, not the store's clock: tests freeze that to stamp records.
    let off = (chrono::Utc::now().timestamp() - timestamp).unsigned_abs();
    if off > c.skew.as_secs() {
        return refuse("The timestamp is too far from the server's clock.");
    }
    let full = format!("{}{}", ctx.harness.base_url(), uri);
    let url = reqwest::Url::parse(&full).map_err(|_| NsError::login("Invalid login attempt."))?;
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let mut bare = url.clone();
    bare.set_query(None);
    let base = base_string(method.as_str(), bare.as_str(), &oauth, &query);
    if sign(&base, &c.consumer_secret, &c.token_secret) != get("oauth_signature") {
        return refuse("The signature does not match.");
    }
    let seen = (
        get("oauth_timestamp").to_owned(),
        get("oauth_nonce").to_owned(),
    );
    let mut nonces = ctx
        .shared
        .nonces
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if !nonces.insert(seen) {
        return refuse("The nonce was used before.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_a_vector_computed_independently() {
        // The vector of ferry-kit's TBA test, computed with Python from the dossier's rules.
        let oauth: BTreeMap<String, String> = [
            ("oauth_consumer_key", "ck-123"),
            ("oauth_token", "tok-456"),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", "1715000000"),
            ("oauth_nonce", "n0nc3xyz"),
            ("oauth_version", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let query = [
            ("limit", "10"),
            ("q", r#"companyName START_WITH "Ac me&Co""#),
            ("offset", "0"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer";
        let base = base_string("GET", url, &oauth, &query);
        assert_eq!(
            sign(&base, "cons/secret+1", "tok secret~2"),
            "02SPZbpK9WF2B/WbTr9e6XP0ztc0MEYy844hCLUxIvs="
        );
        let header = r#"OAuth realm="1_SB1", oauth_nonce="a%2Fb", oauth_token="t""#;
        let parsed = parse_header(header).unwrap();
        assert_eq!(parsed["oauth_nonce"], "a/b");
        assert_eq!(parsed["realm"], "1_SB1");
    }
}
