//! Flows and their state, runs, and the ledger.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use ferry_engine::{Flow, Schedule};
use ferry_store::FlowState;
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::{FlowView, LedgerView, RunView};
use super::{limit, query};
use crate::AppState;
use crate::auth::Viewer;
use crate::error::{ApiError, ErrorBody};
use crate::mask::Masks;

fn flow_view(flow: &Flow, state: Option<FlowState>, masks: &Masks) -> FlowView {
    let state = state.unwrap_or(FlowState {
        flow: flow.name.clone(),
        cursor: None,
        records: 0,
        queued: 0,
        dead_letters: 0,
        conflicts: 0,
        not_owner: 0,
        last_run: None,
    });
    FlowView {
        name: flow.name.clone(),
        entity: flow.config.entity.as_str().to_owned(),
        source: flow.config.source.system.clone(),
        target: flow.config.target.system.clone(),
        trigger: match &flow.schedule {
            Schedule::Manual => "manual".into(),
            Schedule::Every(every) => format!("poll {}", humanize(*every)),
            Schedule::Cron(cron) => format!("cron {}", cron.pattern()),
        },
        disabled: flow.config.disabled,
        cursor: state.cursor,
        records: state.records,
        queued: state.queued,
        dead_letters: state.dead_letters,
        pair: flow.pair().map(str::to_owned),
        conflicts: state.conflicts,
        not_owner: state.not_owner,
        last_run: state
            .last_run
            .map(|r| RunView::masked(r, masks.flow(&flow.name))),
    }
}

fn humanize(d: std::time::Duration) -> String {
    if d.as_secs() > 0 && d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Every configured flow with its state.
#[utoipa::path(get, path = "/flows", tag = "flows", security(("bearer" = [])),
    responses((status = 200, body = [FlowView]), (status = 401, body = ErrorBody)))]
pub async fn list_flows(
    _caller: Viewer,
    State(state): State<AppState>,
) -> Result<Json<Vec<FlowView>>, ApiError> {
    Ok(Json(flow_views(&state).await?))
}

/// Every configured flow with its state, in config order (the API's list and the console's
/// overview).
pub(crate) async fn flow_views(state: &AppState) -> Result<Vec<FlowView>, ApiError> {
    let mut states: HashMap<String, FlowState> = state
        .store()
        .flow_states()
        .await?
        .into_iter()
        .map(|s| (s.flow.clone(), s))
        .collect();
    Ok(state
        .engine
        .flows()
        .map(|f| flow_view(f, states.remove(&f.name), &state.settings.mask))
        .collect())
}

/// One flow with its state.
#[utoipa::path(get, path = "/flows/{flow}", tag = "flows", security(("bearer" = [])),
    params(("flow" = String, Path, description = "The flow's name")),
    responses((status = 200, body = FlowView), (status = 404, body = ErrorBody)))]
pub async fn get_flow(
    _caller: Viewer,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<FlowView>, ApiError> {
    let flow = state.engine.flow(&name)?;
    let found = state
        .store()
        .flow_states()
        .await?
        .into_iter()
        .find(|s| s.flow == name);
    Ok(Json(flow_view(flow, found, &state.settings.mask)))
}

/// Filters for `GET /runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this flow.
    flow: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/runs", tag = "flows", security(("bearer" = [])), params(RunsQuery),
    responses((status = 200, body = [RunView]), (status = 400, body = ErrorBody)))]
pub async fn list_runs(
    _caller: Viewer,
    State(state): State<AppState>,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    let q = query(q)?;
    let runs = state
        .store()
        .runs(q.flow.as_deref(), limit(q.limit)?)
        .await?;
    let masks = &state.settings.mask;
    Ok(Json(
        runs.into_iter()
            .map(|r| {
                let mask = masks.flow(&r.flow);
                RunView::masked(r, mask)
            })
            .collect(),
    ))
}

/// Filters for `GET /ledger`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// A business key (customer code, order number, SKU) or a source id: everything about
    /// it, oldest first. Without it: the latest entries, newest first.
    key: Option<String>,
    /// Only this flow.
    flow: Option<String>,
    /// Latest entries: at most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// Latest entries: only ids below this one (the next page starts below the last id
    /// shown).
    before: Option<i64>,
}

/// The ledger: everything Ferry did with one business key or source id, oldest first; or,
/// without `key`, the latest attempts (of one flow or all), newest first, a page at a time.
/// Keys and error messages are shown with the `server.mask` rules applied.
#[utoipa::path(get, path = "/ledger", tag = "flows", security(("bearer" = [])), params(LedgerQuery),
    responses((status = 200, body = [LedgerView]), (status = 400, body = ErrorBody)))]
pub async fn ledger(
    _caller: Viewer,
    State(state): State<AppState>,
    q: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Json<Vec<LedgerView>>, ApiError> {
    let q = query(q)?;
    let entries = match q.key.as_deref() {
        Some(key) if key.trim().is_empty() => {
            return Err(ApiError::BadRequest("`key` must not be empty".into()));
        }
        Some(key) => {
            if q.limit.is_some() || q.before.is_some() {
                return Err(ApiError::BadRequest(
                    "`limit` and `before` page the latest entries: leave out `key`".into(),
                ));
            }
            state.store().ledger(q.flow.as_deref(), key).await?
        }
        None => {
            state
                .store()
                .recent_ledger(q.flow.as_deref(), limit(q.limit)?, q.before)
                .await?
        }
    };
    Ok(Json(
        entries.into_iter().map(|e| state.ledger_view(e)).collect(),
    ))
}
