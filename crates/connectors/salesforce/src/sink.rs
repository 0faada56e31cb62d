//! Writing an sObject: upsert by an external id through sObject Collections (200 records a
//! call, `allOrNone: false`, one result per record), or through a Bulk API 2.0 job for
//! batches above `bulk_threshold` ([`crate::bulk`]); delete by id; scan back by `Id`.
//!
//! A refused record carries Salesforce's own `statusCode` and `message` (and the fields it
//! names): `FIELD_CUSTOM_VALIDATION_EXCEPTION: Credit limit cannot be negative
//! [Credit_Limit__c]`. Upsert by external id is idempotent, so a collection call that timed
//! out is sent again. The token is renewed once on a 401 by the kit's client.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_kit::http::{Call, Method};
use ferry_kit::sink::{key_text, renamed};
use ferry_kit::{
    Outgoing, Removal, Sink, SinkCapabilities, SinkContext, TargetPage, TargetRecord, Written,
};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value, json};

use crate::api::{Api, quote};
use crate::config::TargetSpec;
use crate::source::{flatten, is_id};

/// Records per sObject Collections call (Salesforce's limit).
pub const COLLECTION_SIZE: usize = 200;

/// An sObject written by one flow.
pub struct SalesforceSink {
    pub(crate) api: Api,
    pub(crate) spec: TargetSpec,
    key_field: String,
    fields: Vec<String>,
}

type Results = Vec<Result<Written, ConnectorError>>;

impl SalesforceSink {
    pub fn new(api: Api, spec: TargetSpec, ctx: &SinkContext) -> Self {
        Self {
            api,
            spec,
            key_field: ctx.key_field.clone(),
            fields: ctx.fields.clone(),
        }
    }

    /// The sObject field a canonical field is written to: the key goes to the external id
    /// unless renamed; `None`: left out.
    fn column<'a>(&'a self, canonical: &'a str) -> Option<&'a str> {
        if canonical == self.key_field && !self.spec.fields.contains_key(canonical) {
            return None; // written as the external id
        }
        match canonical {
            "Id" | "id" | "attributes" => None,
            _ => renamed(&self.spec.fields, canonical),
        }
    }

    /// The fields of a record as Salesforce takes them: renamed, relationships by external
    /// id nested (`Account.ERP_Id__c` → `{"Account": {"ERP_Id__c": …}}`), the external id
    /// set to the key.
    pub(crate) fn columns(&self, record: &Outgoing) -> Map<String, Value> {
        let mut out = Map::new();
        for (canonical, value) in &record.fields {
            let Some(to) = self.column(canonical) else {
                continue;
            };
            match to.split_once('.') {
                Some((relation, field)) => {
                    let entry = out
                        .entry(relation.to_owned())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(m) = entry {
                        m.insert(field.to_owned(), value.clone());
                    }
                }
                None => {
                    out.insert(to.to_owned(), value.clone());
                }
            }
        }
        out.insert(
            self.spec.external_id.clone(),
            Value::String(record.key.clone()),
        );
        out
    }

    async fn upsert_collection(&self, chunk: &[Outgoing]) -> Result<Results, ConnectorError> {
        let records: Vec<Value> = chunk
            .iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("attributes".into(), json!({"type": self.spec.object}));
                m.extend(self.columns(r));
                Value::Object(m)
            })
            .collect();
        let path = self.api.path(&format!(
            "composite/sobjects/{}/{}",
            self.spec.object, self.spec.external_id
        ));
        let call = Call::new(Method::PATCH, path)
            .json(&json!({"allOrNone": false, "records": records}))
            .label(format!(
                "upsert {} by {}",
                self.spec.object, self.spec.external_id
            ))
            .safe_to_repeat();
        let answer = self.api.json(call).await?;
        let results = answer.as_array().ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: sObject Collections answered no result list: {answer}",
                self.api.http.system()
            ))
        })?;
        if results.len() != chunk.len() {
            return Err(ConnectorError::fatal(format!(
                "{}: sObject Collections answered {} results for {} records",
                self.api.http.system(),
                results.len(),
                chunk.len()
            )));
        }
        Ok(results.iter().map(written).collect())
    }
}

impl SalesforceSink {
    /// `create: false`: the records holding each key, by SOQL on the key field, updated by
    /// their `Id` through sObject Collections (`PATCH /composite/sobjects`); a key no record
    /// holds (or several do) is refused, nothing is created.
    async fn update_found(&self, chunk: &[Outgoing]) -> Result<Results, ConnectorError> {
        let ext = self.spec.external_id.as_str();
        let by_id = ext.eq_ignore_ascii_case("Id");
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        let keys: Vec<String> = chunk
            .iter()
            .filter(|r| !by_id || is_id(&r.key))
            .map(|r| quote(&r.key))
            .collect();
        if !keys.is_empty() {
            let soql = if by_id {
                format!(
                    "SELECT Id FROM {} WHERE Id IN ({})",
                    self.spec.object,
                    keys.join(", ")
                )
            } else {
                format!(
                    "SELECT Id, {ext} FROM {} WHERE {ext} IN ({})",
                    self.spec.object,
                    keys.join(", ")
                )
            };
            for row in self.api.query_all(&soql).await? {
                let Some(id) = row.get("Id").and_then(Value::as_str) else {
                    continue;
                };
                let key = if by_id {
                    Some(id.to_owned())
                } else {
                    row.get(ext).and_then(key_text)
                };
                if let Some(key) = key {
                    found
                        .entry(norm(&key, by_id))
                        .or_default()
                        .push(id.to_owned());
                }
            }
        }
        let mut out: Results = Vec::with_capacity(chunk.len());
        let mut records = Vec::new();
        let mut slots = Vec::new();
        for (i, r) in chunk.iter().enumerate() {
            let ids = found.get(&norm(&r.key, by_id)).cloned().unwrap_or_default();
            match ids.as_slice() {
                [id] => {
                    let mut m = Map::new();
                    m.insert("attributes".into(), json!({"type": self.spec.object}));
                    let mut columns = self.columns(r);
                    columns.remove(ext);
                    m.extend(columns);
                    m.insert("Id".into(), Value::String(id.clone()));
                    records.push(Value::Object(m));
                    slots.push(i);
                    out.push(Ok(Written {
                        target_id: id.clone(),
                    }));
                }
                [] => out.push(Err(ConnectorError::new(
                    ErrorKind::Validation,
                    format!(
                        "no {} has {ext} = {}: this target only updates records that exist \
                         (create: false)",
                        self.spec.object, r.key
                    ),
                ))),
                many => out.push(Err(ConnectorError::new(
                    ErrorKind::Validation,
                    format!(
                        "{} {}s have {ext} = {}: which one to update is not clear",
                        many.len(),
                        self.spec.object,
                        r.key
                    ),
                ))),
            }
        }
        if records.is_empty() {
            return Ok(out);
        }
        let call = Call::new(Method::PATCH, self.api.path("composite/sobjects"))
            .json(&json!({"allOrNone": false, "records": records}))
            .label(format!("update {} by {ext}", self.spec.object))
            .safe_to_repeat();
        let answer = self.api.json(call).await?;
        let results = answer.as_array().ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: sObject Collections answered no result list: {answer}",
                self.api.http.system()
            ))
        })?;
        if results.len() != slots.len() {
            return Err(ConnectorError::fatal(format!(
                "{}: sObject Collections answered {} results for {} records",
                self.api.http.system(),
                results.len(),
                slots.len()
            )));
        }
        for (slot, result) in slots.into_iter().zip(results) {
            out[slot] = written(result);
        }
        Ok(out)
    }
}

/// A key as compared with the records found: ids by their first 15 characters (case-
/// sensitive), other fields without case, as SOQL compares them.
fn norm(key: &str, by_id: bool) -> String {
    if by_id {
        key.chars().take(15).collect()
    } else {
        key.to_lowercase()
    }
}

/// One collection result: the id, or Salesforce's refusal.
fn written(result: &Value) -> Result<Written, ConnectorError> {
    if result.get("success") == Some(&Value::Bool(true))
        && let Some(id) = result.get("id").and_then(Value::as_str)
    {
        return Ok(Written {
            target_id: id.to_owned(),
        });
    }
    Err(refusal(result.get("errors")))
}

/// Salesforce's own errors of one record as a connector error: `statusCode: message
/// [fields]`, joined; lock contention is retryable.
pub fn refusal(errors: Option<&Value>) -> ConnectorError {
    let list = errors
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut transient = !list.is_empty();
    let text: Vec<String> = list
        .iter()
        .map(|e| {
            let code = e
                .get("statusCode")
                .or_else(|| e.get("errorCode"))
                .and_then(Value::as_str)
                .unwrap_or("ERROR");
            transient &= matches!(code, "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE");
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            let fields: Vec<&str> = e
                .get("fields")
                .and_then(Value::as_array)
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if fields.is_empty() {
                format!("{code}: {message}")
            } else {
                format!("{code}: {message} [{}]", fields.join(", "))
            }
        })
        .collect();
    let kind = if transient {
        ErrorKind::Retryable
    } else {
        ErrorKind::Validation
    };
    if text.is_empty() {
        ConnectorError::new(kind, "Salesforce refused the record without saying why")
    } else {
        ConnectorError::new(kind, text.join("; "))
    }
}

#[async_trait]
impl Sink for SalesforceSink {
    async fn upsert(&self, batch: &[Outgoing]) -> Result<Results, ConnectorError> {
        if !self.spec.create {
            let mut out = Vec::with_capacity(batch.len());
            for chunk in batch.chunks(COLLECTION_SIZE) {
                out.extend(self.update_found(chunk).await?);
            }
            return Ok(out);
        }
        if batch.len() > self.spec.bulk_threshold {
            return self.upsert_bulk(batch).await;
        }
        let mut out = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(COLLECTION_SIZE) {
            out.extend(self.upsert_collection(chunk).await?);
        }
        Ok(out)
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities {
            delete: true,
            update: false,
            scan: true,
            ..SinkCapabilities::default()
        }
    }

    async fn delete(
        &self,
        batch: &[Removal],
    ) -> Result<Vec<Result<(), ConnectorError>>, ConnectorError> {
        // Ids of the records without one, by external id.
        let keys: Vec<&str> = batch
            .iter()
            .filter(|r| !r.target_id.as_deref().is_some_and(is_id))
            .map(|r| r.key.as_str())
            .collect();
        let mut by_key: HashMap<String, String> = HashMap::new();
        for chunk in keys.chunks(COLLECTION_SIZE) {
            let list: Vec<String> = chunk.iter().map(|k| quote(k)).collect();
            let soql = format!(
                "SELECT Id, {ext} FROM {} WHERE {ext} IN ({})",
                self.spec.object,
                list.join(", "),
                ext = self.spec.external_id
            );
            for row in self.api.query_all(&soql).await? {
                if let (Some(id), Some(key)) = (
                    row.get("Id").and_then(Value::as_str),
                    row.get(&self.spec.external_id).and_then(key_text),
                ) {
                    by_key.insert(key.to_lowercase(), id.to_owned());
                }
            }
        }
        let ids: Vec<Option<String>> = batch
            .iter()
            .map(|r| match r.target_id.as_deref().filter(|t| is_id(t)) {
                Some(id) => Some(id.to_owned()),
                None => by_key.get(&r.key.to_lowercase()).cloned(),
            })
            .collect();
        let present: Vec<&String> = ids.iter().flatten().collect();
        let mut outcome: HashMap<String, Result<(), ConnectorError>> = HashMap::new();
        for chunk in present.chunks(COLLECTION_SIZE) {
            let list: Vec<&str> = chunk.iter().map(|s| s.as_str()).collect();
            let call = Call::delete(self.api.path("composite/sobjects"))
                .query("ids", list.join(","))
                .query("allOrNone", "false")
                .label(format!("delete {}", self.spec.object));
            let answer = self.api.json(call).await?;
            let results = answer.as_array().cloned().unwrap_or_default();
            for (id, result) in list.iter().zip(results.iter()) {
                let ok = result.get("success") == Some(&Value::Bool(true));
                let gone = result
                    .get("errors")
                    .and_then(Value::as_array)
                    .is_some_and(|errors| {
                        errors.iter().any(|e| {
                            matches!(
                                e.get("statusCode").and_then(Value::as_str),
                                Some(
                                    "ENTITY_IS_DELETED"
                                        | "INVALID_CROSS_REFERENCE_KEY"
                                        | "NOT_FOUND"
                                )
                            )
                        })
                    });
                let r = if ok || gone {
                    Ok(())
                } else {
                    Err(refusal(result.get("errors")))
                };
                outcome.insert((*id).to_owned(), r);
            }
        }
        Ok(ids
            .into_iter()
            .map(|id| match id {
                // Not found by its external id: already gone.
                None => Ok(()),
                Some(id) => outcome.remove(&id).unwrap_or(Ok(())),
            })
            .collect())
    }

    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        let limit = limit.clamp(1, 2000);
        // Canonical fields read back: plain sObject fields only (relationships aside).
        let mut canon: Vec<(String, String)> = Vec::new();
        for f in &self.fields {
            if let Some(to) = self.column(f)
                && !to.contains('.')
                && !canon.iter().any(|(_, t)| t.eq_ignore_ascii_case(to))
                && !to.eq_ignore_ascii_case(&self.spec.external_id)
            {
                canon.push((f.clone(), to.to_owned()));
            }
        }
        let mut select = vec!["Id".to_owned()];
        if !self.spec.external_id.eq_ignore_ascii_case("Id") {
            select.push(self.spec.external_id.clone());
        }
        select.extend(canon.iter().map(|(_, t)| t.clone()));
        let after = cursor
            .filter(|c| is_id(c))
            .map(|c| format!(" WHERE Id > {}", quote(c)))
            .unwrap_or_default();
        let soql = format!(
            "SELECT {} FROM {}{after} ORDER BY Id ASC LIMIT {}",
            select.join(", "),
            self.spec.object,
            limit + 1
        );
        let rows = self.api.query_up_to(&soql, limit + 1).await?;
        let more = rows.len() > limit;
        let mut records = Vec::new();
        for mut row in rows.into_iter().take(limit) {
            row.remove("attributes");
            flatten(&mut row, &[]);
            let Some(id) = row.get("Id").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let key = row.get(&self.spec.external_id).and_then(key_text);
            let mut fields = Map::new();
            for (c, t) in &canon {
                fields.insert(c.clone(), row.get(t).cloned().unwrap_or(Value::Null));
            }
            if let Some(k) = &key {
                fields.insert(self.key_field.clone(), Value::String(k.clone()));
            }
            records.push(TargetRecord {
                target_id: id,
                key,
                fields,
            });
        }
        let mut names: Vec<String> = canon.into_iter().map(|(c, _)| c).collect();
        names.push(self.key_field.clone());
        Ok(TargetPage {
            cursor: records
                .last()
                .map(|r| r.target_id.clone())
                .unwrap_or_else(|| cursor.unwrap_or_default().to_owned()),
            records,
            more,
            fields: names,
        })
    }
}
