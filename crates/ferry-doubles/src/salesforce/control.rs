//! The Salesforce double's own control endpoints (not faulted, not logged):
//!
//! | Endpoint | Does |
//! |---|---|
//! | `GET /_double/salesforce/events` | the retained change events |
//! | `POST /_double/salesforce/events/drop` | `{"through": <replayId>}`: drops events up to it (all when absent) |
//! | `POST /_double/salesforce/limits` | `{"used": n}`: sets the API requests counted |
//! | `POST /_double/salesforce/cursors/expire` | forgets every open query cursor |

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::SalesforceDouble;

pub fn routes(double: SalesforceDouble) -> Router {
    Router::new()
        .route("/_double/salesforce/events", get(events))
        .route("/_double/salesforce/events/drop", post(drop_events))
        .route("/_double/salesforce/limits", post(set_usage))
        .route("/_double/salesforce/cursors/expire", post(expire_cursors))
        .with_state(double)
}

async fn events(State(d): State<SalesforceDouble>) -> Json<Value> {
    let list: Vec<Value> = d
        .change_events()
        .into_iter()
        .map(|e| json!({"replayId": e.replay_id, "entity": e.entity, "payload": e.payload}))
        .collect();
    Json(Value::Array(list))
}

async fn drop_events(State(d): State<SalesforceDouble>, body: Option<Json<Value>>) -> Json<Value> {
    let through = body
        .and_then(|Json(b)| b["through"].as_i64())
        .unwrap_or(i64::MAX);
    d.drop_events_through(through);
    Json(json!({"dropped_through": through}))
}

async fn set_usage(State(d): State<SalesforceDouble>, Json(body): Json<Value>) -> Json<Value> {
    d.set_api_usage(body["used"].as_u64().unwrap_or(0));
    Json(json!({"used": d.api_usage()}))
}

async fn expire_cursors(State(d): State<SalesforceDouble>) -> Json<Value> {
    d.expire_query_cursors();
    Json(json!({"expired": true}))
}
