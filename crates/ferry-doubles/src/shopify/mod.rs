//! The Shopify Admin GraphQL API double: a test double built from the published
//! documentation (`shared/docs/apis/shopify.md`), not Shopify. `README.md` beside this file
//! lists the GraphQL subset served, every guess, and what a first run against a real shop
//! must check.
//!
//! `POST /admin/api/<version>/graphql.json` with `X-Shopify-Access-Token` and a JSON body
//! `{"query", "variables"}`; answers carry `extensions.cost` and are throttled by a leaky
//! bucket on the harness clock. Bulk results are served at `/bulk-results/<n>.jsonl`;
//! webhooks go to the URL set with [`ShopifyDouble::webhooks`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::shopify::{ShopifyConfig, ShopifyDouble};
//! let shop = ShopifyDouble::new(ShopifyConfig::default());
//! let double = ferry_doubles::start(shop.clone(), 0).await?;
//! shop.webhooks().set_url(Some("http://127.0.0.1:9/hooks"));
//! let endpoint = double.url("/admin/api/2025-07/graphql.json");
//! # let _ = endpoint; Ok(()) }
//! ```

mod bulk;
mod control;
mod cost;
mod fulfil;
mod graphql;
mod resolve;
mod search;
mod seed;
mod stock;
mod webhooks;
mod writes;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

pub use cost::Throttled;
pub use seed::{LOCATIONS, SEED_EPOCH};
pub use webhooks::{Attempt, Delivery, Webhooks, rest_payload, webhook_hmac};

use crate::harness::{Double, Harness};
use crate::store::RecordStore;

/// The test Admin API access token of `ShopifyConfig::default()`.
pub const ACCESS_TOKEN: &str = "shpat_ferry0test0token0000000000000";
/// The app's client secret (webhook HMAC key) of `ShopifyConfig::default()`.
pub const CLIENT_SECRET: &str = "shpss_ferry0test0secret000000000000";
/// The API version of `ShopifyConfig::default()`.
pub const API_VERSION: &str = "2025-07";
/// The largest `first`/`last` of a connection.
pub const MAX_PAGE: usize = 250;
/// The answer to a wrong or missing token (HTTP 401).
pub const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";

/// One run of the Shopify double.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopifyConfig {
    pub access_token: String,
    pub client_secret: String,
    pub shop_domain: String,
    /// The version echoed in webhooks; every `<version>` in the path is served alike.
    pub api_version: String,
    /// Bucket size in cost points (1000: the documented example).
    pub bucket_size: f64,
    /// Points restored per second of the harness clock (50: the documented example).
    pub restore_rate: f64,
    /// Where webhooks go (none: nothing is sent).
    pub webhook_url: Option<String>,
    /// Retries after a failed delivery (8, as documented).
    pub webhook_retries: u32,
    /// How long a receiver may take (5 s, as documented).
    pub webhook_timeout: Duration,
}

impl Default for ShopifyConfig {
    fn default() -> Self {
        Self {
            access_token: ACCESS_TOKEN.into(),
            client_secret: CLIENT_SECRET.into(),
            shop_domain: "ferry-test.myshopify.com".into(),
            api_version: API_VERSION.into(),
            bucket_size: 1000.0,
            restore_rate: 50.0,
            webhook_url: None,
            webhook_retries: 8,
            webhook_timeout: Duration::from_secs(5),
        }
    }
}

/// `gid://shopify/<kind>/<n>`.
pub fn gid(kind: &str, n: u64) -> String {
    format!("gid://shopify/{kind}/{n}")
}

/// The kind and number of a GID.
pub fn object_of_gid(id: &str) -> Option<(&str, u64)> {
    let rest = id.strip_prefix("gid://shopify/")?;
    let (kind, n) = rest.split_once('/')?;
    Some((kind, n.split('?').next()?.parse().ok()?))
}

/// The store object (GraphQL type) of a top-level field.
fn kind_of(field: &str) -> &'static str {
    match field {
        "customers" | "customer" => "Customer",
        "products" | "product" => "Product",
        _ => "Order",
    }
}

struct Shared {
    /// Ids of objects made by mutations (adjustment groups, fulfilments).
    next: std::sync::atomic::AtomicU64,
    bucket: cost::Bucket,
    bulk: bulk::Bulk,
    webhooks: Webhooks,
    writes: Mutex<()>,
}

/// The Shopify double. Cheap to clone; clones share state, so a test keeps one to drive
/// webhooks after handing one to [`crate::start`].
#[derive(Clone)]
pub struct ShopifyDouble {
    config: Arc<ShopifyConfig>,
    shared: Arc<Shared>,
}

impl ShopifyDouble {
    pub fn new(config: ShopifyConfig) -> Self {
        let shared = Shared {
            next: std::sync::atomic::AtomicU64::new(1000),
            bucket: cost::Bucket::new(config.bucket_size, config.restore_rate),
            bulk: bulk::Bulk::default(),
            webhooks: Webhooks::new(&config),
            writes: Mutex::new(()),
        };
        Self {
            config: Arc::new(config),
            shared: Arc::new(shared),
        }
    }

    pub fn config(&self) -> &ShopifyConfig {
        &self.config
    }

    /// The webhook subscription: its URL, deliveries, and sending one.
    pub fn webhooks(&self) -> &Webhooks {
        &self.shared.webhooks
    }

    /// Every `THROTTLED` answer since the start or the last reset, with its cost figures.
    pub fn throttled(&self) -> Vec<Throttled> {
        self.shared.bucket.throttled()
    }
}

impl Shared {
    /// A fresh id for an object a mutation makes.
    fn next_id(&self) -> u64 {
        self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<ShopifyConfig>,
    shared: Arc<Shared>,
}

impl Double for ShopifyDouble {
    fn name(&self) -> &'static str {
        "shopify"
    }

    fn seed(&self, store: &RecordStore) {
        self.shared.bucket.refill();
        self.shared.bulk.clear();
        self.shared.webhooks.reset();
        self.shared.webhooks.set_clock(store.clock().clone());
        seed::fill(store);
    }

    fn routes(&self, harness: &Harness) -> Router {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        Router::new()
            .route("/admin/api/{version}/graphql.json", post(graphql_call))
            .route("/bulk-results/{file}", get(bulk_result))
            .with_state(ctx.clone())
            .merge(control::routes(ctx))
    }

    fn error_in_ok(&self, _path: &str, code: &str, message: &str) -> Response {
        (
            StatusCode::OK,
            axum::Json(json!({"errors": [{"message": message, "extensions": {"code": code}}]})),
        )
            .into_response()
    }

    fn describe(&self) -> Vec<String> {
        vec![
            format!("endpoint: POST <url>/admin/api/{}/graphql.json", self.config.api_version),
            format!("auth: X-Shopify-Access-Token: {}", self.config.access_token),
            format!("webhooks: HMAC secret {}; URL via POST /_double/shopify/webhooks {{\"url\": …}}", self.config.client_secret),
            "served: customers, products (variants, inventory), orders (lines, taxes, discounts, fulfillment orders), productVariants, locations, *Count, inventoryItem, currentBulkOperation; customerCreate, customerUpdate, customerSet, productSet, inventorySetQuantities, fulfillmentCreate, bulkOperationRunQuery".into(),
        ]
    }
}

fn graphql_errors(status: StatusCode, message: &str, extensions: Option<Value>) -> Response {
    let mut body = json!({"errors": [{"message": message, "locations": [], "extensions": {"code": "INVALID_QUERY"}}]});
    if let Some(e) = extensions {
        body["extensions"] = e;
    }
    (status, axum::Json(body)).into_response()
}

async fn graphql_call(
    State(ctx): State<Ctx>,
    Path(_version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(ctx.config.access_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errors": INVALID_TOKEN})),
        )
            .into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"errors": {"query": "Required parameter missing or invalid"}})),
        )
            .into_response();
    };
    let Some(query) = request["query"].as_str() else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"errors": {"query": "Required parameter missing or invalid"}})),
        )
            .into_response();
    };
    let variables = request["variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let op = match graphql::parse(query, &variables) {
        Ok(op) => op,
        Err(e) => return graphql_errors(StatusCode::OK, &e, None),
    };
    let requested = cost::requested(&op);
    // The bucket refills continuously: its time is the clock's to the millisecond.
    let now = ctx.harness.clock().exact();
    let bucket = &ctx.shared.bucket;
    if requested > 1000 {
        let (_, available) = bucket.take(now, 0.0);
        let message = format!(
            "Query cost is {requested}, which exceeds the single query max cost limit (1000)."
        );
        let body = json!({"errors": [{"message": message, "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": 1000}}],
                          "extensions": bucket.extensions(requested, None, available)});
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    let (taken, available) = bucket.take(now, requested as f64);
    if !taken {
        bucket.note_throttled(requested, available, now);
        let body = json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                          "extensions": bucket.extensions(requested, None, available)});
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    let mut data = Map::new();
    let mut errors = Vec::new();
    for f in &op.fields {
        let answer = match op.kind {
            graphql::OpKind::Query => resolve::query_field(&ctx, f),
            graphql::OpKind::Mutation => writes::mutation_field(&ctx, f),
        };
        match answer {
            Ok(v) => {
                data.insert(f.key().to_owned(), v);
            }
            Err(e) => {
                data.insert(f.key().to_owned(), Value::Null);
                errors.push(json!({"message": e, "path": [f.key()], "extensions": {"code": "INVALID_QUERY"}}));
            }
        }
    }
    let data = Value::Object(data);
    let actual = cost::actual(&op, &data).min(requested);
    let available = bucket.refund((requested - actual) as f64);
    let mut body =
        json!({"data": data, "extensions": bucket.extensions(requested, Some(actual), available)});
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors);
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn bulk_result(State(ctx): State<Ctx>, Path(file): Path<String>) -> Response {
    let n = file
        .strip_suffix(".jsonl")
        .and_then(|n| n.parse::<u64>().ok());
    match n.and_then(|n| ctx.shared.bulk.result(n)) {
        Some(text) => (
            [(axum::http::header::CONTENT_TYPE, "application/jsonl")],
            text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
    }
}
