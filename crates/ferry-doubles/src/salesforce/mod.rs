//! The Salesforce double: REST API (SOQL query with paging, sObject rows, upsert by external
//! id, sObject Collections), Bulk API 2.0 ingest, Change Data Capture over CometD, OAuth 2.0
//! client credentials and JWT bearer, and the daily API limit. A test double built from the
//! dossier `shared/docs/apis/salesforce.md`, not Salesforce; `README.md` beside this file
//! lists what it serves, every guess and what a first run against a real org must check.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::salesforce::{SalesforceConfig, SalesforceDouble};
//!
//! let sf = SalesforceDouble::new(SalesforceConfig::default());
//! let double = ferry_doubles::start(sf.clone(), 0).await?; // keep `sf` for CDC and limits
//! let token_url = double.url("/services/oauth2/token"); // instance_url is the double too
//! sf.set_api_usage(14_999); // the next call but one answers REQUEST_LIMIT_EXCEEDED
//! # let _ = token_url; Ok(()) }
//! ```
//!
//! Records live in the harness store under their sObject names; the store id is encoded in
//! the Salesforce id ([`sf_id`], [`parse_id`]). Fields are stored under their API names;
//! `LastModifiedDate` is a stored field (API writes set it), `SystemModstamp` is the store's
//! modified time, so `store().touch` is a system change that moves only `SystemModstamp`.
//! A direct store change publishes no change event; [`SalesforceDouble::publish_change`]
//! publishes one as a change made in the Salesforce UI would.

mod answer;
mod auth;
mod bulk;
mod cdc;
mod collections;
mod cometd;
mod config;
mod control;
mod ids;
pub mod jwt;
mod limits;
mod query;
mod records;
mod schema;
mod seed;
mod sobjects;
mod soql;
mod writes;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Map, Value, json};

pub use answer::SfError;
pub use cdc::ChangeEvent;
pub use collections::MAX_RECORDS;
pub use config::{
    API_VERSION, CLIENT_ID, CLIENT_SECRET, ORG_ID, SalesforceConfig, TEST_JWT_PRIVATE_KEY_PKCS8,
    USER_ID, USERNAME, test_private_key_der,
};
pub use ids::{parse as parse_id, sf_id};
pub use schema::ERP_ID;
pub use seed::{SEED_EPOCH, TIED_AT};

use crate::harness::{Double, Harness};
use crate::store::RecordStore;

/// The Salesforce double. Cheap to clone; clones share the change log, jobs and counters,
/// so a test keeps one to drive them after handing one to [`crate::start`].
#[derive(Clone)]
pub struct SalesforceDouble {
    config: Arc<SalesforceConfig>,
    shared: Arc<Shared>,
}

impl fmt::Debug for SalesforceDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceDouble")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// State beyond the store.
struct Shared {
    usage: AtomicU64,
    cursors: query::Cursors,
    jobs: bulk::Jobs,
    cdc: cdc::Cdc,
    orders: AtomicU64,
    /// Held while a call runs, so each call's checks and writes are not interleaved.
    writes: Mutex<()>,
    store: Mutex<Option<RecordStore>>,
}

impl Shared {
    fn next_order_number(&self) -> u64 {
        100 + self.orders.fetch_add(1, Ordering::SeqCst)
    }
}

impl SalesforceDouble {
    pub fn new(config: SalesforceConfig) -> Self {
        let shared = Shared {
            usage: AtomicU64::new(config.api_usage_start),
            cursors: query::Cursors::default(),
            jobs: bulk::Jobs::default(),
            cdc: cdc::Cdc::default(),
            orders: AtomicU64::new(seed::ORDERS),
            writes: Mutex::new(()),
            store: Mutex::new(None),
        };
        Self {
            config: Arc::new(config),
            shared: Arc::new(shared),
        }
    }

    pub fn config(&self) -> &SalesforceConfig {
        &self.config
    }

    /// API requests counted so far.
    pub fn api_usage(&self) -> u64 {
        self.shared.usage.load(Ordering::SeqCst)
    }

    /// Sets the requests counted (at the daily limit, calls answer `REQUEST_LIMIT_EXCEEDED`).
    pub fn set_api_usage(&self, used: u64) {
        self.shared.usage.store(used, Ordering::SeqCst);
    }

    /// The retained change events, oldest first.
    pub fn change_events(&self) -> Vec<ChangeEvent> {
        self.shared.cdc.events()
    }

    /// Drops the change events up to `replay_id`: a subscriber resuming from an earlier id
    /// is refused and must backfill (the 72 h retention gap, without waiting 72 h).
    pub fn drop_events_through(&self, replay_id: i64) {
        self.shared.cdc.drop_through(replay_id);
    }

    /// Forgets every open query cursor (their next page answers `INVALID_QUERY_LOCATOR`).
    pub fn expire_query_cursors(&self) {
        self.shared.cursors.expire_all();
    }

    /// Publishes a change event for record `id` of `object` as it is stored now, as a
    /// change made in the Salesforce UI (`changeOrigin` `…soap/58.0;client=SfdcInternalAPI/`):
    /// `change_type` is `UPDATE` (every field given in `changed` with its stored value),
    /// `CREATE`, `DELETE` or a `GAP_…` type (no field data). The replay id, if published.
    pub fn publish_change(
        &self,
        object: &str,
        id: &str,
        change_type: &str,
        changed: &[&str],
    ) -> Option<i64> {
        let store = self
            .shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let (of, n) = parse_id(id)?;
        if of.name != object {
            return None;
        }
        let record = store.get(object, n).ok();
        let mut fields = Map::new();
        if !change_type.starts_with("GAP_")
            && let Some(r) = &record
        {
            for name in changed {
                fields.insert(
                    (*name).to_owned(),
                    r.fields.get(*name).cloned().unwrap_or(Value::Null),
                );
            }
        }
        let change = cdc::Change {
            entity: of.name,
            record_ids: vec![id.to_owned()],
            change_type,
            changed: changed.iter().map(|s| (*s).to_owned()).collect(),
            nulled: Vec::new(),
            fields,
            origin: "com/salesforce/api/soap/58.0;client=SfdcInternalAPI/".into(),
            transaction_key: "00000000-0000-0000-0000-000000000000",
            sequence: 1,
        };
        Some(self.shared.cdc.publish(change, store.clock().now()))
    }
}

/// What the handlers share.
#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<SalesforceConfig>,
    shared: Arc<Shared>,
}

impl Double for SalesforceDouble {
    fn name(&self) -> &'static str {
        "salesforce"
    }

    fn seed(&self, store: &RecordStore) {
        *self
            .shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(store.clone());
        self.shared
            .usage
            .store(self.config.api_usage_start, Ordering::SeqCst);
        self.shared.cursors.expire_all();
        self.shared.jobs.clear();
        self.shared.cdc.clear();
        self.shared.orders.store(seed::ORDERS, Ordering::SeqCst);
        for object in schema::OBJECTS.iter() {
            store.define(object.name, ERP_ID);
        }
        seed::fill(store);
    }

    fn routes(&self, harness: &Harness) -> Router {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        Router::new()
            .route("/services/oauth2/token", post(auth::token))
            .route("/services/data", any(dispatch))
            .route("/services/data/{*rest}", any(dispatch))
            .route("/cometd/{version}", post(cometd::bayeux))
            .with_state(ctx)
            .merge(control::routes(self.clone()))
    }

    fn error_in_ok(&self, path: &str, code: &str, message: &str) -> Response {
        answer::error_in_ok(path, code, message)
    }

    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        vec![
            "token: POST <url>/services/oauth2/token (client_credentials or JWT bearer); instance_url is <url>".into(),
            format!("client_id {} client_secret {} user {}", c.client_id, c.client_secret, c.username),
            format!("REST: <url>/services/data/{API_VERSION}/ (query, sobjects, composite/sobjects, jobs/ingest, limits)"),
            format!("CDC: CometD POST <url>/cometd/{} channels /data/ChangeEvents, /data/<Object>ChangeEvent", &API_VERSION[1..]),
            format!("daily API limit {}; query batch size {}", c.daily_api_limit, c.query_batch_size),
        ]
    }
}

/// Every REST call: the version, the token, the daily limit, then the resource; every
/// answer gets `Sforce-Limit-Info`.
async fn dispatch(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response =
        serve(&ctx, &method, &uri, &headers, &body).unwrap_or_else(IntoResponse::into_response);
    limits::stamp(&ctx, response)
}

fn serve(
    ctx: &Ctx,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SfError> {
    let path = uri
        .path()
        .trim_start_matches("/services/data")
        .trim_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((version, rest)) = segments.split_first() else {
        let v = &API_VERSION[1..];
        let list = json!([{"label": "Spring '24", "url": format!("/services/data/{API_VERSION}"), "version": v}]);
        return Ok(answer::json(StatusCode::OK, list));
    };
    let number = version
        .strip_prefix('v')
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v >= 20.0);
    let Some(number) = number else {
        return Err(SfError::not_found());
    };
    auth::check(ctx, headers)?;
    limits::count(ctx)?;
    let _writing = ctx
        .shared
        .writes
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let query = auth::read_form(uri.query().unwrap_or_default().as_bytes());
    let q = || {
        query
            .iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v.as_str())
    };
    let get = method == Method::GET;
    let ok = |v: Value| answer::json(StatusCode::OK, v);
    match rest {
        [] if get => Ok(ok(json!({
            "sobjects": format!("/services/data/{version}/sobjects"),
            "query": format!("/services/data/{version}/query"),
            "queryAll": format!("/services/data/{version}/queryAll"),
            "composite": format!("/services/data/{version}/composite"),
            "jobs": format!("/services/data/{version}/jobs"),
            "limits": format!("/services/data/{version}/limits"),
        }))),
        ["query" | "queryAll"] if get => {
            query::run(ctx, q().ok_or_else(query::missing_q)?, headers).map(ok)
        }
        ["query" | "queryAll", locator] if get => query::more(ctx, locator, headers).map(ok),
        ["limits"] if get => Ok(ok(limits::answer(ctx))),
        ["sobjects", rest @ ..] => {
            sobjects::serve(ctx, method, rest, &query, headers, body, number)
        }
        ["composite", "sobjects", rest @ ..] => {
            collections::serve(ctx, method, rest, &query, headers, body)
        }
        ["jobs", "ingest", rest @ ..] => bulk::serve(ctx, method, rest, headers, body),
        _ => Err(SfError::not_found()),
    }
}
