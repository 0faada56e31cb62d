//! The review queue of two-way pairs: conflicts on shared fields left for an operator
//! (`conflicts: manual`). List, show (values masked), resolve (operator; audited).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use ferry_engine::Pick;
use ferry_store::{Conflict, ConflictFilter, ConflictState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};

use super::{body, limit, query};
use crate::AppState;
use crate::audit;
use crate::auth::{Caller, Operator, Viewer};
use crate::error::{ApiError, ErrorBody};
use crate::mask::MaskRules;

/// A conflict: a shared field changed in both systems since they last agreed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictView {
    /// Conflict id.
    pub id: i64,
    /// `open` (waiting for a pick) or `resolved`.
    pub state: String,
    /// The pair (`pairs:` in the config).
    pub pair: String,
    /// The pair's first flow: its source and target name the two versions.
    pub flow: String,
    /// The flow's source system.
    pub source_system: String,
    /// The flow's target system.
    pub target_system: String,
    /// The business key.
    pub key: String,
    /// The record's id in the source system, when known.
    pub source_id: Option<String>,
    /// The record's id in the target system, when known.
    pub target_id: Option<String>,
    /// The fields in conflict.
    pub fields: Vec<String>,
    /// The source's values of those fields (masked fields masked).
    pub source_values: Value,
    /// The target's values.
    pub target_values: Value,
    /// The values both last agreed on.
    pub base_values: Value,
    /// The source record's updated-at.
    pub source_at: Option<DateTime<Utc>>,
    /// The target record's updated-at.
    pub target_at: Option<DateTime<Utc>>,
    /// The version picked: `source` or `target`.
    pub pick: Option<String>,
    /// Who picked it.
    pub resolved_by: Option<String>,
    /// First found.
    pub created_at: DateTime<Utc>,
    /// Last change (found again, or resolved).
    pub updated_at: DateTime<Utc>,
}

impl ConflictView {
    /// The view of a conflict, values (canonical) and key masked, systems named from the
    /// running config.
    pub fn new(c: Conflict, state: &AppState) -> Self {
        let mask: &MaskRules = state.settings.mask.canonical();
        let key = mask.key(state.key_field(&c.found.flow), c.found.key);
        let (source_system, target_system) = state.engine.flow(&c.found.flow).map_or_else(
            |_| (String::new(), String::new()),
            |f| {
                (
                    f.config.source.system.clone(),
                    f.config.target.system.clone(),
                )
            },
        );
        Self {
            id: c.id,
            state: c.state.as_str().to_owned(),
            pair: c.found.pair,
            flow: c.found.flow,
            source_system,
            target_system,
            key,
            source_id: c.found.source_id,
            target_id: c.found.target_id,
            fields: c.found.fields,
            source_values: mask.apply(&Value::Object(c.found.source_values)),
            target_values: mask.apply(&Value::Object(c.found.target_values)),
            base_values: mask.apply(&Value::Object(c.found.base_values)),
            source_at: c.found.source_at,
            target_at: c.found.target_at,
            pick: c.pick,
            resolved_by: c.resolved_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Filters for `GET /conflicts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this pair.
    pair: Option<String>,
    /// `open` (default), `resolved` or `all`.
    state: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Conflicts of two-way pairs, newest first.
#[utoipa::path(get, path = "/conflicts", tag = "conflicts", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = [ConflictView]), (status = 400, body = ErrorBody)))]
pub async fn list(
    _caller: Viewer,
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<ConflictView>>, ApiError> {
    let q = query(q)?;
    let wanted = match q.state.as_deref() {
        None | Some("open") => Some(ConflictState::Open),
        Some("all") => None,
        Some(other) => Some(ConflictState::parse(other).ok_or_else(|| {
            ApiError::BadRequest(format!("state `{other}` is not one of open, resolved, all"))
        })?),
    };
    let filter = ConflictFilter {
        pair: q.pair,
        state: wanted,
        limit: Some(limit(q.limit)?),
    };
    let found = state.store().conflicts(&filter).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|c| ConflictView::new(c, &state))
            .collect(),
    ))
}

/// A conflict, or 404.
pub(crate) async fn find(state: &AppState, id: i64) -> Result<Conflict, ApiError> {
    state
        .store()
        .conflict(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conflict {id} does not exist")))
}

/// One conflict with both versions and the last agreed values (masked).
#[utoipa::path(get, path = "/conflicts/{id}", tag = "conflicts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Conflict id")),
    responses((status = 200, body = ConflictView), (status = 404, body = ErrorBody)))]
pub async fn show(
    _caller: Viewer,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ConflictView>, ApiError> {
    let c = find(&state, id).await?;
    Ok(Json(ConflictView::new(c, &state)))
}

/// The body of a resolve.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `source` keeps the source system's version (written to the target), `target` the
    /// target's (written to the source).
    pub pick: String,
}

/// Picks a version of an open conflict, writes it to the other system and audits it. Shared
/// by the API and the console.
pub(crate) async fn resolve_conflict(
    state: &AppState,
    caller: &Caller,
    id: i64,
    pick: &str,
) -> Result<Conflict, ApiError> {
    let pick = Pick::parse(pick).ok_or_else(|| {
        ApiError::BadRequest(format!("pick `{pick}` is not one of source, target"))
    })?;
    let c = find(state, id).await?;
    if c.state != ConflictState::Open {
        return Err(ApiError::Conflict(format!(
            "conflict {id} is {}; only an open conflict can be resolved",
            c.state.as_str()
        )));
    }
    let who = format!("api key {} ({})", caller.key_id, caller.key_name);
    let result = state
        .engine
        .resolve_conflict(id, pick, &who, &CancellationToken::new())
        .await;
    audit::record(
        state.store(),
        &caller.actor(),
        audit::action::CONFLICT_RESOLVE,
        &audit::target::conflict(id, pick.as_str()),
        &result,
    )
    .await;
    Ok(result?)
}

/// Resolve a conflict: the picked version is written to the other system and becomes the
/// agreed value (ledger and audit log record it).
#[utoipa::path(post, path = "/conflicts/{id}/resolve", tag = "conflicts",
    security(("bearer" = [])), params(("id" = i64, Path, description = "Conflict id")),
    request_body = ResolveBody,
    responses((status = 200, body = ConflictView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
pub async fn resolve(
    caller: Operator,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    json: Result<Json<ResolveBody>, JsonRejection>,
) -> Result<Json<ConflictView>, ApiError> {
    let b = body(json)?;
    let c = resolve_conflict(&state, &caller.0, id, &b.pick).await?;
    Ok(Json(ConflictView::new(c, &state)))
}
