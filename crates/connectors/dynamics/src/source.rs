//! Reading a table through change tracking. The cursor is where Dataverse says to go on:
//! the `@odata.nextLink` of a read under way (with the page size it was asked with, which
//! the `$skiptoken` must be replayed with), or the `@odata.deltaLink` that ends one. The
//! first read (no cursor) asks for every row with `Prefer: odata.track-changes`; following
//! a delta link gives the rows changed since and `$deletedEntity` rows, which become
//! deleted records. A delta link Dataverse no longer honours (past its change-tracking
//! retention) is healed by a full read from the start: the engine's read hashes make the
//! rows that did not change cost nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_kit::{Page, Source};
use ferry_model::{ConnectorError, Record};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{API, Api, EXPIRED_DELTA, Got};
use crate::config::Source as Options;

/// Where a read goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cursor {
    /// A read under way: the next page's link and the page size it was asked with.
    Next { url: String, size: usize },
    /// Caught up: the delta link for the changes after.
    Delta { url: String },
}

impl Cursor {
    fn parse(text: &str) -> Result<Self, ConnectorError> {
        serde_json::from_str(text).map_err(|e| {
            ConnectorError::fatal(format!(
                "the stored cursor is not a dynamics cursor ({e}); reset the flow's cursor"
            ))
        })
    }

    fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

pub struct DynamicsSource {
    api: Api,
    options: Options,
}

impl DynamicsSource {
    pub fn new(api: Api, options: Options) -> Self {
        Self { api, options }
    }

    /// The first page of a full read.
    fn start(&self) -> String {
        let mut target = self.options.set.clone();
        if !self.options.select.is_empty() {
            // The id and the modified time are read whatever the flow selects.
            let mut columns = self.options.select.clone();
            for always in [self.options.id.as_str(), "modifiedon"] {
                if !columns.iter().any(|c| c == always) {
                    columns.push(always.to_owned());
                }
            }
            target.push_str(&format!("?$select={}", columns.join(",")));
        }
        target
    }

    async fn page(&self, target: &str, size: usize) -> Result<Got, ConnectorError> {
        let prefer = format!("odata.track-changes, odata.maxpagesize={size}");
        self.api.get(target, &prefer).await
    }

    fn refused(&self, status: u16, code: &str, message: &str) -> ConnectorError {
        let kind = if status == 410 {
            ferry_model::ErrorKind::NotFound
        } else {
            ferry_model::ErrorKind::Validation
        };
        ConnectorError::new(
            kind,
            format!(
                "{}: reading {}: HTTP {status}: {message} ({code})",
                self.api.http.system(),
                self.options.set
            ),
        )
    }

    /// The columns `$metadata` types `Edm.Decimal` (money too): read as text, as every
    /// source gives decimals, so that no precision is lost to floating point downstream.
    async fn decimals(&self) -> Result<Vec<String>, ConnectorError> {
        let schema = self.api.schema().await?;
        Ok(schema
            .sets
            .get(&self.options.set)
            .map(|ty| {
                ty.properties
                    .iter()
                    .filter(|(_, edm)| edm == "Edm.Decimal")
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A page's rows as records: `$deletedEntity` rows as deleted records.
    fn records(&self, rows: &[Value], decimals: &[String]) -> Vec<Record> {
        rows.iter()
            .filter_map(Value::as_object)
            .filter_map(|row| self.record(row, decimals))
            .collect()
    }

    fn record(&self, row: &Map<String, Value>, decimals: &[String]) -> Option<Record> {
        let deleted = row
            .get("@odata.context")
            .and_then(Value::as_str)
            .is_some_and(|c| c.ends_with("$deletedEntity"));
        if deleted {
            let id = row.get("id")?.as_str()?.to_owned();
            let mut record = Record::new(id, Map::new());
            record.deleted = true;
            return Some(record);
        }
        let id = row.get(&self.options.id)?.as_str()?.to_owned();
        let fields: Map<String, Value> = row
            .iter()
            .filter(|(k, _)| !k.starts_with("@odata.") && !k.contains("@"))
            .map(|(k, v)| match v {
                Value::Number(n) if decimals.contains(k) => {
                    (k.clone(), Value::String(n.to_string()))
                }
                _ => (k.clone(), v.clone()),
            })
            .collect();
        let mut record = Record::new(id, fields);
        record.updated_at = row
            .get("modifiedon")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        Some(record)
    }
}

#[async_trait]
impl Source for DynamicsSource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let limit = limit.clamp(1, 5000);
        let cursor = cursor.map(Cursor::parse).transpose()?;
        let (target, size) = match &cursor {
            None => (self.start(), limit),
            Some(Cursor::Next { url, size }) => (url.clone(), *size),
            Some(Cursor::Delta { url }) => (url.clone(), limit),
        };
        let body = match self.page(&target, size).await? {
            Got::Json(body) => body,
            Got::Refused(status, code, message)
                if matches!(cursor, Some(Cursor::Delta { .. }))
                    && (status == 410 || code == EXPIRED_DELTA) =>
            {
                tracing::warn!(
                    system = self.api.http.system(),
                    set = %self.options.set,
                    %message,
                    "The delta link expired; reading the table again from the start."
                );
                match self.page(&self.start(), limit).await? {
                    Got::Json(body) => body,
                    Got::Refused(status, code, message) => {
                        return Err(self.refused(status, &code, &message));
                    }
                }
            }
            Got::Refused(status, code, message) => {
                return Err(self.refused(status, &code, &message));
            }
        };
        if let Some(error) = body.get("error").filter(|e| e.is_object()) {
            // An error inside an HTTP 200.
            let (code, message) =
                crate::api::dataverse_error(&serde_json::json!({"error": error}).to_string());
            return Err(ConnectorError::new(
                ferry_model::ErrorKind::Retryable,
                format!(
                    "{}: reading {}: HTTP 200 with an error: {message} ({code})",
                    self.api.http.system(),
                    self.options.set
                ),
            ));
        }
        let rows = body
            .get("value")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let next = body.get("@odata.nextLink").and_then(Value::as_str);
        let delta = body.get("@odata.deltaLink").and_then(Value::as_str);
        let (cursor, more) = match (next, delta) {
            (Some(url), _) => (
                Cursor::Next {
                    url: url.to_owned(),
                    size,
                },
                true,
            ),
            (None, Some(url)) => (
                Cursor::Delta {
                    url: url.to_owned(),
                },
                false,
            ),
            (None, None) => {
                return Err(ConnectorError::fatal(format!(
                    "{}: reading {}: the answer has neither @odata.nextLink nor @odata.deltaLink: is Track changes enabled on the table?",
                    self.api.http.system(),
                    self.options.set
                )));
            }
        };
        Ok(Page {
            records: self.records(&rows, &self.decimals().await?),
            cursor: cursor.text(),
            more,
            pass: None,
        })
    }

    async fn probe(&self) -> ferry_kit::Probe {
        crate::probe::source(&self.api, &self.options).await
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // Record ids are the rows' GUIDs.
            let key = ferry_kit::http::percent_encode(id);
            let call = self
                .api
                .call(ferry_kit::http::Call::get(format!(
                    "{API}{}({key})",
                    self.options.set
                )))
                .accept(ferry_kit::http::StatusCode::NOT_FOUND);
            let response = self.api.http.send(call).await?;
            if response.status() == ferry_kit::http::StatusCode::NOT_FOUND {
                let mut gone = Record::new(id.clone(), Map::new());
                gone.deleted = true;
                out.push(gone);
                continue;
            }
            let row: Map<String, Value> = response.json()?;
            out.extend(self.record(&row, &self.decimals().await?));
        }
        Ok(out)
    }
}
