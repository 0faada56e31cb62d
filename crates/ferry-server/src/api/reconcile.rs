//! Reconciliations: start one in the background (`POST /flows/{flow}/reconcile`, operators),
//! list them and read one with its report (viewers).
//!
//! A reconciliation compares what a flow's source holds with what its target holds, after
//! mapping ([`ferry_engine::reconcile`]). Started here, it runs in the background of
//! `ferry run` and is recorded in the store like those of the CLI, the console and the
//! schedule; its report (detail lists bounded by `details_limit`) is read back with
//! `GET /reconciliations/{id}`. One runs at a time per flow in a process: another request
//! meanwhile is refused with `409`. A repair (`repair`, `repair_deletes`) writes to the
//! target, so it is audited with the key and the client address when it is accepted or
//! refused; what it did is in the report's `repair`.
//!
//! Reports pass through the `server.mask` rules ([`mask_report`]): field values by the
//! canonical field's name, business keys when the key field is ruled, and the values error
//! messages show (unmapped records, repair errors) as the flow's records are masked.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ferry_engine::NoProgress;
use ferry_engine::reconcile::{self, ReconcileError};
use ferry_store::{ReconcileCounts, Reconciliation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{limit, query, raw_body};
use crate::AppState;
use crate::audit;
use crate::auth::{Caller, Operator, Viewer};
use crate::error::{ApiError, ErrorBody};
use crate::mask::Masks;

/// Most entries per detail list a caller may ask for.
const MAX_DETAILS: usize = 10_000;

/// The body of `POST /flows/{flow}/reconcile` (all keys optional; no body is `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// Queue the differing records and those missing in the target (trigger `reconcile`) and
    /// work them off through the flow. Default false: report only.
    #[serde(default)]
    pub repair: bool,
    /// Apply the flow's `on_delete` policy to target records that have no source record.
    #[serde(default)]
    pub repair_deletes: bool,
    /// Most entries kept per detail list of the report (default 100, at most 10000); the
    /// counts are always exact.
    #[serde(default)]
    pub details_limit: Option<usize>,
}

/// A reconciliation accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconcileStarted {
    /// Follow it at `GET /api/v1/reconciliations/{id}`.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// `running`.
    pub state: String,
}

/// Exact counts of a reconciliation.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsView {
    /// Source records read.
    pub source: u64,
    /// Target records read.
    pub target: u64,
    /// Target records matched with a source record.
    pub matched: u64,
    /// Matched records with equal fields.
    pub equal: u64,
    /// Matched records with a different field.
    pub differing: u64,
    /// Source records with no target record (known failures excepted).
    pub missing_in_target: u64,
    /// Target records with no source record.
    pub missing_in_source: u64,
    /// Keys used by several source records.
    pub duplicate_keys_source: u64,
    /// Keys used by several target records.
    pub duplicate_keys_target: u64,
    /// Source records the mapping refused (known failures excepted).
    pub unmapped: u64,
    /// Known failures: source records differing, missing in the target or unmapped that
    /// have a live dead letter (listed in the report's `dead_lettered`). Not drift: a
    /// reconciliation with these alone is `clean`.
    pub dead_lettered: u64,
}

impl From<ReconcileCounts> for CountsView {
    fn from(c: ReconcileCounts) -> Self {
        Self {
            source: c.source,
            target: c.target,
            matched: c.matched,
            equal: c.equal,
            differing: c.differing,
            missing_in_target: c.missing_in_target,
            missing_in_source: c.missing_in_source,
            duplicate_keys_source: c.duplicate_keys_source,
            duplicate_keys_target: c.duplicate_keys_target,
            unmapped: c.unmapped,
            dead_lettered: c.dead_lettered,
        }
    }
}

/// One reconciliation of a flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationView {
    /// Its id.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// What started it: `cli`, `api`, `console` or `schedule`.
    pub trigger: String,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// End time; absent while running (or when the process running it died).
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `clean` (source and target agree but for the known failures counted in
    /// `counts.dead_lettered`), `drift` or `failed`.
    pub state: String,
    /// The counts, once finished.
    pub counts: Option<CountsView>,
    /// Why it failed.
    pub error: Option<String>,
    /// The whole report (only from `GET /reconciliations/{id}`, once finished): the JSON of
    /// `ferry reconcile --format json`, field values masked per `server.mask`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<Value>,
}

impl ReconciliationView {
    /// The view of a stored reconciliation: its error and report masked by `masks` (see
    /// [`mask_report`]); `key_field` is the flow's business key field.
    pub fn masked(r: Reconciliation, masks: &Masks, key_field: Option<&str>) -> Self {
        let flow = masks.flow(&r.flow);
        Self {
            state: state_of(&r).to_owned(),
            id: r.id,
            report: r
                .report
                .map(|report| mask_report(report, masks, &r.flow, key_field)),
            error: r.error.map(|e| flow.message(&e)),
            flow: r.flow,
            trigger: r.trigger,
            started_at: r.started_at,
            finished_at: r.finished_at,
            counts: r.counts.map(CountsView::from),
        }
    }
}

/// `running`, `clean`, `drift` or `failed`.
pub fn state_of(r: &Reconciliation) -> &'static str {
    match (r.finished_at, r.clean) {
        (None, _) => "running",
        (Some(_), Some(true)) => "clean",
        (Some(_), Some(false)) => "drift",
        (Some(_), None) => "failed",
    }
}

/// A report of `flow` as shown: each differing field's values masked when a rule names the
/// (canonical) field; the business keys of every list when the key field (`key_field`) is
/// ruled; and the error texts (unmapped records, known failures, repair errors) masked as the
/// flow's records are ([`crate::mask::MaskRules::message`] with the flow's source fields).
pub fn mask_report(mut report: Value, masks: &Masks, flow: &str, key_field: Option<&str>) -> Value {
    let rules = masks.flow(flow);
    if rules.is_empty() {
        return report;
    }
    for list in [
        "differing",
        "missing_in_target",
        "missing_in_source",
        "duplicate_keys",
        "dead_lettered",
    ] {
        let items = report.get_mut(list).and_then(Value::as_array_mut);
        for item in items.into_iter().flatten() {
            if let Some(Value::String(key)) = item.get_mut("key") {
                *key = rules.key(key_field, std::mem::take(key));
            }
            let fields = item.get_mut("fields").and_then(Value::as_array_mut);
            for field in fields.into_iter().flatten() {
                mask_difference(field, masks);
            }
        }
    }
    for list in ["unmapped", "dead_lettered"] {
        let items = report.get_mut(list).and_then(Value::as_array_mut);
        for item in items.into_iter().flatten() {
            if let Some(Value::String(error)) = item.get_mut("error") {
                *error = rules.message(error);
            }
        }
    }
    let repair_errors = report
        .get_mut("repair")
        .and_then(|r| r.get_mut("errors"))
        .and_then(Value::as_array_mut);
    for error in repair_errors.into_iter().flatten() {
        if let Value::String(text) = error {
            *text = rules.message(text);
        }
    }
    report
}

/// One field difference: both values masked by the canonical field's rule.
fn mask_difference(field: &mut Value, masks: &Masks) {
    let Some(name) = field
        .get("field")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return;
    };
    for side in ["source", "target"] {
        if let Some(v) = field.get_mut(side) {
            *v = masks.canonical().field(&name, v);
        }
    }
}

/// Starts a recorded reconciliation of `flow` in the background (trigger `api` or
/// `console`) and returns its id; a repair is audited, accepted or refused. Shared by the API
/// and the console.
pub(crate) async fn start_reconciliation(
    state: &AppState,
    caller: &Caller,
    flow: &str,
    request: &ReconcileRequest,
    trigger: &'static str,
) -> Result<i64, ApiError> {
    let details_limit = match request.details_limit {
        None => 100,
        Some(n @ 1..=MAX_DETAILS) => n,
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "details_limit {n} is out of range (1 to {MAX_DETAILS})"
            )));
        }
    };
    let options = reconcile::Options {
        scratch_dir: state.engine.data_dir().to_path_buf(),
        details_limit,
        repair: request.repair,
        repair_deletes: request.repair_deletes,
    };
    let started = reconcile::start(&state.engine, flow, &options, trigger).await;
    if let Some(action) = repair_action(&options) {
        let target = audit::target::reconciliation(flow, started.as_ref().ok().map(|s| s.id));
        audit::record(state.store(), &caller.actor(), action, &target, &started).await;
    }
    let started = started.map_err(refusal)?;
    let id = started.id;
    let engine = state.engine.clone();
    state.engine.spawn_background(move |cancel| async move {
        // The outcome is recorded in the store (report or error) by `finish`.
        let _ = started
            .finish(&engine, &options, &NoProgress, &cancel)
            .await;
    });
    Ok(id)
}

/// The audit action of a repair, `None` when nothing is repaired (a report only).
pub fn repair_action(options: &reconcile::Options) -> Option<&'static str> {
    audit::action::reconcile(options.repair, options.repair_deletes)
}

fn refusal(e: ReconcileError) -> ApiError {
    match e {
        ReconcileError::Busy { .. } => ApiError::Conflict(e.to_string()),
        ReconcileError::Unsupported { .. } | ReconcileError::NoDeletePolicy(_) => {
            ApiError::BadRequest(e.to_string())
        }
        ReconcileError::Engine(e) => e.into(),
        e => {
            tracing::error!(error = ?e.to_string(), "Could not start a reconciliation.");
            ApiError::Internal
        }
    }
}

/// Compare a flow's source and target now, in the background.
#[utoipa::path(post, path = "/flows/{flow}/reconcile", tag = "reconcile", security(("bearer" = [])),
    params(("flow" = String, Path, description = "The flow's name")),
    request_body(content = Option<ReconcileRequest>, description = "Optional; `{}` reports only"),
    responses((status = 202, body = ReconcileStarted), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "One is already running")))]
pub async fn start(
    caller: Operator,
    State(state): State<AppState>,
    Path(flow): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ReconcileStarted>), ApiError> {
    let body = raw_body(body)?;
    let request: ReconcileRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReconcileRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?
    };
    let id = start_reconciliation(&state, &caller.0, &flow, &request, "api").await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReconcileStarted {
            id,
            flow,
            state: "running".into(),
        }),
    ))
}

/// Filters for `GET /reconciliations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationsQuery {
    /// Only this flow.
    flow: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Reconciliations, newest first, without their reports.
#[utoipa::path(get, path = "/reconciliations", tag = "reconcile", security(("bearer" = [])),
    params(ReconciliationsQuery),
    responses((status = 200, body = [ReconciliationView]), (status = 400, body = ErrorBody)))]
pub async fn list(
    _caller: Viewer,
    State(state): State<AppState>,
    q: Result<Query<ReconciliationsQuery>, QueryRejection>,
) -> Result<Json<Vec<ReconciliationView>>, ApiError> {
    let q = query(q)?;
    let found = state
        .store()
        .reconciliations(q.flow.as_deref(), limit(q.limit)?)
        .await?;
    Ok(Json(
        found
            .into_iter()
            .map(|r| state.reconciliation_view(r))
            .collect(),
    ))
}

/// A stored reconciliation, or 404.
pub(crate) async fn find(state: &AppState, id: i64) -> Result<Reconciliation, ApiError> {
    state
        .store()
        .reconciliation(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("reconciliation {id} does not exist")))
}

/// One reconciliation: its state and, once finished, its report.
#[utoipa::path(get, path = "/reconciliations/{id}", tag = "reconcile", security(("bearer" = [])),
    params(("id" = i64, Path, description = "From the 202 answer or the listing")),
    responses((status = 200, body = ReconciliationView), (status = 404, body = ErrorBody)))]
pub async fn show(
    _caller: Viewer,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ReconciliationView>, ApiError> {
    let found = find(&state, id).await?;
    Ok(Json(state.reconciliation_view(found)))
}
