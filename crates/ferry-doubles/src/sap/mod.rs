//! The SAP S/4HANA Cloud double: the A2X OData v2 APIs as a test double built from the
//! dossier `shared/docs/apis/sap-s4hana-odata.md`, not SAP. `README.md` beside this file
//! lists what it serves, every guess it makes, and what a first run against a real system
//! must check.
//!
//! Services live under `/sap/opu/odata/sap/<SERVICE>/` (`API_BUSINESS_PARTNER`,
//! `API_PRODUCT_SRV`, `API_SALES_ORDER_SRV`, `API_OUTBOUND_DELIVERY_SRV;v=0002`,
//! `API_BILLING_DOCUMENT_SRV`, and the guessed `API_CRDTMBUSINESSPARTNER` for credit
//! exposure). Authenticate with Basic (the communication user) or a bearer token from
//! `POST /sap/bc/sec/oauth2/token`; fetch a CSRF token with `x-csrf-token: Fetch` on a GET
//! and send it with the session cookie on every modifying request and `$batch`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::sap::{SapConfig, SapDouble};
//!
//! let double = ferry_doubles::start(SapDouble::new(SapConfig::default()), 0).await?;
//! let orders = double.url("/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder");
//! # let _ = orders; Ok(()) }
//! ```
//!
//! # Records in the store
//!
//! Every top-level entity set is a store object of the same name (`A_SalesOrder`,
//! `A_BusinessPartner` …), keyed by `_key` (the key values joined by `|`). Properties are
//! stored in their OData JSON form (decimals as strings, dates as `/Date(ms)/`); item-like
//! sets are arrays under the navigation property (`to_Item`). The store's modified time is
//! `LastChangeDateTime` (or `LastChangeDate`/`LastChangeTime`), so every write, and
//! `store().touch`, stamps it from the harness clock.

mod answer;
mod auth;
mod batch;
pub mod catalog;
mod config;
mod entity;
pub mod erp;
mod filter;
mod metadata;
mod orders;
mod path;
mod query;
mod seed;
mod values;
mod writes;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};

pub use answer::{Reply, SapError};
pub use auth::{TOKEN_PATH, USER_CONTEXT_COOKIE};
pub use config::{IfMatch, SapConfig, SapSeed};
pub use orders::CREDIT_SEGMENT;
pub use seed::seed_epoch;

use crate::harness::{Double, Harness};
use crate::store::RecordStore;
use path::Target;

/// Where the OData v2 services live.
pub const ODATA_PREFIX: &str = "/sap/opu/odata/sap/";

/// The path of a service's root or of a resource in it: `service_path("API_SALES_ORDER_SRV",
/// "A_SalesOrder")`.
pub fn service_path(service: &str, resource: &str) -> String {
    format!("{ODATA_PREFIX}{service}/{resource}")
}

/// The SAP double with its configuration.
#[derive(Clone, Debug, Default)]
pub struct SapDouble {
    config: Arc<SapConfig>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Held by every modifying request and by a whole `$batch`, so a change set's
    /// rollback never undoes another request's write.
    writes: Mutex<()>,
}

impl SapDouble {
    pub fn new(config: SapConfig) -> Self {
        Self {
            config: Arc::new(config),
            shared: Arc::default(),
        }
    }

    pub fn config(&self) -> &SapConfig {
        &self.config
    }
}

#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<SapConfig>,
    shared: Arc<Shared>,
}

impl Ctx {
    /// The absolute service root, without a trailing slash.
    fn root(&self, service: &str) -> String {
        format!("{}{ODATA_PREFIX}{service}", self.harness.base_url())
    }

    fn writing(&self) -> MutexGuard<'_, ()> {
        self.shared
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, service: &str, error: &SapError) -> Reply {
        error.reply(service, self.harness.clock().now())
    }
}

impl Double for SapDouble {
    fn name(&self) -> &'static str {
        "sap"
    }

    fn seed(&self, store: &RecordStore) {
        seed::fill(store, &self.config.seed);
    }

    fn routes(&self, harness: &Harness) -> Router {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        Router::new()
            .route(TOKEN_PATH, post(token))
            .route("/sap/opu/odata/sap/{*rest}", any(odata))
            .with_state(ctx)
    }

    /// SAP does not report errors inside HTTP 200; the fault gets SAP's error body with 200.
    fn error_in_ok(&self, path: &str, code: &str, message: &str) -> Response {
        let service = path
            .strip_prefix(ODATA_PREFIX)
            .and_then(|p| p.split('/').next())
            .unwrap_or("");
        let mut error = SapError::bad_request(code, message);
        error.status = StatusCode::OK;
        error.reply(service, chrono::Utc::now()).into_response()
    }

    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        vec![
            format!(
                "services: <url>{ODATA_PREFIX}API_SALES_ORDER_SRV/ (also API_BUSINESS_PARTNER, API_PRODUCT_SRV, API_OUTBOUND_DELIVERY_SRV;v=0002, API_BILLING_DOCUMENT_SRV, API_CRDTMBUSINESSPARTNER)"
            ),
            format!("basic auth: {} / {}", c.user, c.password),
            format!(
                "oauth: POST <url>{TOKEN_PATH} grant_type=client_credentials, client {} / {}",
                c.client_id, c.client_secret
            ),
            format!(
                "csrf: GET with x-csrf-token: Fetch; send the token and the {} cookie on writes",
                c.session_cookie()
            ),
            format!("page size {}, If-Match {:?}", c.page_size, c.if_match),
        ]
    }
}

async fn token(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    auth::token(&ctx, &headers, &body).into_response()
}

/// Every OData request: credentials, the service, CSRF, then the resource.
async fn odata(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rest = uri.path().strip_prefix(ODATA_PREFIX).unwrap_or("");
    let (requested, sub) = rest.split_once('/').unwrap_or((rest, ""));
    if let Err(refusal) = auth::check(&ctx, &headers) {
        return refusal.into_response();
    }
    let Some(service) = catalog::service(requested) else {
        return ctx
            .error(requested, &SapError::no_service(requested))
            .into_response();
    };
    // `X-HTTP-Method: MERGE` (or PATCH, DELETE) tunnels through POST.
    let tunneled = headers.get("x-http-method").and_then(|v| v.to_str().ok());
    let method = match (method.as_str(), tunneled) {
        ("POST", Some(m)) => m.trim().to_ascii_uppercase(),
        (m, _) => m.to_owned(),
    };
    let reads = matches!(method.as_str(), "GET" | "HEAD");
    let mut extra = Vec::new();
    if reads && auth::wants_token(&headers) {
        extra = auth::fetch(&ctx, &headers);
    }
    if !reads && !auth::csrf_valid(&ctx, &headers) {
        return answer::csrf_required().into_response();
    }
    let detached = !reads && !ctx.config.change_set_time.is_zero();
    let work = {
        let (ctx, sub) = (ctx.clone(), sub.to_owned());
        move || {
            let _guard = (!reads).then(|| ctx.writing());
            let request = Request {
                method: &method,
                path: uri.path(),
                sub: &sub,
                query: uri.query().unwrap_or(""),
                headers: &headers,
                body: &body,
            };
            execute(&ctx, service, &request)
        }
    };
    let mut reply = if detached {
        // SAP saves what it was given even when the caller has gone: a task of its own,
        // which a dropped connection does not cancel.
        tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
            Reply::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                e.to_string(),
            )
        })
    } else {
        work()
    };
    reply.headers.extend(extra);
    reply.into_response()
}

/// One request to a service, from HTTP or from inside a `$batch`.
struct Request<'a> {
    method: &'a str,
    /// The absolute path (for `__next`).
    path: &'a str,
    /// The path below the service root.
    sub: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

/// Runs `request` against `service`; the caller holds the write lock for modifying ones.
fn execute(ctx: &Ctx, service: &str, request: &Request<'_>) -> Reply {
    let answered =
        path::parse(service, request.sub).and_then(|target| match (target, request.method) {
            (Target::Root, "GET" | "HEAD") => Ok(metadata::service_document(service)),
            (Target::Metadata, "GET" | "HEAD") => Ok(metadata::edmx(service)),
            (Target::Batch, "POST") => Ok(batch::run(ctx, service, request)),
            (Target::Resource(r), "GET" | "HEAD") => {
                let options = query::Options::parse(request.query)?;
                if !options.json && !wants_json(request.headers) {
                    return Ok(metadata::atom_stub(r.set.name));
                }
                query::read(ctx, &r, &options, request.path, request.query)
            }
            (Target::Resource(r), "POST") => writes::create(ctx, &r, request.body),
            (Target::Resource(r), "PATCH" | "MERGE" | "PUT") => {
                writes::update(ctx, &r, request.method, request.headers, request.body)
            }
            (Target::Resource(r), "DELETE") => writes::delete(ctx, &r, request.headers),
            (_, method) => Err(SapError::method_not_allowed(method, request.sub)),
        });
    answered.unwrap_or_else(|e| ctx.error(service, &e))
}
