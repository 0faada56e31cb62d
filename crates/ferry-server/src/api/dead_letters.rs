//! Dead letters: list, show (payloads masked), replay, edit (replay with an operator-edited
//! payload) and skip. Each action is audited with its outcome.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use ferry_store::{DeadLetter, DeadLetterFilter, DeadLetterState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::views::DeadLetterView;
use super::{body, limit, query};
use crate::AppState;
use crate::audit;
use crate::auth::{Caller, Operator, Viewer};
use crate::error::{ApiError, ErrorBody};

/// Filters for `GET /dead-letters`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this flow.
    flow: Option<String>,
    /// `open` (default), `replayed`, `skipped`, `resolved` or `all`.
    state: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Dead letters, newest first.
#[utoipa::path(get, path = "/dead-letters", tag = "dead_letters", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = [DeadLetterView]), (status = 400, body = ErrorBody)))]
pub async fn list(
    _caller: Viewer,
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    let q = query(q)?;
    let states = match q.state.as_deref() {
        None | Some("open") => vec![DeadLetterState::Open],
        Some("all") => vec![
            DeadLetterState::Open,
            DeadLetterState::Replayed,
            DeadLetterState::Skipped,
            DeadLetterState::Resolved,
        ],
        Some(other) => vec![DeadLetterState::parse(other).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "state `{other}` is not one of open, replayed, skipped, resolved, all"
            ))
        })?],
    };
    let filter = DeadLetterFilter {
        flow: q.flow,
        states,
        limit: Some(limit(q.limit)?),
    };
    let found = state.store().dead_letters(&filter).await?;
    let mask = &state.settings.mask;
    Ok(Json(
        found
            .into_iter()
            .map(|d| DeadLetterView::masked(d, mask))
            .collect(),
    ))
}

async fn find(state: &AppState, id: i64) -> Result<DeadLetter, ApiError> {
    state
        .store()
        .dead_letter(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("dead letter {id} does not exist")))
}

/// An open dead letter, or why not (404 missing, 409 not open).
async fn find_open(state: &AppState, id: i64, action: &str) -> Result<DeadLetter, ApiError> {
    let dead = find(state, id).await?;
    if dead.state != DeadLetterState::Open {
        return Err(ApiError::Conflict(format!(
            "dead letter {id} is {}; only an open dead letter can be {action}",
            dead.state.as_str()
        )));
    }
    Ok(dead)
}

/// One dead letter with its (masked) payload and error.
#[utoipa::path(get, path = "/dead-letters/{id}", tag = "dead_letters", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Dead letter id")),
    responses((status = 200, body = DeadLetterView), (status = 404, body = ErrorBody)))]
pub async fn show(
    _caller: Viewer,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DeadLetterView>, ApiError> {
    let dead = find(&state, id).await?;
    Ok(Json(DeadLetterView::masked(dead, &state.settings.mask)))
}

/// The answer to a replay or edit.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// The dead letter, now `replayed` (it becomes `resolved` once the record is delivered).
    pub dead_letter_id: i64,
    /// The queue item that carries it.
    pub queue_item_id: i64,
}

/// The answer to a skip.
#[derive(Debug, Serialize, ToSchema)]
pub struct Skipped {
    /// The dead letter, now `skipped`.
    pub dead_letter_id: i64,
}

async fn replay_with(
    state: &AppState,
    caller: &Caller,
    id: i64,
    action: &str,
    payload: Option<Value>,
) -> Result<Json<Replayed>, ApiError> {
    let trigger = format!("api replay by key {}", caller.key_id);
    let result = state
        .store()
        .replay_dead_letter(id, &trigger, payload)
        .await;
    audit::record(
        state.store(),
        &caller.actor(),
        action,
        &format!("dead letter {id}"),
        &result,
    )
    .await;
    Ok(Json(Replayed {
        dead_letter_id: id,
        queue_item_id: result?,
    }))
}

/// Send a dead letter back through its flow: the worker reads the record's current state
/// from the source.
#[utoipa::path(post, path = "/dead-letters/{id}/replay", tag = "dead_letters",
    security(("bearer" = [])), params(("id" = i64, Path, description = "Dead letter id")),
    responses((status = 200, body = Replayed), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn replay(
    caller: Operator,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Replayed>, ApiError> {
    find_open(&state, id, "replayed").await?;
    replay_with(&state, &caller.0, id, "dead_letter.replay", None).await
}

/// The body of an edit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    /// The record to use instead of reading the source: the dead letter's payload as shown,
    /// edited. Masked values sent back unchanged keep their original value.
    pub payload: Value,
}

/// Replay a dead letter with an edited payload (used instead of reading the source).
#[utoipa::path(post, path = "/dead-letters/{id}/edit", tag = "dead_letters",
    security(("bearer" = [])), params(("id" = i64, Path, description = "Dead letter id")),
    request_body = EditBody,
    responses((status = 200, body = Replayed), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn edit(
    caller: Operator,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    json: Result<Json<EditBody>, JsonRejection>,
) -> Result<Json<Replayed>, ApiError> {
    let edited = body(json)?.payload;
    let dead = find_open(&state, id, "edited").await?;
    let payload = state.settings.mask.restore(edited, &dead.payload);
    let record: ferry_model::Record = serde_json::from_value(payload.clone()).map_err(|e| {
        ApiError::BadRequest(format!(
            "payload is not a record ({{\"id\", \"fields\", …}} as shown): {e}"
        ))
    })?;
    if record.id != dead.source_id {
        return Err(ApiError::BadRequest(format!(
            "payload id `{}` is not the dead letter's record `{}`",
            record.id, dead.source_id
        )));
    }
    replay_with(&state, &caller.0, id, "dead_letter.edit", Some(payload)).await
}

/// Drop a dead letter for good (recorded in the ledger).
#[utoipa::path(post, path = "/dead-letters/{id}/skip", tag = "dead_letters",
    security(("bearer" = [])), params(("id" = i64, Path, description = "Dead letter id")),
    responses((status = 200, body = Skipped), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn skip(
    caller: Operator,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Skipped>, ApiError> {
    find_open(&state, id, "skipped").await?;
    let trigger = format!("api skip by key {}", caller.0.key_id);
    let result = state.store().skip_dead_letter(id, &trigger).await;
    audit::record(
        state.store(),
        &caller.0.actor(),
        "dead_letter.skip",
        &format!("dead letter {id}"),
        &result,
    )
    .await;
    result?;
    Ok(Json(Skipped { dead_letter_id: id }))
}
