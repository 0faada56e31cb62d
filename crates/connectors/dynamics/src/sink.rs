//! Writing a table by alternate key: each record a `PATCH <set>(<key>='<value>')` (an
//! upsert; `If-None-Match: *` or `If-Match: *` when the flow creates or updates only),
//! sent in `$batch`es with one change set per record, so Dataverse's refusal of one record
//! (with its own message) stays that record's. Values take their column's Edm type from
//! `$metadata`; lookups are bound by another record's alternate key.

use async_trait::async_trait;
use ferry_kit::http::multipart::{PartAnswer, PartRequest};
use ferry_kit::{Outgoing, Removal, Sink, SinkCapabilities, SinkContext, TargetPage, Written};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value};

use crate::api::{Api, entity_id, key_literal, part_error};
use crate::config::{Mode, Target};
use crate::metadata::EntityType;
use crate::values::to_edm;

pub struct DynamicsSink {
    api: Api,
    target: Target,
    ctx: SinkContext,
}

type Results<T> = Vec<Result<T, ConnectorError>>;

impl DynamicsSink {
    pub fn new(api: Api, target: Target, ctx: &SinkContext) -> Self {
        Self {
            api,
            target,
            ctx: ctx.clone(),
        }
    }

    /// The table's type from `$metadata`, with the key column checked.
    async fn entity_type(&self) -> Result<EntityType, ConnectorError> {
        let schema = self.api.schema().await?;
        let set = &self.target.set;
        let ty = schema.sets.get(set).cloned().ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: $metadata has no entity set `{set}`",
                self.api.http.system()
            ))
        })?;
        if ty.property(&self.target.key).is_none() {
            return Err(ConnectorError::fatal(format!(
                "{}: {set} has no column `{}` to use as its key",
                self.api.http.system(),
                self.target.key
            )));
        }
        Ok(ty)
    }

    /// `accounts(accountnumber='A1')`, or `accounts(<guid>)` when the id is known.
    fn address(&self, key: &str, target_id: Option<&str>) -> Result<String, String> {
        if let Some(id) = target_id.filter(|id| !id.is_empty()) {
            return Ok(format!(
                "{}({})",
                self.target.set,
                ferry_kit::http::percent_encode(id)
            ));
        }
        if key.trim().is_empty() {
            return Err("the key is empty".into());
        }
        Ok(format!(
            "{}({}={})",
            self.target.set,
            self.target.key,
            key_literal(key)
        ))
    }

    /// The JSON body of one record, or why it cannot be written (naming the field).
    fn body(&self, ty: &EntityType, record: &Outgoing) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for (field, value) in &record.fields {
            if let Some(lookup) = self.target.lookups.get(field) {
                let Some(text) = value
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| value.as_i64().map(|n| n.to_string()))
                else {
                    continue;
                };
                let bound = format!(
                    "/{}({}='{}')",
                    lookup.set,
                    lookup.key,
                    text.replace('\'', "''")
                );
                out.insert(format!("{}@odata.bind", lookup.bind), Value::String(bound));
                continue;
            }
            let column = self.target.fields.get(field).unwrap_or(field);
            if *column == self.target.key {
                continue; // in the URL
            }
            let edm = ty.property(column).ok_or_else(|| {
                format!(
                    "field `{field}`: {} has no column `{column}` (map it under the target's `fields:`)",
                    self.target.set
                )
            })?;
            let typed = to_edm(edm, value)
                .map_err(|why| format!("field `{field}` (column `{column}`, {edm}): {why}"))?;
            out.insert(column.clone(), typed);
        }
        for (column, value) in &self.target.defaults {
            if !out.contains_key(column)
                && let Some(edm) = ty.property(column)
            {
                let typed = to_edm(edm, value)
                    .map_err(|why| format!("default `{column}` ({edm}): {why}"))?;
                out.insert(column.clone(), typed);
            }
        }
        Ok(out)
    }

    fn request(
        &self,
        method: &str,
        path: String,
        mode: Mode,
        body: Option<Map<String, Value>>,
    ) -> PartRequest {
        let mut headers = Vec::new();
        match mode {
            Mode::Upsert => {}
            Mode::Create => headers.push(("If-None-Match".to_owned(), "*".to_owned())),
            Mode::Update => headers.push(("If-Match".to_owned(), "*".to_owned())),
        }
        PartRequest {
            method: method.to_owned(),
            path,
            headers,
            body: body.map(|b| Value::Object(b).to_string()),
        }
    }

    /// Sends the prepared requests (`(index, request)`) in batches; the answer to each.
    async fn send(
        &self,
        prepared: Vec<(usize, PartRequest)>,
    ) -> Result<Vec<(usize, Option<PartAnswer>)>, ConnectorError> {
        let mut out = Vec::with_capacity(prepared.len());
        for chunk in prepared.chunks(self.api.batch_size) {
            let requests: Vec<PartRequest> = chunk.iter().map(|(_, r)| r.clone()).collect();
            let answers = self.api.batch(&requests).await?;
            out.extend(chunk.iter().map(|(i, _)| *i).zip(answers));
        }
        Ok(out)
    }

    fn what(&self, key: &str) -> String {
        format!(
            "{}: {} record `{key}`",
            self.api.http.system(),
            self.target.set
        )
    }

    fn refused(&self, key: &str, why: &str) -> ConnectorError {
        ConnectorError::new(ErrorKind::Validation, format!("{}: {why}", self.what(key)))
    }

    fn unanswered(&self, key: &str) -> ConnectorError {
        ConnectorError::new(
            ErrorKind::Retryable,
            format!("{}: the $batch answer has no answer for it", self.what(key)),
        )
    }

    /// Writes `batch` with `mode`; with `missing_ok`, a 404 counts as done.
    async fn write(
        &self,
        batch: &[Outgoing],
        mode: Mode,
        missing_ok: bool,
    ) -> Result<Results<Written>, ConnectorError> {
        let ty = self.entity_type().await?;
        let mut results: Vec<Option<Result<Written, ConnectorError>>> = vec![None; batch.len()];
        let mut prepared = Vec::new();
        for (i, record) in batch.iter().enumerate() {
            let path = self.address(&record.key, None);
            match (path, self.body(&ty, record)) {
                (Ok(path), Ok(body)) => {
                    prepared.push((i, self.request("PATCH", path, mode, Some(body))))
                }
                (Err(why), _) | (_, Err(why)) => {
                    results[i] = Some(Err(self.refused(&record.key, &why)))
                }
            }
        }
        for (i, answer) in self.send(prepared).await? {
            let record = &batch[i];
            results[i] = Some(match answer {
                None => Err(self.unanswered(&record.key)),
                Some(a) if a.ok() => Ok(Written {
                    target_id: a
                        .header("odata-entityid")
                        .and_then(entity_id)
                        .unwrap_or_else(|| record.key.clone()),
                }),
                Some(a) if missing_ok && a.status == 404 => Ok(Written {
                    target_id: record
                        .target_id
                        .clone()
                        .unwrap_or_else(|| record.key.clone()),
                }),
                Some(a) => Err(part_error(&self.what(&record.key), &a)),
            });
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::fatal("not written"))))
            .collect())
    }
}

#[async_trait]
impl Sink for DynamicsSink {
    async fn upsert(&self, batch: &[Outgoing]) -> Result<Results<Written>, ConnectorError> {
        self.write(batch, self.target.mode, false).await
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities {
            delete: true,
            update: true,
            scan: true,
            // PATCH by alternate key is an upsert: a write repeated after a crash is harmless.
            ..SinkCapabilities::default()
        }
    }

    async fn probe(&self) -> ferry_kit::Probe {
        crate::probe::sink(&self.api, &self.target, &self.ctx).await
    }

    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        let ty = self.entity_type().await?;
        crate::scan::scan(&self.api, &self.target, &self.ctx, &ty, cursor, limit).await
    }

    async fn update(&self, batch: &[Outgoing]) -> Result<Results<Written>, ConnectorError> {
        self.write(batch, Mode::Update, true).await
    }

    async fn delete(&self, batch: &[Removal]) -> Result<Results<()>, ConnectorError> {
        let mut results: Vec<Option<Result<(), ConnectorError>>> = vec![None; batch.len()];
        let mut prepared = Vec::new();
        for (i, removal) in batch.iter().enumerate() {
            match self.address(&removal.key, removal.target_id.as_deref()) {
                Ok(path) => prepared.push((i, self.request("DELETE", path, Mode::Upsert, None))),
                Err(why) => results[i] = Some(Err(self.refused(&removal.key, &why))),
            }
        }
        for (i, answer) in self.send(prepared).await? {
            let key = &batch[i].key;
            results[i] = Some(match answer {
                None => Err(self.unanswered(key)),
                // Already gone counts as deleted.
                Some(a) if a.ok() || a.status == 404 => Ok(()),
                Some(a) => Err(part_error(&self.what(key), &a)),
            });
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::fatal("not deleted"))))
            .collect())
    }
}
