//! The overview of flows, a flow's detail (recent runs, open dead letters, recent ledger
//! entries, ledger search, reconciliations) and the audit log.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use ferry_store::{DeadLetterFilter, DeadLetterState};
use serde::Deserialize;

use super::charts::{LatencyFigures, RunFigures, figure, sparkline};
use super::session::Session;
use super::{ConsoleError, Nav, page};
use crate::AppState;
use crate::api::flows::flow_views;
use crate::api::views::{AuditView, DeadLetterView, FlowView, LedgerView, RunView};
use crate::auth::Role;
use crate::error::ApiError;

/// Runs the overview's figures and charts are computed from, per flow.
const RECENT_RUNS: u32 = 50;
/// Tracked requests the per-record latency is computed from, per flow.
const RECENT_REQUESTS: u32 = 200;
/// Ledger entries per page of a flow's recent ledger.
const LEDGER_PAGE: u32 = 50;

/// A form with nothing but the CSRF token (logout, replay, skip).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's token; missing means refused.
    #[serde(default)]
    pub csrf: String,
}

/// One flow on the overview.
pub struct FlowRow {
    pub flow: FlowView,
    /// `ok`, `running`, `failing`, `attention` (open dead letters) or `disabled`.
    pub status: &'static str,
    pub throughput: String,
    pub error_rate: String,
    pub p50: String,
    pub p99: String,
    /// Per-record latency (request accepted → record written), median.
    pub record_p50: String,
    /// Per-record latency, 99th percentile.
    pub record_p99: String,
    /// Requests delivered that the record latency is computed from.
    pub record_sample: usize,
    /// Requests still queued (not in the record latency).
    pub record_queued: usize,
    pub spark: String,
}

impl FlowRow {
    fn new(flow: FlowView, runs: &[RunView], requests: &LatencyFigures) -> Self {
        let figures = RunFigures::of(runs);
        let status = match &flow.last_run {
            _ if flow.disabled => "disabled",
            Some(run) if run.error.is_some() => "failing",
            _ if flow.dead_letters > 0 => "attention",
            Some(run) if run.finished_at.is_none() => "running",
            _ => "ok",
        };
        Self {
            spark: sparkline(
                &figures.read_per_run,
                &format!("records read per run, last {} runs", runs.len()),
            ),
            throughput: figure(figures.throughput, " rec/s"),
            error_rate: figure(figures.error_rate, " %"),
            p50: figure(figures.p50, " s"),
            p99: figure(figures.p99, " s"),
            record_p50: figure(requests.p50, " s"),
            record_p99: figure(requests.p99, " s"),
            record_sample: requests.delivered,
            record_queued: requests.queued,
            status,
            flow,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    rows: Vec<FlowRow>,
}

/// `GET /console/`: every flow with its state and figures from its recent runs.
pub async fn overview(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ConsoleError> {
    let mut rows = Vec::new();
    for flow in flow_views(&state).await? {
        let runs = recent_runs(&state, &flow.name, RECENT_RUNS).await?;
        let latency = record_latency(&state, &flow.name).await?;
        rows.push(FlowRow::new(flow, &runs, &latency));
    }
    page(&OverviewPage {
        nav: Nav::new(&session, "overview"),
        rows,
    })
}

async fn recent_runs(state: &AppState, flow: &str, n: u32) -> Result<Vec<RunView>, ApiError> {
    Ok(state
        .store()
        .runs(Some(flow), n)
        .await?
        .into_iter()
        .map(|r| RunView::masked(r, state.settings.mask.flow(flow)))
        .collect())
}

/// Per-record latency of a flow's latest tracked requests.
async fn record_latency(state: &AppState, flow: &str) -> Result<LatencyFigures, ApiError> {
    let requests = state
        .store()
        .request_latencies(Some(flow), RECENT_REQUESTS)
        .await?;
    Ok(LatencyFigures::of(&requests))
}

#[derive(askama::Template)]
#[template(path = "flow.html")]
struct FlowPage {
    nav: Nav,
    row: FlowRow,
    runs: Vec<RunView>,
    dead_letters: Vec<DeadLetterView>,
    query: String,
    ledger: Option<Vec<LedgerView>>,
    /// The latest ledger entries (below `before` when paging), newest first.
    recent: Vec<LedgerView>,
    /// Paging back: this page starts below this id.
    before: Option<i64>,
    /// The id the next (older) page starts below, when there may be one.
    older: Option<i64>,
    requests_considered: u32,
    reconciliations: Vec<super::reconcile::Row>,
}

/// The ledger search and paging of a flow's page.
#[derive(Debug, Deserialize)]
pub struct LedgerSearch {
    /// A business key or source id.
    #[serde(default)]
    q: String,
    /// Recent ledger: entries below this id.
    before: Option<i64>,
}

/// `GET /console/flows/{flow}?q=&before=`: a flow's state, recent runs, open dead letters,
/// its latest ledger entries (a page at a time) and the ledger of one business key or
/// source id.
pub async fn flow(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Query(search): Query<LedgerSearch>,
) -> Result<Response, ConsoleError> {
    let flow = flow_views(&state)
        .await?
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("unknown flow `{name}`")))?;
    let runs = recent_runs(&state, &name, RECENT_RUNS).await?;
    let dead_letters = state
        .store()
        .dead_letters(&DeadLetterFilter {
            flow: Some(name.clone()),
            states: vec![DeadLetterState::Open],
            limit: Some(20),
        })
        .await?
        .into_iter()
        .map(|d| state.dead_letter_view(d))
        .collect();
    let query = search.q.trim().to_owned();
    let ledger = if query.is_empty() {
        None
    } else {
        Some(
            state
                .store()
                .ledger(Some(&name), &query)
                .await?
                .into_iter()
                .map(|e| state.ledger_view(e))
                .collect(),
        )
    };
    let recent: Vec<LedgerView> = state
        .store()
        .recent_ledger(Some(&name), LEDGER_PAGE, search.before)
        .await?
        .into_iter()
        .map(|e| state.ledger_view(e))
        .collect();
    let older = match recent.last() {
        Some(last) if recent.len() == LEDGER_PAGE as usize => Some(last.id),
        _ => None,
    };
    let latency = record_latency(&state, &name).await?;
    page(&FlowPage {
        nav: Nav::new(&session, "overview"),
        row: FlowRow::new(flow, &runs, &latency),
        runs: runs.into_iter().take(20).collect(),
        dead_letters,
        query,
        ledger,
        recent,
        before: search.before,
        older,
        requests_considered: RECENT_REQUESTS,
        reconciliations: super::reconcile::recent(&state, &name).await?,
    })
}

#[derive(askama::Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    entries: Vec<AuditView>,
}

/// `GET /console/audit`: the latest 200 audited actions (admins).
pub async fn audit(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ConsoleError> {
    session.caller.require(Role::Admin)?;
    let entries = state
        .store()
        .audit_log(200, None)
        .await?
        .into_iter()
        .map(AuditView::from)
        .collect();
    page(&AuditPage {
        nav: Nav::new(&session, "audit"),
        entries,
    })
}
