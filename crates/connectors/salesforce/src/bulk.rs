//! Bulk API 2.0 ingest, for batches above `bulk_threshold` (initial loads): one `upsert`
//! job per batch — create it, upload the CSV, mark it `UploadComplete`, poll until it is
//! `JobComplete` (or `Failed`/`Aborted`), then read `successfulResults/` and
//! `failedResults/` back and give each record its own result, matched by its external id
//! (Salesforce does not promise the results in upload order). A record in neither list
//! (`unprocessedrecords/`) fails as retryable.
//!
//! In the CSV an empty cell leaves a field as it is and `#N/A` empties it, so a `null`
//! is written `#N/A`; a relationship by external id is the column `Account.ERP_Id__c`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferry_kit::http::{Call, HeaderValue, Method};
use ferry_kit::{Outgoing, Written};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value, json};

use crate::sink::SalesforceSink;

type Results = Vec<Result<Written, ConnectorError>>;

impl SalesforceSink {
    pub(crate) async fn upsert_bulk(&self, batch: &[Outgoing]) -> Result<Results, ConnectorError> {
        let system = self.api.http.system().to_owned();
        let csv = self.csv(batch)?;
        let create = Call::post(self.api.path("jobs/ingest"))
            .json(&json!({
                "object": self.spec.object,
                "operation": "upsert",
                "externalIdFieldName": self.spec.external_id,
                "contentType": "CSV",
                "lineEnding": "LF",
            }))
            .label(format!("Bulk 2.0 upsert job for {}", self.spec.object));
        let job = self.api.json(create).await?;
        let id = job
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ConnectorError::fatal(format!(
                    "{system}: a Bulk job was created without an id: {job}"
                ))
            })?
            .to_owned();
        let at = |rest: &str| self.api.path(&format!("jobs/ingest/{id}{rest}"));
        let upload = Call::put(at("/batches"))
            .body(csv.into_bytes(), HeaderValue::from_static("text/csv"))
            .label("Bulk 2.0 upload");
        if let Err(e) = self.api.send(upload).await {
            self.abort(&id).await;
            return Err(e);
        }
        let close = Call::new(Method::PATCH, at(""))
            .json(&json!({"state": "UploadComplete"}))
            .label("Bulk 2.0 close")
            .safe_to_repeat();
        self.api.json(close).await?;
        let started = Instant::now();
        let mut wait = self.spec.bulk_poll;
        let state = loop {
            let info = self
                .api
                .json(Call::get(at("")).label("Bulk 2.0 poll"))
                .await?;
            let state = info
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match state {
                "JobComplete" => break info,
                "Failed" | "Aborted" => {
                    let why = info
                        .get("errorMessage")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given");
                    return Err(ConnectorError::new(
                        ErrorKind::Fatal,
                        format!(
                            "{system}: Bulk job {id} for {} {state}: {why}",
                            self.spec.object
                        ),
                    ));
                }
                _ => {}
            }
            if started.elapsed() > self.spec.bulk_timeout {
                return Err(ConnectorError::transient(format!(
                    "{system}: Bulk job {id} for {} is still {state} after {}s; it is left to finish and the batch will be sent again",
                    self.spec.object,
                    started.elapsed().as_secs()
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        };
        tracing::info!(
            system,
            job = id,
            processed = ?state.get("numberRecordsProcessed"),
            failed = ?state.get("numberRecordsFailed"),
            "Bulk job complete."
        );
        let ok = self
            .api
            .send(Call::get(at("/successfulResults/")).label("Bulk 2.0 successes"))
            .await?
            .text();
        let failed = self
            .api
            .send(Call::get(at("/failedResults/")).label("Bulk 2.0 failures"))
            .await?
            .text();
        let mut outcome: HashMap<String, Result<Written, ConnectorError>> = HashMap::new();
        for row in rows(&ok, &system)? {
            if let (Some(key), Some(sf_id)) = (row.get(&self.spec.external_id), row.get("sf__Id")) {
                outcome.insert(
                    key.to_lowercase(),
                    Ok(Written {
                        target_id: sf_id.clone(),
                    }),
                );
            }
        }
        for row in rows(&failed, &system)? {
            if let Some(key) = row.get(&self.spec.external_id) {
                let error = row.get("sf__Error").cloned().unwrap_or_default();
                outcome.insert(key.to_lowercase(), Err(bulk_refusal(&error)));
            }
        }
        Ok(batch
            .iter()
            .map(|r| {
                outcome
                    .get(&r.key.to_lowercase())
                    .cloned()
                    .unwrap_or_else(|| {
                        Err(ConnectorError::transient(format!(
                            "Bulk job {id} did not process this record"
                        )))
                    })
            })
            .collect())
    }

    async fn abort(&self, id: &str) {
        let call = Call::new(Method::PATCH, self.api.path(&format!("jobs/ingest/{id}")))
            .json(&json!({"state": "Aborted"}));
        if let Err(e) = self.api.send(call).await {
            tracing::warn!(job = id, error = %e, "Cannot abort the Bulk job.");
        }
    }

    /// The batch as CSV: the external id first, then every column any record has.
    fn csv(&self, batch: &[Outgoing]) -> Result<String, ConnectorError> {
        let flat: Vec<Map<String, Value>> = batch
            .iter()
            .map(|r| {
                let mut out = Map::new();
                for (k, v) in self.columns(r) {
                    match v {
                        Value::Object(m) => {
                            for (f, v) in m {
                                out.insert(format!("{k}.{f}"), v);
                            }
                        }
                        v => {
                            out.insert(k, v);
                        }
                    }
                }
                out
            })
            .collect();
        let mut header = vec![self.spec.external_id.clone()];
        for r in &flat {
            for k in r.keys() {
                if !header.contains(k) {
                    header.push(k.clone());
                }
            }
        }
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let fail = |e: csv::Error| ConnectorError::fatal(format!("cannot write the Bulk CSV: {e}"));
        w.write_record(&header).map_err(fail)?;
        for r in &flat {
            let row: Vec<String> = header
                .iter()
                .map(|h| match r.get(h) {
                    None => String::new(),
                    Some(Value::Null) => "#N/A".to_owned(),
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                })
                .collect();
            w.write_record(&row).map_err(fail)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| ConnectorError::fatal(format!("cannot write the Bulk CSV: {e}")))?;
        String::from_utf8(bytes).map_err(|e| ConnectorError::fatal(e.to_string()))
    }
}

/// The rows of a results CSV, by column name.
fn rows(text: &str, system: &str) -> Result<Vec<HashMap<String, String>>, ConnectorError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ConnectorError::fatal(format!("{system}: unreadable Bulk results: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            ConnectorError::fatal(format!("{system}: unreadable Bulk results: {e}"))
        })?;
        out.push(
            header
                .iter()
                .cloned()
                .zip(row.iter().map(str::to_owned))
                .collect(),
        );
    }
    Ok(out)
}

/// `sf__Error` (`REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --`) as the
/// record's refusal, in the collection form `CODE: message [fields]`.
fn bulk_refusal(error: &str) -> ConnectorError {
    let text = error.trim().trim_end_matches("--").trim();
    let (code, rest) = text.split_once(':').unwrap_or((text, ""));
    let (message, fields) = rest.rsplit_once(':').unwrap_or((rest, ""));
    let (message, fields) = (message.trim(), fields.trim());
    let said = match (message.is_empty(), fields.is_empty()) {
        (true, _) => text.to_owned(),
        (false, true) => format!("{code}: {message}"),
        (false, false) => format!("{code}: {message} [{fields}]"),
    };
    let kind = if code == "UNABLE_TO_LOCK_ROW" {
        ErrorKind::Retryable
    } else {
        ErrorKind::Validation
    };
    ConnectorError::new(kind, said)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bulk_error_reads_like_a_collection_error() {
        let e = super::bulk_refusal(
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
        );
        assert_eq!(
            e.message(),
            "REQUIRED_FIELD_MISSING: Required fields are missing: [Name] [Name]"
        );
    }
}
