//! Calls to the REST API: the versioned path, SOQL with `nextRecordsUrl` paging, and the
//! daily API allocation read from `Sforce-Limit-Info`.
//!
//! # The daily limit
//!
//! Every REST answer carries `Sforce-Limit-Info: api-usage=<used>/<max>` (a rolling 24 h
//! count for the whole org). The connector keeps the latest reading, shared by every flow
//! on the system, and **pauses** rather than slows down: once `used` reaches `limit_share`
//! of `max` (default 90 %), calls stop for `limit_pause` (default 15 minutes) and fail at
//! once as rate-limited with that `retry_after`, so the engine parks the flows at their
//! cursors and leaves the rest of the allocation to the org's users and other
//! integrations; after the pause one call goes out, and its header decides again. Slowing
//! down would spend the same requests a little later and still run the org dry. A 403
//! `REQUEST_LIMIT_EXCEEDED` (the allocation is spent: no `Retry-After`) pauses the same way.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_kit::http::{Call, HeaderValue, HttpClient, Response, StatusCode, server_message};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value};

use crate::config::SystemSpec;

/// The API of one org, shared by its sources and sinks.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: HttpClient,
    pub version: String,
    pub limits: Arc<Limits>,
}

/// One page of a SOQL answer.
#[derive(Debug, Default)]
pub struct QueryPage {
    pub records: Vec<Map<String, Value>>,
    /// `nextRecordsUrl`: absent on the last page.
    pub next: Option<String>,
}

impl Api {
    pub fn new(http: HttpClient, spec: &SystemSpec) -> Self {
        Self {
            http,
            version: spec.version.clone(),
            limits: Arc::new(Limits::new(spec.limit_share, spec.limit_pause)),
        }
    }

    /// `/services/data/<version>/<path>`.
    pub fn path(&self, path: &str) -> String {
        format!(
            "/services/data/{}/{}",
            self.version,
            path.trim_start_matches('/')
        )
    }

    /// Sends a call with the limit checked before and read after. A 403 is read here: the
    /// allocation spent (a pause), or a permission the user lacks (an auth error, not
    /// renewed: a new token would not have it either).
    pub async fn send(&self, call: Call) -> Result<Response, ConnectorError> {
        self.limits.admit(self.http.system())?;
        let response = self.http.send(call.accept(StatusCode::FORBIDDEN)).await?;
        self.limits.observe(self.http.system(), &response);
        if response.status() == StatusCode::FORBIDDEN {
            let said = self.http.scrub(&server_message(response.bytes()));
            let body: Value = serde_json::from_slice(response.bytes()).unwrap_or(Value::Null);
            if error_code(&body) == Some("REQUEST_LIMIT_EXCEEDED") {
                let wait = self.limits.pause_now();
                return Err(ConnectorError::new(
                    ErrorKind::RateLimited {
                        retry_after: Some(wait),
                    },
                    format!("{}: HTTP 403: {said}", response.what()),
                ));
            }
            return Err(ConnectorError::new(
                ErrorKind::Auth,
                format!("{}: HTTP 403: {said}", response.what()),
            ));
        }
        Ok(response)
    }

    /// Sends a call and decodes its JSON answer.
    pub async fn json(&self, call: Call) -> Result<Value, ConnectorError> {
        let response = self.send(call).await?;
        if response.bytes().is_empty() {
            return Ok(Value::Null);
        }
        response.json()
    }

    /// The first page of `soql`.
    pub async fn query(&self, soql: &str) -> Result<QueryPage, ConnectorError> {
        let call = Call::get(self.path("query"))
            .query("q", soql)
            .label(format!("SOQL {}", clip(soql, 160)));
        page(self.json(call).await?, self.http.system())
    }

    /// The page at a `nextRecordsUrl`.
    pub async fn query_more(&self, next: &str) -> Result<QueryPage, ConnectorError> {
        page(self.json(Call::get(next)).await?, self.http.system())
    }

    /// At least `wanted` rows of `soql` (all when fewer), following `nextRecordsUrl`.
    pub async fn query_up_to(
        &self,
        soql: &str,
        wanted: usize,
    ) -> Result<Vec<Map<String, Value>>, ConnectorError> {
        let mut page = self.query(soql).await?;
        let mut rows = std::mem::take(&mut page.records);
        while rows.len() < wanted
            && let Some(next) = page.next.take()
        {
            page = self.query_more(&next).await?;
            rows.append(&mut page.records);
        }
        Ok(rows)
    }

    /// Every row of `soql`.
    pub async fn query_all(&self, soql: &str) -> Result<Vec<Map<String, Value>>, ConnectorError> {
        self.query_up_to(soql, usize::MAX).await
    }
}

fn page(body: Value, system: &str) -> Result<QueryPage, ConnectorError> {
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        return Err(ConnectorError::fatal(format!(
            "{system}: a query answered without `records`: {}",
            clip(&body.to_string(), 200)
        )));
    };
    Ok(QueryPage {
        records: records
            .iter()
            .filter_map(|r| r.as_object().cloned())
            .collect(),
        next: body
            .get("nextRecordsUrl")
            .and_then(Value::as_str)
            .filter(|_| body.get("done") != Some(&Value::Bool(true)))
            .map(str::to_owned),
    })
}

/// The `errorCode` of a REST error array (`[{"message", "errorCode"}]`).
pub fn error_code(body: &Value) -> Option<&str> {
    body.get(0)?.get("errorCode")?.as_str()
}

/// A SOQL string literal: `'` and `\` escaped.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// The org's daily API allocation as last read (see the module docs).
#[derive(Debug)]
pub struct Limits {
    share: f64,
    pause: Duration,
    state: Mutex<LimitState>,
}

#[derive(Debug, Default, Clone, Copy)]
struct LimitState {
    used: u64,
    max: u64,
    paused_until: Option<Instant>,
}

impl Limits {
    pub fn new(share: f64, pause: Duration) -> Self {
        Self {
            share,
            pause,
            state: Mutex::new(LimitState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses a call while paused.
    fn admit(&self, system: &str) -> Result<(), ConnectorError> {
        let s = *self.state();
        match s.paused_until {
            Some(until) if Instant::now() < until => Err(ConnectorError::new(
                ErrorKind::RateLimited {
                    retry_after: Some(until - Instant::now()),
                },
                format!(
                    "{system}: {} of the org's {} daily API requests are used (Sforce-Limit-Info); \
                     Ferry leaves the rest to the org and waits",
                    s.used, s.max
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Starts a pause now; its length.
    fn pause_now(&self) -> Duration {
        self.state().paused_until = Some(Instant::now() + self.pause);
        self.pause
    }

    /// Reads `Sforce-Limit-Info` from an answer.
    fn observe(&self, system: &str, response: &Response) {
        let Some((used, max)) = response
            .headers()
            .get("sforce-limit-info")
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(parse_usage)
        else {
            return;
        };
        let mut s = self.state();
        s.used = used;
        s.max = max;
        if max > 0 && used as f64 >= self.share * max as f64 {
            if s.paused_until.is_none_or(|u| u <= Instant::now()) {
                tracing::warn!(
                    system,
                    used,
                    max,
                    pause_s = self.pause.as_secs(),
                    "Near the org's daily API limit; pausing."
                );
            }
            s.paused_until = Some(Instant::now() + self.pause);
        } else {
            s.paused_until = None;
        }
    }
}

/// `api-usage=18/15000` out of `Sforce-Limit-Info` (other parts, such as
/// `per-app-api-usage=17/250(appName=…)`, are skipped).
pub fn parse_usage(header: &str) -> Option<(u64, u64)> {
    header
        .split([';', ','])
        .map(str::trim)
        .find_map(|part| part.strip_prefix("api-usage="))
        .and_then(|usage| {
            let (used, max) = usage.split_once('/')?;
            Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_is_read_with_or_without_the_per_app_part() {
        assert_eq!(parse_usage("api-usage=18/15000"), Some((18, 15000)));
        assert_eq!(
            parse_usage("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-app)"),
            Some((25, 5000))
        );
        assert_eq!(parse_usage("per-app-api-usage=17/250(appName=x)"), None);
    }

    #[test]
    fn soql_literals_are_escaped() {
        assert_eq!(quote("O'Brien \\ co"), "'O\\'Brien \\\\ co'");
    }
}
