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
