//! The control endpoints every double serves under `/_double/`, for scripts and for tests
//! that drive a double over HTTP. They are not faulted and not logged.
//!
//! | Endpoint | Does |
//! |---|---|
//! | `GET /_double` | name, base URL, what the double serves |
//! | `GET /_double/faults` | the faults with their counters (`seen`, `fired`) |
//! | `POST /_double/faults` | adds one fault (JSON object) or several (array), see [`Fault`] |
//! | `DELETE /_double/faults` | removes every fault |
//! | `GET /_double/requests` | the request log, see [`crate::LoggedRequest`] |
//! | `DELETE /_double/requests` | empties the request log |
//! | `POST /_double/sessions/expire` | expires every session and token now |
//! | `POST /_double/clock` | `{"freeze_at": "<RFC 3339>"}`, `{"advance_secs": n}` or `{"resume": true}` |
//! | `POST /_double/reset` | no faults, no log, no sessions, seed records again |
//!
//! A body that cannot be read is answered 400 with `{"error": "<what is wrong, where>"}`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::faults::{Fault, FaultAction};
use crate::harness::Harness;

/// The control routes of `harness`'s double.
pub(crate) fn routes(harness: Harness) -> Router {
    Router::new()
        .route("/_double", get(info))
        .route(
            "/_double/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/_double/requests", get(requests).delete(clear_requests))
        .route("/_double/sessions/expire", post(expire_sessions))
        .route("/_double/clock", post(set_clock))
        .route("/_double/reset", post(reset))
        .with_state(harness)
}

async fn info(State(h): State<Harness>) -> Json<serde_json::Value> {
    Json(json!({
        "double": h.double().name(),
        "base_url": h.base_url(),
        "about": h.double().describe(),
    }))
}

async fn list_faults(State(h): State<Harness>) -> Response {
    Json(h.faults().list()).into_response()
}

async fn add_faults(State(h): State<Harness>, body: Bytes) -> Response {
    let parsed = match read::<serde_json::Value>(&body) {
        Ok(many @ serde_json::Value::Array(_)) => serde_json::from_value::<Vec<Fault>>(many),
        Ok(one) => serde_json::from_value::<Fault>(one).map(|f| vec![f]),
        Err(message) => return bad_request(message),
    };
    let faults = match parsed {
        Ok(faults) => faults,
        Err(e) => return bad_request(format!("body: {e}")),
    };
    if let Some(problem) = faults.iter().enumerate().find_map(|(i, f)| check(i, f)) {
        return bad_request(problem);
    }
    let added = faults.len();
    for fault in faults {
        h.faults().add(fault);
    }
    (StatusCode::CREATED, Json(json!({ "added": added }))).into_response()
}

/// What is wrong with fault number `index` that serde cannot see.
fn check(index: usize, fault: &Fault) -> Option<String> {
    match &fault.action {
        FaultAction::Status { status, .. } if !(100..=599).contains(status) => Some(format!(
            "fault {index}: action.status: {status} is not an HTTP status (100-599)"
        )),
        _ => None,
    }
}

async fn clear_faults(State(h): State<Harness>) -> StatusCode {
    h.faults().clear();
    StatusCode::NO_CONTENT
}

async fn requests(State(h): State<Harness>) -> Response {
    Json(h.requests().all()).into_response()
}

async fn clear_requests(State(h): State<Harness>) -> StatusCode {
    h.requests().clear();
    StatusCode::NO_CONTENT
}

async fn expire_sessions(State(h): State<Harness>) -> StatusCode {
    h.sessions().expire_all();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum ClockChange {
    FreezeAt(DateTime<Utc>),
    AdvanceSecs(i64),
    Resume(bool),
}

async fn set_clock(State(h): State<Harness>, body: Bytes) -> Response {
    match read::<ClockChange>(&body) {
        Ok(ClockChange::FreezeAt(at)) => h.clock().freeze_at(at),
        Ok(ClockChange::AdvanceSecs(s)) => h.clock().advance(chrono::Duration::seconds(s)),
        Ok(ClockChange::Resume(true)) => h.clock().resume(),
        Ok(ClockChange::Resume(false)) => {}
        Err(message) => return bad_request(message),
    }
    Json(json!({ "now": crate::store::stamp(h.clock().now()) })).into_response()
}

async fn reset(State(h): State<Harness>) -> StatusCode {
    h.reset();
    StatusCode::NO_CONTENT
}

/// The body as JSON, or why not.
fn read<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("body: {e}"))
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}
