//! The Jiandaoyun double's own control endpoints, beside the shared ones under `/_double/`
//! (not faulted, not logged), for driving the data push by hand:
//!
//! | Endpoint | Does |
//! |---|---|
//! | `GET /_double/jiandaoyun/push` | the push's status and every delivery |
//! | `POST /_double/jiandaoyun/push` | `{"url": "<url>"\|null}` sets the URL, `{"enable": true}` enables it again |
//! | `POST /_double/jiandaoyun/push/send` | `{"op", "entry_id", "data_id"}` sends a notice for a stored record |

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::JiandaoyunDouble;

/// The control routes of the double.
pub fn routes(double: JiandaoyunDouble) -> Router {
    Router::new()
        .route("/_double/jiandaoyun/push", get(status).post(configure))
        .route("/_double/jiandaoyun/push/send", post(send))
        .with_state(double)
}

async fn status(State(double): State<JiandaoyunDouble>) -> Response {
    let push = double.push();
    Json(json!({ "status": push.status(), "deliveries": push.deliveries() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Configure {
    #[serde(default)]
    url: Option<Option<String>>,
    #[serde(default)]
    enable: bool,
}

async fn configure(State(double): State<JiandaoyunDouble>, body: Bytes) -> Response {
    let change: Configure = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(e) => return bad_request(format!("body: {e}")),
    };
    if let Some(url) = change.url {
        double.push().set_url(url.as_deref());
    }
    if change.enable {
        double.push().enable();
    }
    Json(double.push().status()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Send {
    op: String,
    entry_id: String,
    data_id: String,
}

async fn send(State(double): State<JiandaoyunDouble>, body: Bytes) -> Response {
    let notice: Send = match serde_json::from_slice(&body) {
        Ok(notice) => notice,
        Err(e) => return bad_request(format!("body: {e}")),
    };
    match double
        .push_record(&notice.op, &notice.entry_id, &notice.data_id)
        .await
    {
        Some(delivery) => Json(delivery).into_response(),
        None => bad_request("no such record, or no push URL set".into()),
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}
