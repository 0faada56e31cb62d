//! Sync one record now: `POST /sync` puts (flow, source id) on the durable queue and answers
//! `202` with a tracking id (the queue item's id); `GET /sync/{tracking_id}` tells what became
//! of it. `ferry run` works the queue within a second.
//!
//! The outcome is read from the store, not kept in memory, so it survives restarts:
//! - `queued`: the queue item is still there (waiting, or retrying after a transient error:
//!   `attempts` and `error` say so);
//! - `done` with `outcome` `created`, `updated`, `unchanged` or `deleted`: the newest ledger
//!   entry of the record since the request; no entry means the source record was unchanged
//!   since it was last read (the engine skips it without a ledger entry), so `unchanged`;
//! - `done` with `outcome` `not_found`: the source has no such record and Ferry never wrote
//!   one (`error` says so; had Ferry written it, the flow's `on_delete` applies: `deleted`);
//! - `failed`: the newest entry since the request is a failure and nothing is queued;
//! - `dead_lettered`: the record became a dead letter (`dead_letter_id`);
//! - `skipped`: an operator skipped its dead letter.
//!
//! Tracking ids are kept seven days. The same notice shape serves webhooks ([`Notice`]).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ferry_engine::Engine;
use ferry_model::Entity;
use ferry_store::{Accepted, Outcome, SyncRequestState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::body;
use crate::AppState;
use crate::audit;
use crate::auth::{Operator, Viewer};
use crate::error::{ApiError, ErrorBody};

/// "This record changed": by flow, or by entity (every enabled flow reading that entity from
/// the system). `id` is the record's id in the source system, text or number.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// The flow (`customers`). Give this or `entity`.
    pub flow: Option<String>,
    /// The entity (`customer`). Give this or `flow`.
    pub entity: Option<String>,
    /// The source system, to choose among flows of one entity reading from different
    /// systems (the API only; a webhook's system is in its URL).
    pub system: Option<String>,
    /// The record's id in the source system.
    #[schema(value_type = String)]
    pub id: Value,
}

/// The body of `POST /sync`: one notice or a list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SyncBody {
    /// One record.
    One(Notice),
    /// Several records.
    Many(Vec<Notice>),
}

/// One accepted request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tracked {
    /// Follow it at `GET /api/v1/sync/{tracking_id}`.
    pub tracking_id: i64,
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub id: String,
}

/// The answer to an accepted sync request or webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncAccepted {
    /// One per (flow, record) queued.
    pub accepted: Vec<Tracked>,
    /// Webhooks only, and only when `true`: the delivery id was accepted before (answered
    /// `200`); the tracking ids are the first delivery's, and nothing new was queued.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// Turns notices into (flow, source id) pairs. `system`: the webhook's system (every notice
/// must be about a flow reading from it). Errors say which notice is wrong and why.
pub fn resolve(
    engine: &Engine,
    notices: &[Notice],
    system: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    if notices.is_empty() {
        return Err("no change notice: send {\"flow\" or \"entity\", \"id\"} or a list".into());
    }
    let mut out = Vec::new();
    for (n, notice) in notices.iter().enumerate() {
        let at = |msg: String| {
            if notices.len() > 1 {
                format!("notice {n}: {msg}")
            } else {
                msg
            }
        };
        let id = match &notice.id {
            Value::String(s) if !s.trim().is_empty() => s.clone(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            other => {
                return Err(at(format!(
                    "`id` must be a non-empty text or an integer, not {other}"
                )));
            }
        };
        let system = match (system, notice.system.as_deref()) {
            (Some(path), Some(body)) if path != body => {
                return Err(at(format!(
                    "`system` is `{body}` but the notice was sent to /hooks/{path}"
                )));
            }
            (Some(s), _) | (None, Some(s)) => Some(s),
            (None, None) => None,
        };
        match (&notice.flow, &notice.entity) {
            (Some(flow), None) => {
                let f = engine
                    .flow(flow)
                    .map_err(|_| at(format!("unknown flow `{flow}`")))?;
                if let Some(system) = system
                    && f.config.source.system != system
                {
                    return Err(at(format!(
                        "flow `{flow}` reads from `{}`, not from `{system}`",
                        f.config.source.system
                    )));
                }
                out.push((f.name.clone(), id));
            }
            (None, Some(entity)) => {
                // A built-in name, or one the workspace declares (its flows carry it).
                if Entity::builtin(entity).is_none()
                    && !engine.flows().any(|f| f.config.entity.as_str() == entity)
                {
                    return Err(at(format!("unknown entity `{entity}`")));
                }
                let flows: Vec<_> = engine
                    .flows()
                    .filter(|f| !f.config.disabled && f.config.entity.as_str() == entity)
                    .filter(|f| system.is_none_or(|s| f.config.source.system == s))
                    .collect();
                let systems: std::collections::BTreeSet<&str> = flows
                    .iter()
                    .map(|f| f.config.source.system.as_str())
                    .collect();
                if flows.is_empty() {
                    return Err(at(match system {
                        Some(s) => format!("no enabled flow reads {entity} from `{s}`"),
                        None => format!("no enabled flow carries {entity}"),
                    }));
                }
                if systems.len() > 1 {
                    return Err(at(format!(
                        "{entity} is read from several systems ({}): name the `system` or \
                         the `flow`",
                        systems.into_iter().collect::<Vec<_>>().join(", ")
                    )));
                }
                out.extend(flows.into_iter().map(|f| (f.name.clone(), id.clone())));
            }
            (Some(_), Some(_)) => return Err(at("give `flow` or `entity`, not both".into())),
            (None, None) => return Err(at("give `flow` or `entity`".into())),
        }
    }
    Ok(out)
}

/// The tracked answer for queued pairs.
pub fn tracked(pairs: Vec<(String, String)>, ids: Vec<i64>) -> SyncAccepted {
    SyncAccepted {
        accepted: pairs
            .into_iter()
            .zip(ids)
            .map(|((flow, id), tracking_id)| Tracked {
                tracking_id,
                flow,
                id,
            })
            .collect(),
        duplicate: false,
    }
}

/// Queue records for sync now; follow each with its tracking id.
#[utoipa::path(post, path = "/sync", tag = "sync", security(("bearer" = [])),
    request_body = SyncBody,
    responses((status = 202, body = SyncAccepted), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn request_sync(
    caller: Operator,
    State(state): State<AppState>,
    json: Result<Json<SyncBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SyncAccepted>), ApiError> {
    let notices = match body(json)? {
        SyncBody::One(n) => vec![n],
        SyncBody::Many(list) => list,
    };
    let pairs = resolve(&state.engine, &notices, None).map_err(ApiError::BadRequest)?;
    let result = state.engine.request_sync(&pairs, "api", None).await;
    let target = audit::target::sync(pairs.iter().map(|(f, id)| (f.as_str(), id.as_str())));
    audit::record(
        state.store(),
        &caller.0.actor(),
        audit::action::SYNC,
        &target,
        &result,
    )
    .await;
    match result? {
        Accepted::Queued(ids) => Ok((StatusCode::ACCEPTED, Json(tracked(pairs, ids)))),
        // Only a webhook delivery can be a duplicate.
        Accepted::Duplicate { .. } => Err(ApiError::Internal),
    }
}

/// What became of a sync request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStatus {
    /// The tracking id.
    pub tracking_id: i64,
    /// The flow.
    pub flow: String,
    /// The record's source id.
    pub id: String,
    /// What asked (`api`, `webhook`).
    pub trigger: String,
    /// When it was accepted.
    pub requested_at: DateTime<Utc>,
    /// `queued`, `done`, `failed`, `dead_lettered` or `skipped`.
    pub state: String,
    /// With `done`: `created`, `updated`, `unchanged`, `deleted` or `not_found`; for a flow of a two-way
    /// pair also `not_owner` or `conflict` (see `error`).
    pub outcome: Option<String>,
    /// Attempts made so far (while queued) or by the last attempt.
    pub attempts: u32,
    /// The last error, if any.
    pub error: Option<String>,
    /// The ledger entry of the outcome.
    pub ledger_id: Option<i64>,
    /// The dead letter, when it became one.
    pub dead_letter_id: Option<i64>,
}

/// Derives the state of a tracked request from the store's facts (see the module docs).
pub fn status_of(s: SyncRequestState) -> SyncStatus {
    let r = s.request;
    let mut out = SyncStatus {
        tracking_id: r.id,
        flow: r.flow,
        id: r.source_id,
        trigger: r.trigger,
        requested_at: r.requested_at,
        state: "done".into(),
        outcome: None,
        attempts: 0,
        error: None,
        ledger_id: s.ledger.as_ref().map(|e| e.id),
        dead_letter_id: None,
    };
    if let Some(item) = s.queued {
        out.state = "queued".into();
        out.attempts = item.attempts;
        out.error = item.last_error;
        return out;
    }
    if let Some(dead) = s.dead_letter {
        out.state = match dead.state {
            ferry_store::DeadLetterState::Skipped => "skipped",
            _ => "dead_lettered",
        }
        .into();
        out.attempts = dead.attempts;
        out.error = Some(dead.error);
        out.dead_letter_id = Some(dead.id);
        return out;
    }
    match s.ledger {
        Some(entry) => {
            out.attempts = entry.attempt;
            match entry.outcome {
                Outcome::Created | Outcome::Updated | Outcome::Unchanged | Outcome::Deleted => {
                    out.outcome = Some(entry.outcome.as_str().into());
                }
                // Done: there is nothing to sync (the error says so).
                Outcome::NotFound => {
                    out.outcome = Some(entry.outcome.as_str().into());
                    out.error = entry.error;
                }
                Outcome::Failed => {
                    out.state = "failed".into();
                    out.error = entry.error;
                }
                Outcome::DeadLettered => {
                    out.state = "dead_lettered".into();
                    out.error = entry.error;
                }
                Outcome::Skipped => out.state = "skipped".into(),
                // Two-way pairs: done, with what was not carried over and why.
                Outcome::NotOwner | Outcome::Conflict => {
                    out.outcome = Some(entry.outcome.as_str().into());
                    out.error = entry.error;
                }
            }
        }
        None => out.outcome = Some(Outcome::Unchanged.as_str().into()),
    }
    out
}

/// What became of a sync request (API or webhook).
#[utoipa::path(get, path = "/sync/{tracking_id}", tag = "sync", security(("bearer" = [])),
    params(("tracking_id" = i64, Path, description = "From the 202 answer")),
    responses((status = 200, body = SyncStatus), (status = 404, body = ErrorBody)))]
pub async fn sync_status(
    _caller: Viewer,
    State(state): State<AppState>,
    Path(tracking_id): Path<i64>,
) -> Result<Json<SyncStatus>, ApiError> {
    let found = state
        .store()
        .sync_request(tracking_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no sync request {tracking_id} (unknown, or older than seven days)"
            ))
        })?;
    // The error is shown as the ledger and dead letters show it: masked by `server.mask`.
    let record = found.dead_letter.as_ref().map(|d| d.payload.clone());
    let mut status = status_of(found);
    let mask = state.settings.mask.flow(&status.flow);
    status.error = status.error.map(|e| match &record {
        Some(record) => mask.message_with(&e, record),
        None => mask.message(&e),
    });
    Ok(Json(status))
}
