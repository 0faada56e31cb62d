//! HTTPS with a certificate from `server.tls` (a self-signed one made with the `openssl`
//! command), and the console's `Secure` cookie over it. Without openssl the test says
//! SKIPPED, or fails under `CI=true`.

mod common;

use std::process::Command;

use common::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("openssl is required in CI to make a test certificate");
        }
        eprintln!("SKIPPED: the openssl command is not available to make a test certificate");
        return;
    }
    let s = start(&format!(
        "  tls: {{ cert: \"{}\", key: \"{}\" }}",
        cert.display(),
        key.display()
    ))
    .await;
    assert!(s.url.starts_with("https://"));
    let r = s
        .get("/api/v1/flows")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The console's session cookie is marked Secure over TLS.
    let browser = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser
        .post(format!("{}/console/login", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={}", s.viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("; HttpOnly") && cookie.ends_with("; Secure"),
        "{cookie}"
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = s.url.replacen("https://", "http://", 1);
    assert!(
        reqwest::get(format!("{plain}/healthz"))
            .await
            .map(|r| r.status() != StatusCode::OK)
            .unwrap_or(true)
    );
}
