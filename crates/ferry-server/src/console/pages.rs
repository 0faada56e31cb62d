//! The overview of flows, a flow's detail (recent runs, open dead letters, ledger search,
//! reconciliations) and the audit log.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use ferry_store::{DeadLetterFilter, DeadLetterState};
use serde::Deserialize;

use super::charts::{RunFigures, figure, sparkline};
use super::session::Session;
use super::{ConsoleError, Nav, page};
use crate::AppState;
use crate::api::flows::flow_views;
use crate::api::views::{AuditView, DeadLetterView, FlowView, LedgerView, RunView};
use crate::auth::Role;
use crate::error::ApiError;

/// Runs the overview's figures and charts are computed from, per flow.
const RECENT_RUNS: u32 = 50;

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
    pub spark: String,
}

impl FlowRow {
    fn new(flow: FlowView, runs: &[RunView]) -> Self {
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
        rows.push(FlowRow::new(flow, &runs));
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
        .map(RunView::from)
        .collect())
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
    reconciliations: Vec<super::reconcile::Row>,
}

/// The ledger search of a flow's page.
#[derive(Debug, Deserialize)]
pub struct LedgerSearch {
    /// A business key or source id.
    #[serde(default)]
    q: String,
}

/// `GET /console/flows/{flow}?q=`: a flow's state, recent runs, open dead letters, and the
/// ledger of one business key or source id.
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
        .map(|d| DeadLetterView::masked(d, &state.settings.mask))
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
                .map(LedgerView::from)
                .collect(),
        )
    };
    page(&FlowPage {
        nav: Nav::new(&session, "overview"),
        row: FlowRow::new(flow, &runs),
        runs: runs.into_iter().take(20).collect(),
        dead_letters,
        query,
        ledger,
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
