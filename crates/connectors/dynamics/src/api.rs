//! The Web API calls the connector makes on the system's one HTTP client: reads with the
//! OData v4 headers and `Prefer`, `$metadata`, `$batch`, and Dataverse's error body
//! (`{"error":{"code":"0x…","message":"…"}}`) read into an error of the right kind.

use ferry_kit::http::multipart::{self, PartAnswer, PartRequest};
use ferry_kit::http::{Call, HeaderName, HeaderValue, HttpClient, Response, StatusCode};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::OnceCell;

use crate::metadata::Schema;

/// Where the Web API lives on the org's host.
pub const API: &str = "api/data/v9.2/";

/// The code of an expired or invalid delta token (the dossier's guess, `0x80044352`).
pub const EXPIRED_DELTA: &str = "0x80044352";

/// One system's Web API.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: HttpClient,
    /// Records per `$batch`.
    pub batch_size: usize,
    /// `$metadata`, read once on first need.
    schema: Arc<OnceCell<Arc<Schema>>>,
}

fn header(name: &'static str, value: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
    )
}

/// A GET answered in JSON, or the refusal as an answer to read.
pub enum Got {
    Json(Value),
    /// A 4xx the caller reads itself: status, Dataverse code, message.
    Refused(u16, String, String),
}

impl Api {
    pub fn new(http: HttpClient, batch_size: usize) -> Self {
        Self {
            http,
            batch_size,
            schema: Arc::default(),
        }
    }

    /// The org's `$metadata`, read on first use and kept.
    pub async fn schema(&self) -> Result<Arc<Schema>, ConnectorError> {
        self.schema
            .get_or_try_init(|| async {
                let xml = self.metadata().await?;
                Schema::parse(&xml).map(Arc::new)
            })
            .await
            .cloned()
    }

    /// A call with the OData v4 headers every request carries.
    pub fn call(&self, call: Call) -> Call {
        [
            header("accept", "application/json"),
            header("odata-maxversion", "4.0"),
            header("odata-version", "4.0"),
        ]
        .into_iter()
        .fold(call, |c, (n, v)| c.header(n, v))
    }

    /// GET `target` (a path under the Web API, or an absolute next/delta link) with
    /// `Prefer: <prefer>`. A 400 or 410 comes back as [`Got::Refused`] so that a caller can
    /// tell an expired delta link from other failures.
    pub async fn get(&self, target: &str, prefer: &str) -> Result<Got, ConnectorError> {
        let target = if target.starts_with("http") {
            target.to_owned()
        } else {
            format!("{API}{target}")
        };
        let (n, v) = header("prefer", prefer);
        let call = self
            .call(Call::get(target))
            .header(n, v)
            .accept(StatusCode::BAD_REQUEST)
            .accept(StatusCode::GONE);
        let response = self.http.send(call).await?;
        if response.status().is_success() {
            return Ok(Got::Json(response.json()?));
        }
        let (code, message) = dataverse_error(&response.text());
        Ok(Got::Refused(response.status().as_u16(), code, message))
    }

    /// GET the CSDL of `$metadata`.
    pub async fn metadata(&self) -> Result<String, ConnectorError> {
        let call = Call::get(format!("{API}$metadata"))
            .header(
                HeaderName::from_static("accept"),
                HeaderValue::from_static("application/xml"),
            )
            .label("$metadata");
        Ok(self.http.send(call).await?.text())
    }

    /// Sends requests in one `$batch`, each in its own change set, with
    /// `Prefer: odata.continue-on-error`: the answer to each, in order (`None` for a
    /// request the server did not answer).
    pub async fn batch(
        &self,
        requests: &[PartRequest],
    ) -> Result<Vec<Option<PartAnswer>>, ConnectorError> {
        let boundary = multipart::unique_boundary("batch");
        let body = multipart::change_sets(&boundary, requests);
        let content_type = format!("multipart/mixed; boundary={boundary}");
        let (n, v) = header("prefer", "odata.continue-on-error");
        let call = self
            .call(Call::post(format!("{API}$batch")))
            .header(n, v)
            .body(
                body.into_bytes(),
                HeaderValue::from_str(&content_type)
                    .unwrap_or(HeaderValue::from_static("multipart/mixed")),
            )
            .label("$batch");
        let response: Response = self.http.send(call).await?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let sets = multipart::answers(&content_type, &response.text()).map_err(|why| {
            ConnectorError::fatal(format!(
                "{}: the $batch answer is not readable: {why}",
                response.what()
            ))
        })?;
        let mut out: Vec<Option<PartAnswer>> = vec![None; requests.len()];
        for (i, answer) in sets.into_iter().flatten().enumerate() {
            // Content-ID n is request n (from 1); an answer without one is in order.
            let at = answer
                .content_id
                .as_deref()
                .and_then(|c| c.parse::<usize>().ok())
                .map_or(i, |n| n.saturating_sub(1));
            if let Some(slot) = out.get_mut(at) {
                *slot = Some(answer);
            }
        }
        Ok(out)
    }
}

/// `(code, message)` of Dataverse's error body; the text itself if it is not one.
pub fn dataverse_error(body: &str) -> (String, String) {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = &json["error"];
    let code = error["code"].as_str().unwrap_or_default().to_owned();
    let message = error["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| ferry_kit::http::server_message(body.as_bytes()));
    (code, message)
}

/// The error a failed request inside a batch stands for: Dataverse's message and code,
/// the kind from the status (400: the record's data; 404: not there; 412: a key or version
/// conflict; 401/403: credentials or privileges; 429 and 5xx: try again).
pub fn part_error(what: &str, answer: &PartAnswer) -> ConnectorError {
    let (code, message) = dataverse_error(&answer.body);
    let kind = match answer.status {
        400 | 422 => ErrorKind::Validation,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        401 | 403 => ErrorKind::Auth,
        429 => ErrorKind::RateLimited {
            retry_after: answer
                .header("retry-after")
                .and_then(|s| s.trim().parse().ok())
                .map(std::time::Duration::from_secs),
        },
        500..=599 => ErrorKind::Retryable,
        _ => ErrorKind::Fatal,
    };
    let code = if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    };
    ConnectorError::new(
        kind,
        format!("{what}: HTTP {}: {message}{code}", answer.status),
    )
}

/// The GUID at the end of an `OData-EntityId` (`…/accounts(<guid>)`).
pub fn entity_id(location: &str) -> Option<String> {
    let inner = location.trim().strip_suffix(')')?;
    let (_, id) = inner.rsplit_once('(')?;
    Some(id.to_owned())
}

/// `'text'` as an OData string literal, percent-encoded for a URL path.
pub fn key_literal(value: &str) -> String {
    ferry_kit::http::percent_encode(&format!("'{}'", value.replace('\'', "''")))
}
