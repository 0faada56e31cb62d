//! The Oracle NetSuite double: REST web services (SuiteQL and the record API) as a test
//! double built from the dossier `shared/docs/apis/netsuite.md`, not NetSuite. `README.md`
//! beside this file lists what it serves, every guess it makes, and what a first run
//! against a real account must check.
//!
//! Every request is signed with Token-Based Authentication (OAuth 1.0a, HMAC-SHA256): the
//! double recomputes the signature from the request and refuses a bad one, an unknown
//! token, a reused nonce or a clock off by more than five minutes with 401
//! `INVALID_LOGIN_ATTEMPT`. Requests beyond the concurrency limit (default 5 at once) are
//! refused with 429 `CONCURRENCY_LIMIT_EXCEEDED`, and [`NetSuiteDouble::throttle_next`]
//! forces such refusals.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::netsuite::{NetSuiteConfig, NetSuiteDouble};
//!
//! let netsuite = NetSuiteDouble::new(NetSuiteConfig::default());
//! let double = ferry_doubles::start(netsuite.clone(), 0).await?;
//! let suiteql = double.url("/services/rest/query/v1/suiteql");
//! netsuite.erp(double.harness()).set_stock(1, 1, 40.0).expect("stock set");
//! # let _ = suiteql; Ok(()) }
//! ```
//!
//! # Records in the store
//!
//! Store objects: `customer` and `item` (keyed by `externalid`), `transaction` (sales
//! orders, invoices and item fulfilments, keyed by `_eid` = `<record type>:<external id>`,
//! since external ids are unique per record type) and `location`. Fields are stored under
//! their SuiteQL column names (lower case); references as the referenced record's id
//! (`entity: "3"`); a transaction's lines under `item` (`[{line, item, quantity, rate,
//! amount, location}]`); an item's stock under `locations` (`[{location, quantityonhand,
//! quantityavailable}]`). The store's modified time is `lastmodifieddate`.

pub mod auth;
mod erp;
mod errors;
mod records;
mod schema;
pub mod seed;
mod suiteql;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};

pub use erp::{Erp, ErpError};
pub use errors::NsError;
pub use seed::seed_epoch;

use crate::harness::{Double, Harness};
use crate::store::RecordStore;

/// Where SuiteQL is served.
pub const SUITEQL_PATH: &str = "/services/rest/query/v1/suiteql";
/// Where the record API is served.
pub const RECORD_PREFIX: &str = "/services/rest/record/v1/";

/// The double's settings: the account and its one integration and token, and governance.
#[derive(Clone, Debug)]
pub struct NetSuiteConfig {
    /// The account id (`1234567`, `1234567-sb1`); the realm is `1234567_SB1`.
    pub account: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub token_id: String,
    pub token_secret: String,
    /// Requests served at once; one more is refused with `CONCURRENCY_LIMIT_EXCEEDED`.
    pub concurrency: usize,
    /// How long each request holds its slot, so tests can make requests overlap.
    pub hold: Duration,
    /// How far an `oauth_timestamp` may be from this machine's clock.
    pub skew: Duration,
    /// Also hold the Shopify double's shop catalogue as inventory items (see
    /// [`seed::shop_catalogue`]): the account of a merchant whose item names are its SKUs,
    /// for `examples/shopify-netsuite`.
    pub shop_catalogue: bool,
}

impl Default for NetSuiteConfig {
    fn default() -> Self {
        Self {
            account: "1234567-sb1".into(),
            consumer_key: "ns-consumer-key".into(),
            consumer_secret: "ns-consumer-s3cret".into(),
            token_id: "ns-token-id".into(),
            token_secret: "ns-token-s3cret".into(),
            concurrency: 5,
            hold: Duration::ZERO,
            skew: Duration::from_secs(300),
            shop_catalogue: false,
        }
    }
}

impl NetSuiteConfig {
    /// The OAuth realm: the account id upper case, `-` as `_`.
    pub fn realm(&self) -> String {
        self.account.to_ascii_uppercase().replace('-', "_")
    }
}

/// The NetSuite double. Clones share their state, so a test keeps one to force throttles.
#[derive(Clone, Debug, Default)]
pub struct NetSuiteDouble {
    config: Arc<NetSuiteConfig>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Requests being served now.
    in_flight: AtomicUsize,
    /// Refusals with `CONCURRENCY_LIMIT_EXCEEDED` still to force.
    forced: AtomicU32,
    /// `(timestamp, nonce)` pairs seen: a nonce is good once.
    nonces: Mutex<HashSet<(String, String)>>,
    /// The token was revoked: every request is refused until [`NetSuiteDouble::restore_token`].
    revoked: std::sync::atomic::AtomicBool,
    /// Held by every write, so an upsert's look-up and insert are one step.
    writes: Mutex<()>,
}

impl NetSuiteDouble {
    pub fn new(config: NetSuiteConfig) -> Self {
        Self {
            config: Arc::new(config),
            shared: Arc::default(),
        }
    }

    pub fn config(&self) -> &NetSuiteConfig {
        &self.config
    }

    /// The next `n` requests are refused with 429 `CONCURRENCY_LIMIT_EXCEEDED`.
    pub fn throttle_next(&self, n: u32) {
        self.shared.forced.fetch_add(n, Ordering::SeqCst);
    }

    /// Refusals forced by [`NetSuiteDouble::throttle_next`] not yet given.
    pub fn throttles_left(&self) -> u32 {
        self.shared.forced.load(Ordering::SeqCst)
    }

    /// Revokes the access token (an administrator did, or the role lost a permission):
    /// every request is refused with `INVALID_LOGIN_ATTEMPT` from now on.
    pub fn revoke_token(&self) {
        self.shared.revoked.store(true, Ordering::SeqCst);
    }

    /// Makes a revoked token good again.
    pub fn restore_token(&self) {
        self.shared.revoked.store(false, Ordering::SeqCst);
    }

    /// The ERP team's own work (fulfil, bill, set stock) on the double `harness` serves.
    pub fn erp<'a>(&self, harness: &'a Harness) -> Erp<'a> {
        Erp::new(harness.store())
    }
}

#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<NetSuiteConfig>,
    shared: Arc<Shared>,
}

impl Ctx {
    fn store(&self) -> &RecordStore {
        self.harness.store()
    }
}

impl Double for NetSuiteDouble {
    fn name(&self) -> &'static str {
        "netsuite"
    }

    fn seed(&self, store: &RecordStore) {
        seed::fill(store);
        if self.config.shop_catalogue {
            seed::shop_catalogue(store);
        }
    }

    fn routes(&self, harness: &Harness) -> Router {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        Router::new()
            .route(SUITEQL_PATH, post(suiteql))
            .route("/services/rest/record/v1/{*rest}", any(record))
            .with_state(ctx)
    }

    /// NetSuite reports errors with statuses; the fault answers 200 with its error body.
    fn error_in_ok(&self, _path: &str, code: &str, message: &str) -> Response {
        let mut error = NsError::new(StatusCode::BAD_REQUEST, code, message);
        error.status = StatusCode::OK;
        error.into_response()
    }

    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        vec![
            format!("suiteql: POST <url>{SUITEQL_PATH} (Prefer: transient)"),
            format!("records: <url>{RECORD_PREFIX}<type>[/<id>|/eid:<external id>]"),
            format!(
                "TBA (HMAC-SHA256): realm {}, consumer {} / {}, token {} / {}",
                c.realm(),
                c.consumer_key,
                c.consumer_secret,
                c.token_id,
                c.token_secret
            ),
            format!("concurrency limit {}", c.concurrency),
        ]
    }
}

/// A slot of the concurrency limit, given back when dropped.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Credentials, then governance: the slot the request is served in.
fn admit(ctx: &Ctx, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<Slot, NsError> {
    if ctx.shared.revoked.load(Ordering::SeqCst) {
        return Err(NsError::login("The access token has been revoked."));
    }
    auth::verify(ctx, method, uri, headers)?;
    let forced = ctx
        .shared
        .forced
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if forced.is_ok() {
        return Err(NsError::concurrency());
    }
    let before = ctx.shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let slot = Slot(ctx.shared.clone());
    if before >= ctx.config.concurrency {
        return Err(NsError::concurrency());
    }
    Ok(slot)
}

async fn hold(ctx: &Ctx) {
    if !ctx.config.hold.is_zero() {
        tokio::time::sleep(ctx.config.hold).await;
    }
}

async fn suiteql(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match admit(&ctx, &method, &uri, &headers) {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    hold(&ctx).await;
    let base = ctx.harness.url(SUITEQL_PATH);
    suiteql::answer(
        ctx.store(),
        &base,
        uri.query().unwrap_or(""),
        &headers,
        &body,
    )
    .unwrap_or_else(IntoResponse::into_response)
}

async fn record(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match admit(&ctx, &method, &uri, &headers) {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    hold(&ctx).await;
    let rest = uri.path().strip_prefix(RECORD_PREFIX).unwrap_or("");
    let _guard = (method != Method::GET).then(|| {
        ctx.shared
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    });
    let request = records::Request {
        method: method.as_str(),
        path: rest,
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
        base: &ctx.harness.url(RECORD_PREFIX),
    };
    records::handle(ctx.store(), &request).unwrap_or_else(IntoResponse::into_response)
}
