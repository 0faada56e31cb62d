//! The Yonyou 用友 YonBIP / YonSuite open-API double: a test double built from the published
//! documentation (`shared/docs/apis/yonyou-yonbip.md` and its sources), not the vendor.
//! `README.md` beside this file lists what it serves, every guess it makes, and what a
//! first run against a real tenant must check. U8+ OpenAPI is not served.
//!
//! A client finds the tenant's URLs, takes a token, then calls the gateway:
//!
//! 1. `GET {base}/open-auth/dataCenter/getGatewayAddress?tenantId=ferry-tenant` →
//!    `tokenUrl` = `{base}/iuap-api-auth`, `gatewayUrl` = `{base}/iuap-api-gateway`.
//! 2. `GET {tokenUrl}/open-auth/selfAppAuth/base/v1/getAccessToken?appKey&timestamp&signature`
//!    (or the older path without `/base/v1`), signed with [`token_signature`].
//! 3. `POST {gatewayUrl}/yonbip/…?access_token=…` with a JSON body (the sales-order detail
//!    is a `GET`). Errors come inside HTTP 200 as `{"code", "message"}`, but an
//!    unregistered path answers HTTP 404 with 310404.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::yonyou::{YonyouConfig, YonyouDouble};
//!
//! let yonyou = YonyouDouble::new(YonyouConfig::default());
//! // Keep a clone: it sets the push URL and triggers pushes while the double runs.
//! let double = ferry_doubles::start(yonyou.clone(), 0).await?;
//! let lookup = double.url("/open-auth/dataCenter/getGatewayAddress?tenantId=ferry-tenant");
//! yonyou.set_push_url(Some("http://127.0.0.1:9/callback"));
//! # let _ = lookup; Ok(()) }
//! ```
//!
//! # Seeding and changing records directly
//!
//! The objects are store objects [`MERCHANT`] (customers), [`PRODUCT`] (materials) and
//! [`VOUCHER_ORDER`] (sales orders), each keyed by `code`. Fields are stored as the APIs
//! answer them: names as `{"simplifiedName": …}`, references as `<x>Id`/`<x>Code`/`<x>Name`
//! on base data and as `<x>` (id) + `<x>_code` + `<x>_name` on orders, order prices nested
//! (`orderPrices`, `orderDetailPrices`), lines under `orderDetails`, each with an `id` and a
//! `lineno`. The answered `id` is [`wire_id`]`(object, store id)`; `pubts` and `createTime`
//! are the store's modified and created times in Beijing time, so `double.clock()` sets
//! them (freeze it to make writes tie):
//!
//! ```no_run
//! # fn demo(double: &ferry_doubles::RunningDouble) {
//! use ferry_doubles::yonyou::{MERCHANT, wire_id};
//! use serde_json::json;
//! double.clock().freeze_at("2024-06-01T01:00:00Z".parse().unwrap()); // pubts 09:00:00
//! let fields = json!({"code": "C9001", "name": {"simplifiedName": "测试客户"},
//!                     "createOrgCode": "global00", "stopstatus": false});
//! let record = double.store().insert(MERCHANT, fields.as_object().unwrap().clone()).unwrap();
//! let id = wire_id(MERCHANT, record.id); // what merchant/newlist answers as `id`
//! let patch = json!({"name": {"simplifiedName": "测试客户（改）"}});
//! double.store().update(MERCHANT, record.id, patch.as_object().unwrap().clone()).unwrap();
//! # let _ = id; }
//! ```
//!
//! Rate limits come from faults: [`rate_limited`] (310046) and [`rate_limited_at`] (310032,
//! 310039, 310042) build them, and [`still_processing`] the idempotent 202. Any
//! `ErrorInOk` fault answers `{"code", "message"}` inside HTTP 200.

mod api;
mod conditions;
mod config;
mod detail;
mod envelope;
mod event_crypto;
mod gateway;
mod idempotency;
mod list;
mod objects;
mod orders;
mod push;
mod ratelimit;
mod save;
mod seed;
mod token;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

pub use api::{AUTH_PREFIX, GATEWAY_LOOKUP_PATH, GATEWAY_PREFIX, TOKEN_PATH, TOKEN_PATH_V1};
pub use config::{PushConfig, RateLimit, YonyouConfig, YonyouSeed, beijing};
pub use envelope::YyError;
pub use event_crypto::{CryptoError, EventCrypto, SealedEvent};
pub use idempotency::MAX_KEY_CHARS;
pub use list::{MERCHANT_MAX_PAGE, ORDER_MAX_PAGE, PRODUCT_MAX_PAGE};
pub use objects::{MERCHANT, PRODUCT, VOUCHER_ORDER, line_id, store_id, wire_id};
pub use orders::{AUDITED, OPEN, SUBMITTED};
pub use push::{PushDelivery, PushOutcome, judge_reply};
pub use ratelimit::{LimitLevel, rate_limited, rate_limited_at, still_processing};
pub use seed::SEED_EPOCH;
pub use token::{hmac_sha256_base64, signing_text, token_signature, url_encode};

/// Event codes the double pushes, verbatim.
pub mod events {
    pub use super::push::{
        CHECK_URL, MERCHANT_INSERT, MERCHANT_UPDATE, PRODUCT_INSERT, PRODUCT_UPDATE, SALE_AUDIT,
        SALE_DELETE, SALE_SAVE, SALE_SUBMIT, SALE_UNAUDIT,
    };
}

use crate::harness::{Double, Harness};
use crate::store::RecordStore;
use push::PushState;

/// The Yonyou double with its configuration. Clones share the run's state, so a test keeps
/// one to set the push URL and trigger pushes after giving another to [`crate::start`].
#[derive(Clone, Debug, Default)]
pub struct YonyouDouble {
    config: Arc<YonyouConfig>,
    shared: Arc<Shared>,
}

/// State the handlers share beyond the harness.
#[derive(Debug, Default)]
struct Shared {
    /// Held while a call writes.
    writes: Mutex<()>,
    idempotency: idempotency::IdempotencyCache,
    quotas: ratelimit::Quotas,
    push: Arc<PushState>,
}

impl YonyouDouble {
    pub fn new(config: YonyouConfig) -> Self {
        let shared = Shared::default();
        shared.push.set_url(config.push.url.clone());
        Self {
            config: Arc::new(config),
            shared: Arc::new(shared),
        }
    }

    pub fn config(&self) -> &YonyouConfig {
        &self.config
    }

    /// The push crypto of the configured app.
    pub fn crypto(&self) -> EventCrypto {
        EventCrypto::new(&self.config.app_key, &self.config.app_secret)
    }

    /// Where events are pushed (none: no pushes).
    pub fn set_push_url(&self, url: Option<&str>) {
        self.shared.push.set_url(url.map(str::to_owned));
    }

    pub fn push_url(&self) -> Option<String> {
        self.shared.push.url()
    }

    /// Pushes one event now and waits for the callback's answer (and retries). The message
    /// is `{"type": event_type, "eventId", "timestamp", "tenantId"}` plus `payload`'s
    /// fields. `None` when no push URL is set.
    pub async fn push_event(&self, event_type: &str, payload: Value) -> Option<PushDelivery> {
        let url = self.push_url()?;
        let event = push::event_message(&self.config, event_type, &payload);
        Some(push::deliver(self.config.clone(), self.shared.push.clone(), url, event).await)
    }

    /// Pushes the `CHECK_URL` test event, as saving a subscription does.
    pub async fn check_url(&self) -> Option<PushDelivery> {
        self.push_event(push::CHECK_URL, json!({})).await
    }

    /// Pushes `event_type` about the record `code` of `object`, with the documented payload
    /// shape of its object (flat customer, `archive`, `BILL_INFO`). `None` when there is no
    /// such record or no push URL.
    pub async fn push_record_event(
        &self,
        store: &RecordStore,
        event_type: &str,
        object: &str,
        code: &str,
    ) -> Option<PushDelivery> {
        let record = store.find_by_key(object, code).ok().flatten()?;
        self.push_event(event_type, push::record_payload(&record, object))
            .await
    }

    /// Every delivery so far (pushes after writes finish in the background).
    pub fn pushes(&self) -> Vec<PushDelivery> {
        self.shared.push.log()
    }

    /// Waits until at least `count` deliveries are logged or `timeout` passes; the log.
    pub async fn wait_for_pushes(&self, count: usize, timeout: Duration) -> Vec<PushDelivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = self.pushes();
            if log.len() >= count || tokio::time::Instant::now() >= deadline {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What the handlers share: the harness, the run's configuration and the shared state.
#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<YonyouConfig>,
    shared: Arc<Shared>,
}

impl Ctx {
    fn writing(&self) -> MutexGuard<'_, ()> {
        self.shared
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Double for YonyouDouble {
    fn name(&self) -> &'static str {
        "yonyou"
    }

    fn seed(&self, store: &RecordStore) {
        self.shared.idempotency.clear();
        self.shared.quotas.clear();
        self.shared.push.clear_log();
        seed::fill(store, &self.config.seed);
    }

    fn routes(&self, harness: &Harness) -> Router {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        Router::new()
            .route(GATEWAY_LOOKUP_PATH, get(lookup))
            .route(&format!("{AUTH_PREFIX}{TOKEN_PATH}"), get(access_token))
            .route(&format!("{AUTH_PREFIX}{TOKEN_PATH_V1}"), get(access_token))
            .route(&format!("{GATEWAY_PREFIX}/{{*rest}}"), any(business))
            .route("/_double/yonyou/push-url", post(set_push_url))
            .route("/_double/yonyou/push", post(trigger_push))
            .route("/_double/yonyou/pushes", get(list_pushes))
            .fallback(unregistered)
            .with_state(ctx)
    }

    fn error_in_ok(&self, _path: &str, code: &str, message: &str) -> Response {
        YyError::coded(code, message).into_response()
    }

    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        let mut lines = vec![
            format!(
                "gateway lookup: GET <url>{GATEWAY_LOOKUP_PATH}?tenantId={}",
                c.tenant_id
            ),
            format!(
                "token: GET <url>{AUTH_PREFIX}{TOKEN_PATH_V1}?appKey={}&timestamp=<ms>&signature=<URLEncode(Base64(HmacSHA256(\"{}\", \"appKey…timestamp…\")))>",
                c.app_key, c.app_secret
            ),
            format!("calls: <url>{GATEWAY_PREFIX}/yonbip/…?access_token=<token>"),
            "push: POST <url>/_double/yonyou/push-url {\"url\": …}, POST <url>/_double/yonyou/push {\"type\": …}".to_owned(),
        ];
        lines.extend(api::registered_paths().map(|(m, p)| format!("  {m} {p}")));
        lines
    }
}

type Params = Query<Vec<(String, String)>>;

async fn lookup(State(ctx): State<Ctx>, Query(params): Params) -> Response {
    gateway::lookup(&ctx, &params)
}

async fn access_token(State(ctx): State<Ctx>, Query(params): Params) -> Response {
    token::issue(&ctx, &params)
}

async fn business(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix(GATEWAY_PREFIX)
        .unwrap_or(uri.path());
    gateway::call(&ctx, &method, path, &params, &body)
}

async fn unregistered(uri: Uri) -> Response {
    YyError::not_registered(uri.path()).into_response()
}

async fn set_push_url(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let url = serde_json::from_slice::<Value>(&body)
        .ok()
        .map(|v| v["url"].as_str().map(str::to_owned));
    match url {
        Some(url) => {
            ctx.shared.push.set_url(url);
            StatusCode::NO_CONTENT.into_response()
        }
        None => bad_request("body: expected {\"url\": \"http://…\"} or {\"url\": null}"),
    }
}

/// `{"type": …, "payload": {…}}`, or `{"type": …, "object": "merchant", "code": "C0001"}`
/// for the documented payload of a record; answers the delivery.
async fn trigger_push(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body: not JSON");
    };
    let Some(event_type) = request["type"].as_str() else {
        return bad_request("body: `type` (the event code) is required");
    };
    let payload = match (request["object"].as_str(), request["code"].as_str()) {
        (Some(object), Some(code)) => match ctx.harness.store().find_by_key(object, code) {
            Ok(Some(record)) => push::record_payload(&record, object),
            _ => return bad_request(&format!("no {object} record with code {code}")),
        },
        _ => request.get("payload").cloned().unwrap_or_else(|| json!({})),
    };
    let Some(url) = ctx.shared.push.url() else {
        return bad_request("no push URL: POST /_double/yonyou/push-url first");
    };
    let event = push::event_message(&ctx.config, event_type, &payload);
    let delivery = push::deliver(ctx.config.clone(), ctx.shared.push.clone(), url, event).await;
    Json(delivery).into_response()
}

async fn list_pushes(State(ctx): State<Ctx>) -> Response {
    Json(ctx.shared.push.log()).into_response()
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}
