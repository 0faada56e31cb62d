//! The Dynamics 365 double: the Dataverse Web API (OData v4) and Microsoft Entra ID's
//! client-credentials token endpoint, built from the dossier
//! `shared/docs/apis/dynamics365.md` (published Microsoft Learn documentation), not from
//! a real environment. `README.md` beside this file lists what it serves, its guesses, and
//! what a first run against a real environment must check.
//!
//! - `POST /{tenant}/oauth2/v2.0/token` (client credentials, scope `<org url>/.default`):
//!   tokens that expire after [`DynamicsConfig::token_ttl`] (or at once, through the
//!   session book), answered 401 `Bearer error="invalid_token"` afterwards.
//! - `/api/data/v9.2/`: `accounts`, `contacts`, `opportunities`, `salesorders` with GUID
//!   ids, `@odata.etag` (the row's `versionnumber`), `modifiedon`; `$select`, `$filter`
//!   (`eq ne gt ge lt le`, `and`), `$orderby`, `Prefer: odata.maxpagesize` with
//!   `@odata.nextLink`; alternate keys (`accounts(accountnumber='A1')`); `PATCH` upsert with
//!   `If-Match`/`If-None-Match`; `@odata.bind` lookups by GUID or alternate key;
//!   `Prefer: odata.track-changes` with `@odata.deltaLink` and `$deletedEntity` rows;
//!   `$batch` with atomic change sets; `$metadata`.
//! - Service protection: more than [`DynamicsConfig::request_limit`] requests in a
//!   5-minute window are answered 429 with `Retry-After` and code `0x80072322`;
//!   [`throttled`] is the same answer as a fault to force it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::dynamics::{DynamicsConfig, DynamicsDouble};
//!
//! let double = ferry_doubles::start(DynamicsDouble::new(DynamicsConfig::default()), 0).await?;
//! let accounts = double.url("/api/data/v9.2/accounts");
//! # let _ = accounts; Ok(()) }
//! ```
//!
//! Every table is a store object named by its entity set, keyed by its alternate key's
//! (first) column; the GUID, `versionnumber` and `modifiedon` are the double's.

mod auth;
mod batch;
mod error;
mod metadata;
mod read;
mod tables;
mod tracker;
mod writes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use chrono::{DateTime, Utc};

pub use error::{DvError, THROTTLE_CONCURRENCY, THROTTLE_REQUESTS, THROTTLE_TIME};
pub use tables::{Edm, TABLES, Table};

use crate::faults::{FaultAction, RetryAfter};
use crate::harness::{Double, Harness};
use crate::reply::Reply;
use crate::store::RecordStore;
use tracker::Tracker;

/// Where the Web API lives on the org's host.
pub const API_PREFIX: &str = "/api/data/v9.2/";

/// The double's settings.
#[derive(Clone, Debug)]
pub struct DynamicsConfig {
    /// The directory (tenant) id in the token URL.
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    /// How long an access token lives (Entra ID: about an hour).
    pub token_ttl: Duration,
    /// The page size when the client asks for none (Dataverse: 5000, also the most).
    pub page_size: usize,
    /// Requests per 5-minute window before 429 (Dataverse: 6,000 per user).
    pub request_limit: u32,
    /// Seed a few accounts, contacts, opportunities and orders.
    pub seed: bool,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        Self {
            tenant: "00000000-0000-0000-0000-0000000000aa".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: "dyn-s3cret-Value~1".into(),
            token_ttl: Duration::from_secs(3599),
            page_size: 5000,
            request_limit: 6000,
            seed: true,
        }
    }
}

/// The 429 service-protection answer as a fault (`Retry-After: seconds`, code
/// `0x80072322`), to force throttling: `double.faults().add(Fault::new(throttled(2)))`.
pub fn throttled(seconds: u64) -> FaultAction {
    let error = DvError::too_many_requests(6000, 300);
    FaultAction::Status {
        status: 429,
        retry_after: Some(RetryAfter::Seconds(seconds)),
        headers: BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]),
        body: Some(error.body().to_string()),
    }
}

/// The Dynamics 365 double.
#[derive(Clone, Debug, Default)]
pub struct DynamicsDouble {
    config: Arc<DynamicsConfig>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Held by every write and by a whole `$batch`, with the tracker inside.
    state: Mutex<Tracker>,
    /// Requests in the current service-protection window: (window start, count).
    window: Mutex<Option<(DateTime<Utc>, u32)>>,
}

impl DynamicsDouble {
    pub fn new(config: DynamicsConfig) -> Self {
        Self {
            config: Arc::new(config),
            shared: Arc::default(),
        }
    }

    pub fn config(&self) -> &DynamicsConfig {
        &self.config
    }

    /// Every delta link issued so far stops working, as after the change-tracking
    /// retention: following one gets the expired-token error.
    pub fn expire_delta_links(&self) {
        self.shared.lock().expire_tokens();
    }

    /// The GUID of the row stored as `id` in `set` (for tests that seed the store
    /// directly and then read through the API).
    pub fn guid(&self, store: &RecordStore, set: &str, id: u64) -> Option<String> {
        let table = tables::table(set)?;
        let mut tracker = self.shared.lock();
        tracker.observe(store);
        tracker.row(table.set, id).map(|r| r.guid.clone())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Tracker> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<DynamicsConfig>,
    shared: Arc<Shared>,
}

impl Ctx {
    /// The Web API root, absolute, ending in `/`.
    fn root(&self) -> String {
        format!("{}{API_PREFIX}", self.harness.base_url())
    }

    fn store(&self) -> &RecordStore {
        self.harness.store()
    }

    /// Counts a request against the service protection window: the requests left in it,
    /// or the 429 when none are.
    fn admit(&self) -> Result<u32, Reply> {
        let now = self.harness.clock().exact();
        let mut window = self
            .shared
            .window
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (start, count) = match *window {
            Some((start, count)) if (now - start).num_seconds() < 300 => (start, count + 1),
            _ => (now, 1),
        };
        *window = Some((start, count));
        if count <= self.config.request_limit {
            return Ok(self.config.request_limit - count);
        }
        let wait = (300 - (now - start).num_seconds()).max(1);
        Err(DvError::too_many_requests(self.config.request_limit, 300)
            .reply()
            .header("retry-after", wait.to_string()))
    }
}

impl Double for DynamicsDouble {
    fn name(&self) -> &'static str {
        "dynamics"
    }

    fn seed(&self, store: &RecordStore) {
        for table in TABLES {
            store.define(table.set, table.key[0]);
        }
        *self.shared.lock() = Tracker::default();
        if self.config.seed {
            writes::seed(store);
        }
        self.shared.lock().observe(store);
    }

    fn routes(&self, harness: &Harness) -> Router {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/api/data/v9.2/", any(api))
            .route("/api/data/v9.2/{*rest}", any(api))
            .with_state(ctx)
    }

    /// Dataverse does not report errors inside HTTP 200; the fault gets its error body
    /// with 200.
    fn error_in_ok(&self, _path: &str, code: &str, message: &str) -> Response {
        let body = serde_json::json!({"error": {"code": code, "message": message}});
        Reply::json(StatusCode::OK, &body).into_response()
    }

    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        vec![
            format!("web api: <url>{API_PREFIX} (accounts, contacts, opportunities, salesorders)"),
            format!(
                "token: POST <url>/{}/oauth2/v2.0/token client {} / {}, scope <url>/.default",
                c.tenant, c.client_id, c.client_secret
            ),
            format!(
                "tokens live {}s; {} requests per 5 minutes",
                c.token_ttl.as_secs(),
                c.request_limit
            ),
        ]
    }
}

async fn token(State(ctx): State<Ctx>, uri: Uri, body: Bytes) -> Response {
    let tenant = uri.path().split('/').nth(1).unwrap_or("");
    auth::token(&ctx, tenant, &body).into_response()
}

/// Every Web API request: credentials, service protection, then the resource.
async fn api(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = auth::check(&ctx, &headers) {
        return refusal.into_response();
    }
    let remaining = match ctx.admit() {
        Ok(remaining) => remaining,
        Err(throttled) => return throttled.into_response(),
    };
    let sub = uri.path().strip_prefix(API_PREFIX).unwrap_or("");
    let request = Request {
        method: method.as_str(),
        sub,
        query: uri.query().unwrap_or(""),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: &body,
        created: &[],
    };
    let mut tracker = ctx.shared.lock();
    // The headers Dataverse sends with every answer (values in the documented formats; the
    // execution-time budget is not tracked, it always shows the whole 20 minutes).
    execute(&ctx, &mut tracker, &request)
        .header(
            "x-ms-ratelimit-burst-remaining-xrm-requests",
            remaining.to_string(),
        )
        .header("x-ms-ratelimit-time-remaining-xrm-requests", "1,200,000.00")
        .header("x-ms-dop-hint", "4")
        .into_response()
}

/// One request, from HTTP or from inside a `$batch`.
struct Request<'a> {
    method: &'a str,
    /// The path below `/api/data/v9.2/`, percent-encoded as sent.
    sub: &'a str,
    query: &'a str,
    headers: Vec<(String, String)>,
    body: &'a [u8],
    /// Inside a change set: Content-ID → `set(guid)` of the records made before.
    created: &'a [(String, String)],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// Whether `Prefer` asks for `preference` (`odata.track-changes`, …).
    fn prefers(&self, preference: &str) -> bool {
        self.prefer_values()
            .any(|p| p.eq_ignore_ascii_case(preference))
    }

    /// `odata.maxpagesize` from `Prefer`.
    fn max_page_size(&self) -> Option<usize> {
        self.prefer_values().find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("odata.maxpagesize")
                .then(|| v.trim().parse().ok())?
        })
    }

    fn prefer_values(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("prefer"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
    }
}

/// Runs a request with the tracker held (so writes and reads see one state).
fn execute(ctx: &Ctx, tracker: &mut Tracker, request: &Request<'_>) -> Reply {
    tracker.observe(ctx.store());
    let sub = percent_encoding::percent_decode_str(request.sub).decode_utf8_lossy();
    let answered = match (sub.as_ref(), request.method) {
        ("" | "/", "GET") => Ok(metadata::service_document(ctx)),
        ("$metadata", "GET") => Ok(metadata::csdl()),
        ("$batch", "POST") => Ok(batch::run(ctx, tracker, request)),
        (resource, method) => read::target(resource).and_then(|target| match method {
            "GET" => read::get(ctx, tracker, &target, request),
            "POST" if target.key.is_none() => writes::create(ctx, tracker, &target, request),
            "PATCH" if target.key.is_some() => writes::upsert(ctx, tracker, &target, request),
            "DELETE" if target.key.is_some() => writes::delete(ctx, tracker, &target),
            _ => Err(DvError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "0x80060888",
                format!("The HTTP method {method} is not allowed on {resource}."),
            )),
        }),
    };
    let reply = answered.unwrap_or_else(|e| e.reply());
    tracker.observe(ctx.store());
    reply.header("odata-version", "4.0")
}
