//! API keys and the audit log (admins only).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::views::{AuditView, CreatedKeyView, KeyView};
use super::{body, limit, query};
use crate::AppState;
use crate::auth::{self, Admin, Role};
use crate::error::{ApiError, ErrorBody};

/// Every API key, revoked ones included (never their tokens).
#[utoipa::path(get, path = "/keys", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [KeyView]), (status = 403, body = ErrorBody)))]
pub async fn list_keys(
    _caller: Admin,
    State(state): State<AppState>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = state.store().api_keys().await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

/// The body of `POST /keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// What to call it (`grafana`, `ops-alice`).
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Create a key; its token is in this answer only.
#[utoipa::path(post, path = "/keys", tag = "admin", security(("bearer" = [])),
    request_body = NewKeyBody,
    responses((status = 201, body = CreatedKeyView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn create_key(
    caller: Admin,
    State(state): State<AppState>,
    json: Result<Json<NewKeyBody>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedKeyView>), ApiError> {
    let new = body(json)?;
    let name = new.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::BadRequest(
            "`name` must be 1 to 100 characters".into(),
        ));
    }
    let created = auth::create_key(state.store(), name, new.role, &caller.0.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyView {
            key: created.key.into(),
            token: created.token,
        }),
    ))
}

/// Revoke a key: it authenticates nothing from now on.
#[utoipa::path(delete, path = "/keys/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, body = KeyView), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    caller: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<KeyView>, ApiError> {
    let key = auth::revoke_key(state.store(), id, &caller.0.actor()).await?;
    Ok(Json(key.into()))
}

/// Paging for `GET /audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// Only entries older than this id (the last id of the previous page).
    before: Option<i64>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = [AuditView]), (status = 403, body = ErrorBody)))]
pub async fn audit_log(
    _caller: Admin,
    State(state): State<AppState>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let q = query(q)?;
    let entries = state.store().audit_log(limit(q.limit)?, q.before).await?;
    Ok(Json(entries.into_iter().map(AuditView::from).collect()))
}
