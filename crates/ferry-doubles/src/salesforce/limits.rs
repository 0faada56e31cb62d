//! The daily API request allocation (dossier §5, correction 6): every API call counts one
//! request; every answer (errors included, the token endpoint excepted) carries
//! `Sforce-Limit-Info: api-usage=<used>/<max>`; once the allocation is used up, calls are
//! answered 403 `REQUEST_LIMIT_EXCEEDED` ("TotalRequests Limit exceeded.") without
//! `Retry-After`, and are not counted. `GET /limits` answers `DailyApiRequests`. Tests set
//! the count with [`super::SalesforceDouble::set_api_usage`] or
//! `POST /_double/salesforce/limits {"used": n}`.

use std::sync::atomic::Ordering;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::Ctx;
use super::answer::SfError;

pub const HEADER: &str = "sforce-limit-info";

/// Counts one request, or refuses it when the allocation is used up.
pub fn count(ctx: &Ctx) -> Result<(), SfError> {
    let max = ctx.config.daily_api_limit;
    let usage = &ctx.shared.usage;
    let taken = usage.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
        (n < max).then_some(n + 1)
    });
    match taken {
        Ok(_) => Ok(()),
        Err(_) => Err(SfError::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )),
    }
}

/// Adds `Sforce-Limit-Info` to an answer.
pub fn stamp(ctx: &Ctx, mut response: Response) -> Response {
    let used = ctx.shared.usage.load(Ordering::SeqCst);
    let value = format!("api-usage={used}/{}", ctx.config.daily_api_limit);
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// `GET /limits`.
pub fn answer(ctx: &Ctx) -> Value {
    let max = ctx.config.daily_api_limit;
    let used = ctx.shared.usage.load(Ordering::SeqCst);
    json!({
        "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
    })
}
