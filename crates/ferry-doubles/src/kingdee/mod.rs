//! The Kingdee 金蝶云星空 (K/3 Cloud) WebAPI double: a test double built from the published
//! documentation (`shared/docs/apis/kingdee-k3cloud.md` and its sources), not the vendor.
//! `README.md` beside this file lists what it serves, every guess it makes, and what a
//! first run against a real tenant must check.
//!
//! Every call is `POST /k3cloud/<ServiceName>.common.kdsvc` with a JSON body in either
//! convention (positional `{"parameters": [...]}` or named `{"formid", "data"}`), answered
//! with HTTP 200 even for business errors. Log in with `AuthService.ValidateUser`,
//! `LoginByAppSecret` or `LoginBySign`; later calls carry the `kdservice-sessionid` cookie
//! or header (or the signature headers).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::kingdee::{KingdeeConfig, KingdeeDouble};
//!
//! let double = ferry_doubles::start(KingdeeDouble::new(KingdeeConfig::default()), 0).await?;
//! let api_root = format!("{}/k3cloud/", double.base_url());
//! # let _ = api_root; Ok(()) }
//! ```
//!
//! # Seeding and changing records directly
//!
//! The forms are objects of the harness store named by their FormId (`BD_Customer`,
//! `BD_MATERIAL`, `STK_Inventory`, `BD_SAL_PriceList`, `SAL_SaleOrder`, `SAL_OUTSTOCK`,
//! `AR_receivable`, `AR_RECEIVEBILL`); the store's business key is `FNumber` for base data
//! and `FBillNo` for bills. A record's store id is its primary key (`FCUSTID`, `FID` …) and
//! its store times are `FCreateDate` and `FModifyDate`. Fields are stored under their
//! field keys exactly as [`forms`] spells them; references as `{"FNumber": "…"}`; dates as
//! `yyyy-MM-ddTHH:mm:ss` local text; entry lines as an array of objects under the entry
//! key, each with a unique `FEntryID`:
//!
//! ```no_run
//! # fn demo(double: &ferry_doubles::RunningDouble) {
//! use serde_json::json;
//! let fields = json!({"FNumber": "CUST9001", "FName": "测试客户", "FDocumentStatus": "C",
//!                     "FForbidStatus": "A", "FUseOrgId": {"FNumber": "100"}});
//! let record = double.store().insert("BD_Customer", fields.as_object().unwrap().clone()).unwrap();
//! let patch = json!({"FName": "测试客户（改）"});
//! double.store().update("BD_Customer", record.id, patch.as_object().unwrap().clone()).unwrap();
//! double.clock().freeze_at("2024-06-01T00:00:00Z".parse().unwrap()); // FModifyDate of later writes
//! # }
//! ```
//!
//! MsgCode 14 (call limit) and 13 (network control) come from faults: [`call_limit`] and
//! [`network_control`] build them (an `ErrorInOk` fault the double renders in Kingdee's
//! shape, wrapped `[[…]]` for queries).

mod amounts;
mod answer;
mod auth;
pub mod catalog;
mod columns;
mod config;
mod dates;
mod filter;
pub mod forms;
mod lifecycle;
mod model;
mod push;
mod query;
mod records;
mod request;
mod save;
mod seed;
mod view;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::NaiveDateTime;
use serde_json::{Map, Value};

pub use answer::{KdError, msg_code};
pub use auth::{ASPNET_COOKIE, SESSION_COOKIE, SIGNATURE_HEADERS, sign as login_sign};
pub use config::{KingdeeConfig, KingdeeSeed, KingdeeUser, shanghai};
pub use lifecycle::ALLOCATED_ORGS;
pub use query::MAX_LIMIT;
pub use seed::SEED_EPOCH;

use crate::faults::{Fault, FaultAction};
use crate::harness::{Double, Harness};
use crate::store::RecordStore;
use request::{Call, Service};

/// The path of a `DynamicFormService` operation (`Save`, `ExecuteBillQuery` …).
pub fn form_service(operation: &str) -> String {
    format!("/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.{operation}.common.kdsvc")
}

/// The path of an `AuthService` login (`ValidateUser`, `LoginByAppSecret`, `LoginBySign`).
pub fn auth_service(operation: &str) -> String {
    format!("/k3cloud/Kingdee.BOS.WebApi.ServicesStub.AuthService.{operation}.common.kdsvc")
}

/// The next `times` calls (logins aside) answer MsgCode 14, the call limit (调用限制).
pub fn call_limit(times: u32) -> Fault {
    let message = "接口调用次数已超过限制，请稍后再试";
    Fault::new(FaultAction::error_in_ok("14", message))
        .on("POST", "/k3cloud/*DynamicFormService*")
        .times(times)
}

/// The next `times` calls (logins aside) answer MsgCode 13, a network-control conflict (网控).
pub fn network_control(times: u32) -> Fault {
    let message = "网络控制冲突：数据正在被其他用户操作，请稍后再试";
    Fault::new(FaultAction::error_in_ok("13", message))
        .on("POST", "/k3cloud/*DynamicFormService*")
        .times(times)
}

/// The Kingdee double with its configuration.
#[derive(Clone, Debug, Default)]
pub struct KingdeeDouble {
    config: Arc<KingdeeConfig>,
    shared: Arc<Shared>,
}

/// State the handlers share beyond the store.
#[derive(Debug, Default)]
struct Shared {
    /// Packages seen with `ValidateRepeatJson` (form id + data).
    packages: Mutex<HashSet<String>>,
    /// Held while a call writes, so numbers and entry ids are assigned one call at a time.
    writes: Mutex<()>,
}

impl KingdeeDouble {
    pub fn new(config: KingdeeConfig) -> Self {
        Self {
            config: Arc::new(config),
            shared: Arc::default(),
        }
    }

    pub fn config(&self) -> &KingdeeConfig {
        &self.config
    }

    /// Runs an operation of `form` as a user of the Kingdee client would (审核 `Audit`, 下推
    /// `Push` …), without a session: for tests that play the ERP team. `data` is the call's
    /// `data` (`{"Numbers": ["XSCKD00000001"], "TargetFormId": "AR_receivable"}`); the answer
    /// is the reply the API would give.
    pub fn client(&self, harness: &Harness, operation: &str, form: &str, data: Value) -> Value {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        let call = Call {
            form_id: Some(form.to_owned()),
            op_number: None,
            data: data.as_object().cloned().unwrap_or_default(),
        };
        let answered = match Service::from_path(&form_service(operation)) {
            Some(service) if !service.is_open() => serve(&ctx, service, &call),
            _ => Err(KdError::NotFound(format!("operation {operation}"))),
        };
        answered.unwrap_or_else(|e| answer::refusal(&e))
    }
}

/// What the handlers share: the harness, the run's configuration and the shared state.
#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<KingdeeConfig>,
    shared: Arc<Shared>,
}

impl Ctx {
    fn reader(&self) -> columns::Reader<'_> {
        columns::Reader {
            store: self.harness.store(),
            zone: self.config.utc_offset,
        }
    }

    /// Now in the server's local time, from the harness clock.
    fn now_local(&self) -> NaiveDateTime {
        dates::local(self.harness.clock().now(), self.config.utc_offset)
    }

    /// Today at midnight in the server's local time.
    fn today(&self) -> NaiveDateTime {
        self.now_local().date().and_time(chrono::NaiveTime::MIN)
    }

    fn writing(&self) -> MutexGuard<'_, ()> {
        self.shared
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a `ValidateRepeatJson` package; false when it was seen before.
    fn first_time(&self, form: &str, data: &Map<String, Value>) -> bool {
        let key = format!("{form}\n{}", Value::Object(data.clone()));
        let mut seen = self
            .shared
            .packages
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.insert(key)
    }
}

impl Double for KingdeeDouble {
    fn name(&self) -> &'static str {
        "kingdee"
    }

    fn seed(&self, store: &RecordStore) {
        self.shared
            .packages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        seed::fill(store, &self.config.seed);
    }

    fn routes(&self, harness: &Harness) -> Router {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
        };
        Router::new()
            .route("/k3cloud/{service}", post(dispatch))
            .with_state(ctx)
    }

    fn error_in_ok(&self, path: &str, code: &str, message: &str) -> Response {
        answer::error_in_ok(path, code, message)
    }

    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        let user = c.users.first();
        vec![
            "api root: <url>/k3cloud/ — POST <ServiceName>.common.kdsvc".to_owned(),
            format!(
                "login: AuthService.ValidateUser {{\"acctid\":\"{}\",\"username\":\"{}\",\"password\":\"{}\",\"lcid\":2052}}",
                c.acct_id,
                user.map_or("", |u| u.name.as_str()),
                user.map_or("", |u| u.password.as_str()),
            ),
            format!("app: appid {} appsecret {}", c.app_id, c.app_secret),
            "forms: BD_Customer BD_MATERIAL STK_Inventory BD_SAL_PriceList SAL_SaleOrder SAL_OUTSTOCK AR_receivable AR_RECEIVEBILL".to_owned(),
        ]
    }
}

/// Every call: find the service, check the session, read the body, run the service.
async fn dispatch(State(ctx): State<Ctx>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let Some(service) = Service::from_path(uri.path()) else {
        return (StatusCode::NOT_FOUND, "The resource cannot be found.").into_response();
    };
    if !service.is_open() && !auth::admitted(&ctx, &headers) {
        return refuse(service, &KdError::SessionLost);
    }
    match request::read_call(service, &body) {
        Ok(call) => run(&ctx, service, &call),
        Err(e) => refuse(service, &e),
    }
}

fn run(ctx: &Ctx, service: Service, call: &Call) -> Response {
    let answered = match service {
        Service::ValidateUser => return auth::validate_user(ctx, call),
        Service::LoginByAppSecret => return auth::login_by_app_secret(ctx, call),
        Service::LoginBySign => return auth::login_by_sign(ctx, call),
        Service::GetDataCenterList => return auth::data_centers(ctx),
        _ => serve(ctx, service, call),
    };
    match answered {
        Ok(body) => answer::ok(body),
        Err(e) => refuse(service, &e),
    }
}

/// A service other than a login.
fn serve(ctx: &Ctx, service: Service, call: &Call) -> Result<Value, KdError> {
    match service {
        Service::ValidateUser
        | Service::LoginByAppSecret
        | Service::LoginBySign
        | Service::GetDataCenterList => Err(KdError::NotFound("a login is no service".into())),
        Service::ExecuteBillQuery => query::run(ctx, call, false),
        Service::BillQuery => query::run(ctx, call, true),
        Service::View => view::view(ctx, call),
        Service::Save => save::save(ctx, call, false, false),
        Service::BatchSave => save::save(ctx, call, true, false),
        Service::Draft => save::save(ctx, call, false, true),
        Service::Submit => lifecycle::operate(ctx, call, "Submit", lifecycle::submit),
        Service::Audit => lifecycle::operate(ctx, call, "Audit", lifecycle::audit),
        Service::UnAudit => lifecycle::operate(ctx, call, "UnAudit", lifecycle::unaudit),
        Service::Delete => lifecycle::operate(ctx, call, "Delete", lifecycle::delete),
        Service::Push => push::push(ctx, call),
        Service::ExcuteOperation => lifecycle::custom_operation(ctx, call),
        Service::Allocate => lifecycle::allocate(ctx, call, false),
        Service::CancelAllocate => lifecycle::allocate(ctx, call, true),
    }
}

/// A refusal of the whole call, wrapped `[[…]]` for the query services.
fn refuse(service: Service, error: &KdError) -> Response {
    let body = answer::refusal(error);
    answer::ok(if service.is_query() {
        answer::wrapped(body)
    } else {
        body
    })
}
