//! Calls to the Admin GraphQL API: `POST <url>/admin/api/<version>/graphql.json` with
//! `X-Shopify-Access-Token`, the cost throttle waited out ([`crate::throttle`]), and errors
//! read from the body, since GraphQL reports them inside HTTP 200:
//!
//! | answer | kind |
//! |---|---|
//! | `errors[].extensions.code = THROTTLED` (HTTP 200 or 429) | waited out from the cost figures and sent again; `RateLimited` when the wait is long |
//! | HTTP 429 without THROTTLED | waited out for its `Retry-After` (seconds, maybe decimal) and sent again |
//! | `ACCESS_DENIED` (a scope the app lacks) | `Auth` |
//! | `INTERNAL_SERVER_ERROR` | `Retryable` |
//! | any other error (`INVALID_QUERY`, `MAX_COST_EXCEEDED`, …) | `Fatal`: the query is wrong for this shop or version |
//!
//! HTTP failures (401, 5xx, dropped connections) are the kit's client's: queries are safe to
//! repeat, mutations are repeated only when Shopify cannot have acted on them.
//! A mutation's `userErrors` are not errors here: they are a record's refusal, read by the
//! sink.

use std::sync::Arc;
use std::time::Duration;

use ferry_kit::http::{Call, HttpClient, StatusCode};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Value, json};

use crate::gql::{self, Sel};
use crate::throttle::{Pacing, Throttle, wait_out};

/// THROTTLED answers one call sits out before it gives up as rate-limited.
const THROTTLED_TRIES: usize = 8;

/// The Admin API of one shop, shared by its sources and sinks.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: HttpClient,
    pub version: String,
    pub path: String,
    pub throttle: Arc<Throttle>,
    pub pacing: Arc<dyn Pacing>,
}

impl Api {
    pub fn new(http: HttpClient, version: &str, pacing: Arc<dyn Pacing>) -> Self {
        Self {
            http,
            version: version.to_owned(),
            path: format!("admin/api/{version}/graphql.json"),
            throttle: Arc::default(),
            pacing,
        }
    }

    /// The API version (`2025-07`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The `data` of a query of these fields.
    pub async fn query(
        &self,
        fields: &[Sel],
        edges: bool,
        label: &str,
    ) -> Result<Value, ConnectorError> {
        let text = gql::query(fields, edges);
        self.run(&text, json!({}), gql::cost(fields), true, label)
            .await
    }

    /// Sends a document of requested cost `cost`, waiting for the points first and after
    /// THROTTLED answers; its `data`. `repeatable`: safe to send again after a timeout or
    /// a 5xx (queries, and mutations that find what a first attempt did).
    pub async fn run(
        &self,
        text: &str,
        variables: Value,
        cost: u64,
        repeatable: bool,
        label: &str,
    ) -> Result<Value, ConnectorError> {
        let what = format!("{}: {label}", self.http.system());
        for _ in 0..THROTTLED_TRIES {
            let wait = self.throttle.wait_before(cost, self.pacing.now());
            wait_out(self.pacing.as_ref(), wait, &what).await?;
            let mut call = Call::post(self.path.clone())
                .json(&json!({"query": text, "variables": variables}))
                .label(label.to_owned())
                .accept(StatusCode::TOO_MANY_REQUESTS);
            if repeatable {
                call = call.safe_to_repeat();
            }
            let response = self.http.send(call).await?;
            let body: Value = serde_json::from_slice(response.bytes()).unwrap_or(Value::Null);
            let figures = body
                .get("extensions")
                .and_then(|e| self.throttle.observe(e, self.pacing.now()));
            let throttled = error_code(&body) == Some("THROTTLED");
            if throttled || response.status() == StatusCode::TOO_MANY_REQUESTS {
                let wait = match (throttled, figures) {
                    (true, Some(cost)) => cost.throttled_wait(),
                    _ => retry_after(&response).unwrap_or(Duration::from_secs(1)),
                };
                tracing::debug!(request = %response.what(), wait_ms = wait.as_millis() as u64, "Throttled by Shopify.");
                wait_out(self.pacing.as_ref(), wait, response.what()).await?;
                continue;
            }
            if let Some(e) = graphql_error(&body, response.what()) {
                return Err(e);
            }
            return Ok(body.get("data").cloned().unwrap_or(Value::Null));
        }
        Err(ConnectorError::new(
            ErrorKind::RateLimited { retry_after: None },
            format!(
                "{what}: still throttled after {THROTTLED_TRIES} waits (another app may be using the shop's query-cost points)"
            ),
        ))
    }
}

/// The first error's `extensions.code`.
fn error_code(body: &Value) -> Option<&str> {
    body.get("errors")?
        .as_array()?
        .first()?
        .get("extensions")?
        .get("code")?
        .as_str()
}

/// The top-level `errors` as a classified error, if there are any.
fn graphql_error(body: &Value, what: &str) -> Option<ConnectorError> {
    let errors = body.get("errors")?;
    let message = match errors {
        Value::Array(list) => list
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("; "),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let code = error_code(body).unwrap_or("");
    let kind = match code {
        "ACCESS_DENIED" => ErrorKind::Auth,
        "INTERNAL_SERVER_ERROR" => ErrorKind::Retryable,
        _ => ErrorKind::Fatal,
    };
    let code = if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    };
    Some(ConnectorError::new(
        kind,
        format!("{what}: Shopify: {message}{code}"),
    ))
}

/// `Retry-After` in seconds; Shopify writes it as a decimal (`2.0`).
fn retry_after(response: &ferry_kit::http::Response) -> Option<Duration> {
    let text = response.headers().get("retry-after")?.to_str().ok()?;
    let seconds = text.trim().parse::<f64>().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_inside_200_are_classified_by_code() {
        let denied = json!({"errors": [{"message": "Access denied for orders field.", "extensions": {"code": "ACCESS_DENIED"}}]});
        let e = graphql_error(&denied, "shop: POST …").unwrap();
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(
            e.message()
                .contains("Access denied for orders field. (ACCESS_DENIED)"),
            "{e}"
        );
        let invalid = json!({"errors": [{"message": "Field 'nope' doesn't exist", "extensions": {"code": "INVALID_QUERY"}}]});
        assert_eq!(
            graphql_error(&invalid, "x").unwrap().kind(),
            ErrorKind::Fatal
        );
        assert!(graphql_error(&json!({"data": {}}), "x").is_none());
    }
}
