//! The Jiandaoyun 简道云 open API (v5) double: a test double built from the published
//! documentation (`shared/docs/apis/jiandaoyun.md` and its sources), not the vendor.
//! `README.md` beside this file lists what it serves, every guess it makes, and what a
//! first run against a real account must check.
//!
//! Every call is `POST /api/v5/<path>` with a JSON body and `Authorization: Bearer <key>`;
//! success answers HTTP 200 with the endpoint's JSON, failure an HTTP status with
//! `{"code", "msg"}`. The API root a connector is given is `double.base_url() + "/api"`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::jiandaoyun::{JiandaoyunConfig, JiandaoyunDouble};
//!
//! let jdy = JiandaoyunDouble::new(JiandaoyunConfig::default());
//! let double = ferry_doubles::start(jdy.clone(), 0).await?; // keep `jdy` for the push
//! let api_root = format!("{}/api", double.base_url());
//! jdy.push().set_url(Some("http://127.0.0.1:9/hook"));
//! # let _ = api_root; Ok(()) }
//! ```
//!
//! # Seeding and changing records directly
//!
//! Each form is an object of the harness store named by its `entry_id`
//! ([`CUSTOMER_FORM`], [`ORDER_FORM`]). A record's store id is encoded in its `_id`
//! ([`data_id_of`] and [`store_id`] convert); its store times are `createTime` and
//! `updateTime` (whole seconds from the harness clock, which tests freeze and move). Widget
//! values are stored under the widget names ([`customer`], [`order`]) in the shape the API
//! reads them in — not the `{"value": …}` wrapping of writes: text as strings, numbers as
//! numbers, times as `2024-05-01T01:00:00.000Z`, members as `{"username", "name"}`,
//! departments as `{"dept_no", "name"}`, sub-form rows as objects with an `_id`.
//! `creator`, `updater` and `flowState` are stored fields too. The store does not check
//! values it is given directly.
//!
//! ```no_run
//! # fn demo(double: &ferry_doubles::RunningDouble) {
//! use ferry_doubles::jiandaoyun::{CUSTOMER_FORM, customer, data_id_of};
//! use serde_json::json;
//! let fields = json!({customer::NAME: "测试客户", customer::CREDIT: 1000, "flowState": 1});
//! let record = double.store().insert(CUSTOMER_FORM, fields.as_object().unwrap().clone()).unwrap();
//! let data_id = data_id_of(&record); // the `_id` the API answers
//! let patch = json!({customer::NAME: "测试客户（改）"});
//! double.store().update(CUSTOMER_FORM, record.id, patch.as_object().unwrap().clone()).unwrap();
//! double.clock().freeze_at("2024-06-01T00:00:00Z".parse().unwrap()); // updateTime of later writes
//! # let _ = data_id; }
//! ```
//!
//! A direct store change sends no data push; [`JiandaoyunDouble::push_record`] sends one for
//! a record explicitly.

mod answer;
mod auth;
mod batch;
mod config;
mod control;
mod data;
mod filter;
mod forms;
mod limits;
mod listing;
mod paging;
mod push;
mod records;
mod request;
mod seed;
mod transactions;
mod values;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use answer::{JdyError, code};
pub use batch::MAX_BATCH;
pub use config::{
    API_KEY, Department, JiandaoyunConfig, JiandaoyunSeed, Member, PUSH_SECRET, PushConfig,
};
pub use filter::MAX_IN_VALUES;
pub use forms::{
    APP_ID, App, CUSTOMER_FORM, Form, ORDER_FORM, PRODUCT_FORM, Widget, WidgetType, customer,
    order, product,
};
pub use limits::RateLimits;
pub use paging::{DEFAULT_LIMIT, MAX_LIMIT};
pub use push::{
    DELIVER_ID_HEADER, Delivery, PushChannel, PushOutcome, PushStatus, SIGNATURE_HEADER,
    push_signature,
};
pub use records::{data_id, data_id_of, store_id};
pub use seed::SEED_EPOCH;

use crate::harness::{Double, Harness};
use crate::store::{Record, RecordStore};
use limits::Limiter;
use request::{Api, Body};
use transactions::Transactions;
use values::Writer;

/// The Jiandaoyun double with its configuration. Cheap to clone; clones share the push
/// channel and the double's state, so a test keeps a clone to drive the push after
/// handing one to [`crate::start`].
#[derive(Clone)]
pub struct JiandaoyunDouble {
    config: Arc<JiandaoyunConfig>,
    shared: Arc<Shared>,
}

impl fmt::Debug for JiandaoyunDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiandaoyunDouble")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// State the handlers share beyond the store.
struct Shared {
    limiter: Limiter,
    transactions: Transactions,
    push: PushChannel,
    /// Held while a call writes, so transaction ids and serial numbers are taken one call
    /// at a time.
    writes: Mutex<()>,
    /// The last sub-form row id handed out.
    rows: AtomicU64,
    /// The last serial number per form and widget.
    serials: Mutex<HashMap<String, u64>>,
    /// The store of the running double, for explicit pushes (not the harness, which holds
    /// the double: that would be a cycle).
    store: Mutex<Option<RecordStore>>,
}

impl Shared {
    /// A new sub-form row `_id`, ObjectId-like: creation seconds and a counter.
    fn new_row_id(&self, at: DateTime<Utc>) -> String {
        let n = self.rows.fetch_add(1, Ordering::SeqCst) + 1;
        let secs = u32::try_from(at.timestamp()).unwrap_or(0);
        format!("{secs:08x}{:016x}", (1 << 60) | n)
    }

    /// The next serial number of `widget` in `form`, from 1.
    fn next_serial(&self, form: &str, widget: &str) -> u64 {
        let mut serials = self.serials.lock().unwrap_or_else(PoisonError::into_inner);
        let n = serials.entry(format!("{form}/{widget}")).or_default();
        *n += 1;
        *n
    }
}

impl JiandaoyunDouble {
    pub fn new(config: JiandaoyunConfig) -> Self {
        let shared = Shared {
            limiter: Limiter::default(),
            transactions: Transactions::default(),
            push: PushChannel::new(config.push.clone()),
            writes: Mutex::new(()),
            rows: AtomicU64::new(0),
            serials: Mutex::default(),
            store: Mutex::new(None),
        };
        Self {
            config: Arc::new(config),
            shared: Arc::new(shared),
        }
    }

    pub fn config(&self) -> &JiandaoyunConfig {
        &self.config
    }

    /// The data push: set its URL, inspect deliveries, enable it again.
    pub fn push(&self) -> &PushChannel {
        &self.shared.push
    }

    /// Sends a notice `op` (`data_create`, `data_update`, `data_remove` …) for the record
    /// `data_id` of form `entry_id` as it is stored now. None when the double was never
    /// started, the record does not exist or no push URL is set.
    pub async fn push_record(&self, op: &str, entry_id: &str, data_id: &str) -> Option<Delivery> {
        let store = self
            .shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let app = self
            .config
            .apps
            .iter()
            .find(|a| a.form(entry_id).is_some())?;
        let form = app.form(entry_id)?;
        let record = store.get(entry_id, store_id(data_id)?).ok();
        let record = record.filter(|r| data_id_of(r) == data_id)?;
        let data = records::to_json(&record, form, &app.app_id);
        self.shared.push.send(op, data).await
    }
}

/// What the handlers share: the harness, the run's configuration and the shared state.
#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<JiandaoyunConfig>,
    shared: Arc<Shared>,
}

impl Ctx {
    fn writing(&self) -> MutexGuard<'_, ()> {
        self.shared
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn writer(&self) -> Writer<'_> {
        Writer {
            config: &self.config,
            new_row_id: Box::new(|| self.shared.new_row_id(self.harness.clock().now())),
        }
    }

    /// Gives each serial-number widget of `form` the next number.
    fn stamp_serial(&self, form: &Form, fields: &mut Map<String, Value>) {
        for widget in form.widgets.iter().filter(|w| w.kind == WidgetType::Sn) {
            let n = self.shared.next_serial(&form.entry_id, &widget.name);
            fields.insert(
                widget.name.clone(),
                format!("{}{n:06}", widget.serial_prefix).into(),
            );
        }
    }

    fn record_json(&self, app: &App, form: &Form, record: &Record) -> Value {
        records::to_json(record, form, &app.app_id)
    }

    /// Every record of `form` as answered, with its `_id`.
    fn records(&self, app: &App, form: &Form) -> Vec<(String, Value)> {
        let rows = self.harness.store().list(&form.entry_id, None, None);
        rows.unwrap_or_default()
            .iter()
            .map(|r| (data_id_of(r), self.record_json(app, form, r)))
            .collect()
    }
}

impl Double for JiandaoyunDouble {
    fn name(&self) -> &'static str {
        "jiandaoyun"
    }

    fn seed(&self, store: &RecordStore) {
        *self
            .shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(store.clone());
        self.shared.limiter.clear();
        self.shared.transactions.clear();
        self.shared.push.reset();
        self.shared.rows.store(0, Ordering::SeqCst);
        self.shared
            .serials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        seed::fill(store, &self.config, &self.shared);
    }

    fn routes(&self, harness: &Harness) -> Router {
        self.shared.push.start();
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        Router::new()
            .route("/api/{*path}", any(dispatch))
            .with_state(ctx)
            .merge(control::routes(self.clone()))
    }

    fn error_in_ok(&self, _path: &str, code: &str, message: &str) -> Response {
        answer::error_in_ok(code, message)
    }

    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        let forms: Vec<String> = c
            .apps
            .iter()
            .flat_map(|a| {
                a.forms
                    .iter()
                    .map(move |f| format!("{} {} ({})", a.app_id, f.entry_id, f.name))
            })
            .collect();
        vec![
            "api root: <url>/api — POST /api/v5/app/entry/data/list etc., JSON bodies".to_owned(),
            format!("auth: Authorization: Bearer {}", c.api_key),
            format!("forms (app_id entry_id): {}", forms.join(", ")),
            format!(
                "push: {} secret {} (set with POST /_double/jiandaoyun/push {{\"url\": …}})",
                c.push.url.as_deref().unwrap_or("no URL"),
                c.push.secret
            ),
        ]
    }
}

/// Every call: the API by path, POST only, the key, the rate limits, the body, the API.
async fn dispatch(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match serve(&ctx, &method, uri.path(), &headers, &body) {
        Ok(answer) => answer::ok(answer),
        Err(refusal) => refusal.into_response(),
    }
}

fn serve(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, JdyError> {
    let api = Api::from_path(path).ok_or_else(|| JdyError::NoSuchApi(path.to_owned()))?;
    if method != Method::POST {
        return Err(JdyError::MethodNotAllowed);
    }
    auth::check(headers, &ctx.config.api_key)?;
    ctx.shared
        .limiter
        .admit(&ctx.config.rate_limits, api.name())?;
    let body = Body::read(body)?;
    match api {
        Api::AppList => listing::apps(ctx, &body),
        Api::FormList => listing::forms(ctx, &body),
        Api::WidgetList => listing::widgets(ctx, &body),
        Api::DataList => paging::list(ctx, &body),
        Api::DataGet => data::get(ctx, &body),
        Api::DataCreate => data::create(ctx, &body),
        Api::DataUpdate => data::update(ctx, &body),
        Api::DataDelete => data::delete(ctx, &body),
        Api::BatchCreate => batch::create(ctx, &body),
        Api::BatchUpdate => batch::update(ctx, &body),
        Api::BatchDelete => batch::delete(ctx, &body),
    }
}
