//! A faulting proxy in front of a **real** server: every request is passed on to the
//! upstream as it came and its answer passed back, unless a [`Fault`](crate::Fault) acts on
//! it first. It is not a double: the answers are the real system's. It lets the
//! conformance suite and the peer tests put 503 bursts, 429 + `Retry-After`, latency and
//! dropped connections between a connector and a real Tryton or BottleCRM, which cannot be
//! told to fail on demand.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::proxy::Proxy;
//! use ferry_doubles::{Fault, FaultAction};
//!
//! let proxy = ferry_doubles::start(Proxy::to("http://127.0.0.1:8000"), 0).await?;
//! proxy.faults().add(Fault::new(FaultAction::status(503)).on("POST", "/**").times(2));
//! // Point the connector at proxy.base_url() instead of the server.
//! # Ok(()) }
//! ```
//!
//! The proxy also remembers the last value of each request header it passed on
//! ([`Proxy::last_header`]), so a test can act with the connector's own session, e.g. log
//! it out at the server to see the connector log in again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::harness::{Double, Harness};
use crate::store::RecordStore;

/// Largest request body passed on (the connectors' batches are far smaller).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A proxy to one upstream server. Cheap to clone; clones share the remembered headers.
#[derive(Clone)]
pub struct Proxy {
    upstream: Arc<str>,
    client: reqwest::Client,
    last_headers: Arc<Mutex<HashMap<String, HeaderValue>>>,
}

impl Proxy {
    /// A proxy passing every request on to `upstream` (`http://host:port`, a path prefix
    /// allowed), the request's path and query appended.
    pub fn to(upstream: &str) -> Self {
        // reqwest is built without a default TLS provider; the binary and tests pick ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with default settings builds");
        Self {
            upstream: upstream.trim_end_matches('/').into(),
            client,
            last_headers: Arc::default(),
        }
    }

    /// The last value of request header `name` (any case) passed on, e.g. the connector's
    /// `authorization`.
    pub fn last_header(&self, name: &str) -> Option<HeaderValue> {
        let headers = self
            .last_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        headers.get(&name.to_ascii_lowercase()).cloned()
    }

    fn remember(&self, headers: &HeaderMap) {
        let mut last = self
            .last_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (name, value) in headers {
            last.insert(name.as_str().to_owned(), value.clone());
        }
    }

    async fn pass_on(&self, request: Request) -> Result<Response, String> {
        let (parts, body) = request.into_parts();
        self.remember(&parts.headers);
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{}{path}", self.upstream);
        let body = to_bytes(body, MAX_BODY)
            .await
            .map_err(|e| format!("reading the request body: {e}"))?;
        let mut headers = parts.headers;
        for hop in [HOST, CONNECTION, TRANSFER_ENCODING, CONTENT_LENGTH] {
            headers.remove(hop);
        }
        let answer = self
            .client
            .request(parts.method, &url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = answer.status();
        let mut headers = answer.headers().clone();
        for hop in [CONNECTION, TRANSFER_ENCODING, CONTENT_LENGTH] {
            headers.remove(hop);
        }
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    match proxy.pass_on(request).await {
        Ok(response) => response,
        Err(why) => (
            StatusCode::BAD_GATEWAY,
            format!("the proxy could not reach the upstream server: {why}"),
        )
            .into_response(),
    }
}

impl Double for Proxy {
    fn name(&self) -> &'static str {
        "proxy"
    }

    fn seed(&self, _store: &RecordStore) {}

    fn routes(&self, _harness: &Harness) -> Router {
        Router::new().fallback(forward).with_state(self.clone())
    }

    /// A proxy has no vendor shape of its own: an error inside a 200 is a plain JSON object.
    fn error_in_ok(&self, _path: &str, code: &str, message: &str) -> Response {
        let body = serde_json::json!({"error": {"code": code, "message": message}});
        (StatusCode::OK, axum::Json(body)).into_response()
    }

    fn describe(&self) -> Vec<String> {
        vec![format!(
            "a faulting proxy to {} (answers are the real server's)",
            self.upstream
        )]
    }
}
