//! The Shopify double's own control endpoints (not faulted, not logged):
//!
//! | Endpoint | Does |
//! |---|---|
//! | `GET /_double/shopify/webhooks` | the subscription URL and every delivery |
//! | `POST /_double/shopify/webhooks` | `{"url": "<url>"\|null}` sets the subscription URL |
//! | `POST /_double/shopify/webhooks/send` | `{"topic": "customers/update", "id": "gid://shopify/Customer/1"}` sends one now; answers the delivery |

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{Ctx, object_of_gid, resolve};

pub fn routes(ctx: Ctx) -> Router {
    Router::new()
        .route("/_double/shopify/webhooks", get(status).post(configure))
        .route("/_double/shopify/webhooks/send", post(send))
        .with_state(ctx)
}

async fn status(State(ctx): State<Ctx>) -> Json<Value> {
    let w = &ctx.shared.webhooks;
    Json(json!({"url": w.url(), "deliveries": w.deliveries()}))
}

async fn configure(State(ctx): State<Ctx>, Json(body): Json<Value>) -> Json<Value> {
    ctx.shared.webhooks.set_url(body["url"].as_str());
    Json(json!({"url": ctx.shared.webhooks.url()}))
}

async fn send(State(ctx): State<Ctx>, Json(body): Json<Value>) -> Response {
    let topic = body["topic"].as_str().unwrap_or("");
    let id = body["id"].as_str().unwrap_or("");
    let record = object_of_gid(id).and_then(|(kind, n)| {
        let kind = match kind {
            "Customer" | "Product" | "Order" => kind,
            _ => return None,
        };
        ctx.harness
            .store()
            .get(kind, n)
            .ok()
            .map(|r| resolve::node(kind, &r))
    });
    let Some(node) = record else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no record {id}")})),
        )
            .into_response();
    };
    match ctx.shared.webhooks.send(topic, &node).await {
        Some(d) => Json(json!(d)).into_response(),
        None => (
            StatusCode::CONFLICT,
            Json(json!({"error": "no webhook URL set"})),
        )
            .into_response(),
    }
}
