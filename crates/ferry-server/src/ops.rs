//! Operations: `/metrics` (Prometheus text; a viewer key), `/healthz` (the process answers)
//! and `/readyz` (the store answers and the config is loaded), the last two without a key so
//! that load balancers and orchestrators can probe them.
//!
//! Metrics go through the `metrics` facade: the engine counts records by flow and outcome
//! (`ferry_records_total`) and times queued requests (`ferry_sync_latency_seconds`); the
//! server counts webhooks (`ferry_webhooks_total`) and, at each scrape, reads queue depth and
//! open dead letters per flow from the store (`ferry_queue_depth`, `ferry_dead_letters_open`).

use std::sync::OnceLock;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::AppState;
use crate::auth::Viewer;
use crate::error::ApiError;

/// Queue items waiting, by flow.
pub const QUEUE_DEPTH: &str = "ferry_queue_depth";
/// Open dead letters, by flow.
pub const DEAD_LETTERS_OPEN: &str = "ferry_dead_letters_open";
/// Webhook requests, by system and result.
pub const WEBHOOKS_TOTAL: &str = "ferry_webhooks_total";

/// Latency buckets in seconds (a queued request is usually done within a second or two).
const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
pub fn install_metrics() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets_for_metric(
                Matcher::Full(ferry_engine::telemetry::SYNC_LATENCY.into()),
                LATENCY_BUCKETS,
            ) {
                Ok(b) => b,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("Another metrics recorder is installed; /metrics stays empty.");
            }
            handle
        })
        .clone()
}

/// `/metrics`, `/healthz`, `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn metrics_text(
    _caller: Viewer,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let handle = install_metrics();
    for flow in state.store().flow_states().await? {
        metrics::gauge!(QUEUE_DEPTH, "flow" => flow.flow.clone()).set(flow.queued as f64);
        metrics::gauge!(DEAD_LETTERS_OPEN, "flow" => flow.flow).set(flow.dead_letters as f64);
    }
    handle.run_upkeep();
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    ))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store().queue_depth(None).await {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "store": "ok",
                "config": "loaded",
                "flows": state.engine.flows().count(),
            })),
        ),
        Err(e) => {
            tracing::warn!(error = ?e.to_string(), "Not ready: the state store does not answer.");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not ready", "store": "unreachable", "config": "loaded"})),
            )
        }
    }
}
