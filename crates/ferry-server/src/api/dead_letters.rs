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
    let states = states(q.state.as_deref())?;
    let filter = DeadLetterFilter {
        flow: q.flow,
        states,
        limit: Some(limit(q.limit)?),
    };
    let found = state.store().dead_letters(&filter).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|d| state.dead_letter_view(d))
            .collect(),
    ))
}

/// The states a `state` filter names: `open` (default), one state, or `all`.
pub(crate) fn states(filter: Option<&str>) -> Result<Vec<DeadLetterState>, ApiError> {
    Ok(match filter {
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
    })
}

/// A dead letter, or 404.
pub(crate) async fn find(state: &AppState, id: i64) -> Result<DeadLetter, ApiError> {
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
    Ok(Json(state.dead_letter_view(dead)))
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

/// Where an operator action came from, for the ledger's trigger text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via {
    /// The REST API.
    Api,
    /// The console.
    Console,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Console => "console",
        }
    }
}

/// Replays an open dead letter, with an operator-edited payload (as shown, masked values
/// restored) or without one (the worker reads the source again), and audits it. Shared by the
/// API and the console. Returns the queue item that carries it.
pub(crate) async fn replay_dead_letter(
    state: &AppState,
    caller: &Caller,
    id: i64,
    edited: Option<Value>,
    via: Via,
) -> Result<i64, ApiError> {
    let (action, payload) = match edited {
        None => {
            find_open(state, id, "replayed").await?;
            (audit::action::DEAD_LETTER_REPLAY, None)
        }
        Some(edited) => {
            let dead = find_open(state, id, "edited").await?;
            let mask = state.settings.mask.flow(&dead.flow);
            let payload = mask.restore_payload(edited, &dead.payload);
            let record: ferry_model::Record =
                serde_json::from_value(payload.clone()).map_err(|e| {
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
            (audit::action::DEAD_LETTER_EDIT, Some(payload))
        }
    };
    let trigger = format!("{} replay by key {}", via.as_str(), caller.key_id);
    let result = state
        .store()
        .replay_dead_letter(id, &trigger, payload)
        .await;
    audit::record(
        state.store(),
        &caller.actor(),
        action,
        &audit::target::dead_letter(id),
        &result,
    )
    .await;
    Ok(result?)
}

/// Skips an open dead letter for good (recorded in the ledger) and audits it.
pub(crate) async fn skip_dead_letter(
    state: &AppState,
    caller: &Caller,
    id: i64,
    via: Via,
) -> Result<(), ApiError> {
    find_open(state, id, "skipped").await?;
    let trigger = format!("{} skip by key {}", via.as_str(), caller.key_id);
    let result = state.store().skip_dead_letter(id, &trigger).await;
    audit::record(
        state.store(),
        &caller.actor(),
        audit::action::DEAD_LETTER_SKIP,
        &audit::target::dead_letter(id),
        &result,
    )
    .await;
    result?;
    Ok(())
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
    let queue_item_id = replay_dead_letter(&state, &caller.0, id, None, Via::Api).await?;
    Ok(Json(Replayed {
        dead_letter_id: id,
        queue_item_id,
    }))
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
    let queue_item_id = replay_dead_letter(&state, &caller.0, id, Some(edited), Via::Api).await?;
    Ok(Json(Replayed {
        dead_letter_id: id,
        queue_item_id,
    }))
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
    skip_dead_letter(&state, &caller.0, id, Via::Api).await?;
    Ok(Json(Skipped { dead_letter_id: id }))
}
