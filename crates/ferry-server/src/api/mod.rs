//! The REST API under `/api/v1`, with its OpenAPI document at `/api/v1/openapi.json`.
//!
//! | endpoint | role |
//! |---|---|
//! | `GET /flows`, `GET /flows/{flow}` | viewer |
//! | `POST /sync`, `GET /sync/{tracking_id}` | operator, viewer |
//! | `GET /runs` | viewer |
//! | `GET /ledger?key=`, `GET /ledger?flow=&limit=&before=` | viewer |
//! | `GET /dead-letters`, `GET /dead-letters/{id}` | viewer |
//! | `POST /dead-letters/{id}/replay`, `/skip`, `/edit` | operator |
//! | `GET /conflicts`, `GET /conflicts/{id}` | viewer |
//! | `POST /conflicts/{id}/resolve` | operator |
//! | `POST /flows/{flow}/reconcile` | operator |
//! | `GET /reconciliations`, `GET /reconciliations/{id}` | viewer |
//! | `GET /keys`, `POST /keys`, `DELETE /keys/{id}` | admin |
//! | `GET /audit` | admin |
//!
//! Payloads are shown with the `server.mask` rules applied. Every operator action is audited.

mod admin;
pub(crate) mod conflicts;
pub(crate) mod dead_letters;
pub(crate) mod flows;
pub mod reconcile;
pub mod sync;
pub mod views;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry API",
        description = "Flows, sync triggers, runs, ledger, dead letters, conflicts, \
                       reconciliations, API keys and audit log of a Ferry instance. \
                       Authenticate with `Authorization: Bearer <key>` (`ferry keys create`)."
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags(
        (name = "flows", description = "Flows, runs and the ledger"),
        (name = "sync", description = "Sync one record now, and follow the request"),
        (name = "dead_letters", description = "Records that failed for good"),
        (name = "conflicts", description = "Two-way pairs: conflicts waiting for an operator's pick"),
        (name = "reconcile", description = "Compare a flow's source and target, and the reports"),
        (name = "admin", description = "API keys and the audit log")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(flows::list_flows))
        .routes(routes!(flows::get_flow))
        .routes(routes!(flows::list_runs))
        .routes(routes!(flows::ledger))
        .routes(routes!(sync::request_sync))
        .routes(routes!(sync::sync_status))
        .routes(routes!(dead_letters::list))
        .routes(routes!(dead_letters::show))
        .routes(routes!(dead_letters::replay))
        .routes(routes!(dead_letters::skip))
        .routes(routes!(dead_letters::edit))
        .routes(routes!(conflicts::list))
        .routes(routes!(conflicts::show))
        .routes(routes!(conflicts::resolve))
        .routes(routes!(admin::list_keys, admin::create_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(admin::audit_log))
        .routes(routes!(reconcile::start))
        .routes(routes!(reconcile::list))
        .routes(routes!(reconcile::show))
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented(api_routes().into_openapi())
}

/// The largest JSON body the API reads (axum's default, made explicit so the 413 can name
/// it); every API body is a small object.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// The name of the shared `413` response in the document's components.
pub const TOO_LARGE: &str = "TooLarge";

/// The document as served: every operation that takes a request body answers `413` (the
/// [`MAX_BODY`] limit of [`router`] applies to all of them), so each lists the one shared
/// [`TOO_LARGE`] response. Done here, over the routes' document, rather than on each
/// `#[utoipa::path]`, so that a new endpoint with a body cannot forget it.
fn documented(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let too_large = ResponseBuilder::new()
        .description(format!(
            "The request body is larger than {MAX_BODY} bytes (2 MiB)"
        ))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .responses
        .insert(TOO_LARGE.to_owned(), too_large.into());
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.request_body.is_some() {
                operation
                    .responses
                    .responses
                    .insert("413".to_owned(), Ref::from_response_name(TOO_LARGE).into());
            }
        }
    }
    doc
}

/// The API's routes (to nest under `/api/v1`), `/openapi.json` included (no key needed).
pub fn router() -> Router<AppState> {
    let (router, doc) = api_routes().split_for_parts();
    let doc = Arc::new(documented(doc));
    router
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// A JSON body, or a 400 saying what is wrong with it (413 when it is over [`MAX_BODY`]).
fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json.map(|Json(v)| v)
        .map_err(|e| refused_body(e.status(), &e.body_text()))
}

/// A body read as it is (an optional JSON body), or the same 413 or 400 as [`body`]'s.
fn raw_body(bytes: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    bytes.map_err(|e| refused_body(e.status(), &e.body_text()))
}

/// The error for a body axum refused: 413 naming [`MAX_BODY`] when it is too large, else a
/// 400 with axum's reason.
fn refused_body(status: axum::http::StatusCode, reason: &str) -> ApiError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(MAX_BODY)
    } else {
        ApiError::BadRequest(format!("request body: {reason}"))
    }
}

/// Query parameters, or a 400 saying what is wrong with them.
fn query<T>(q: Result<axum::extract::Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|axum::extract::Query(v)| v)
        .map_err(|e| ApiError::BadRequest(format!("query: {}", e.body_text())))
}

/// A listing limit: default 100, at most 1000.
fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit {n} is out of range (1 to 1000)"
        ))),
    }
}
