//! Shared by the crate's integration tests: an HTTP client and doubles to run.

#![allow(dead_code)] // each test binary uses part of it

use ferry_doubles::RunningDouble;
use ferry_doubles::reference::{AuthMode, ReferenceConfig, ReferenceDouble};
use serde_json::Value;

/// A reqwest client; installs the ring TLS provider as Ferry's HTTP client does (reqwest is
/// built without one).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .expect("a reqwest client builds")
}

/// The reference double with `config`.
pub async fn start(config: ReferenceConfig) -> RunningDouble {
    ferry_doubles::start(ReferenceDouble::new(config), 0)
        .await
        .expect("the double starts")
}

/// The reference double without authentication.
pub async fn start_open() -> RunningDouble {
    start(ReferenceConfig {
        auth: AuthMode::None,
        ..ReferenceConfig::default()
    })
    .await
}

/// GET `url`, expecting JSON; returns the status and the body.
pub async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.expect("the double answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// POST `pairs` as `application/x-www-form-urlencoded` (reqwest is built without its form
/// feature).
pub fn post_form(
    client: &reqwest::Client,
    url: &str,
    pairs: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
}
