//! Writing an object by code.
//!
//! For each batch the sink asks which codes exist (a list with `code in (…)`), then:
//!
//! - **customers**: new ones through the idempotent single save (`merchant/idempotent/
//!   newinsert`, insert only), existing ones through the batch save as `Update` rows (the
//!   single save has no update), whose per-row messages (`客户[C0301]：…`) name the code;
//!   a batch refused as a whole is sent again row by row;
//! - **materials**: the idempotent save, which inserts a new code and updates an existing
//!   one (`product/idempotent/save`);
//! - **sales orders**: the idempotent `singleSave` (see [`crate::orders`]), then `after_save`.
//!
//! Idempotent saves carry a `resubmitCheckKey` derived from the request
//! ([`idempotency_key`]): a request sent again after a timeout is answered with the first
//! result (or 100004 after an hour) and written once. A refused record is that record's
//! error, with Yonyou's own message and the code it is about; the others are written.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_kit::sink::{each_outcome, key_text};
use ferry_kit::{Outgoing, Sink, SinkCapabilities, SinkContext, Written};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value, json};

use crate::api::{Api, id_of, rows_of};
use crate::body::{header, idempotency_key};
use crate::config::TargetOptions;
use crate::objects::{MERCHANT_BATCH, MERCHANT_INSERT, Object, PRODUCT_SAVE};
use crate::reply::{Envelope, text};

/// Update rows per customer batch save.
const UPDATE_BATCH: usize = 50;

/// A record that exists in Yonyou.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: String,
    /// Its `pubts`, what a write is made over.
    pub pubts: Option<String>,
}

/// One record's outcome.
pub type Outcome = Result<Written, ConnectorError>;

/// An object written by one flow.
pub struct YonyouSink {
    pub(crate) api: Api,
    pub(crate) options: TargetOptions,
    pub(crate) ctx: SinkContext,
}

impl YonyouSink {
    pub fn new(api: Api, options: TargetOptions, ctx: &SinkContext) -> Self {
        Self {
            api,
            options,
            ctx: ctx.clone(),
        }
    }

    pub(crate) fn object(&self) -> Object {
        self.options.object
    }

    /// Yonyou's refusal of the record `code`.
    pub(crate) fn refused(&self, code: &str, what: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new(
            ErrorKind::Validation,
            format!("Yonyou refused {} `{code}`: {what}", self.object().name()),
        )
    }

    /// Which of `codes` exist.
    async fn existing(
        &self,
        codes: &[String],
    ) -> Result<HashMap<String, Existing>, ConnectorError> {
        let mut found = HashMap::new();
        for chunk in codes.chunks(100) {
            let mut body = json!({"pageIndex": 1, "pageSize": chunk.len().max(1),
                "simpleVOs": [{"field": "code", "op": "in", "value1": chunk}]});
            if self.object() == Object::SalesOrders {
                body["isSum"] = json!(true);
            }
            let what = format!("the lookup of {} by code", self.object().name());
            let rows = rows_of(
                self.api
                    .read(self.object().list_path(), &body, &what)
                    .await?,
            );
            for row in rows {
                let (Some(id), Some(code)) = (id_of(&row), row.get("code").and_then(key_text))
                else {
                    continue;
                };
                found.entry(code).or_insert(Existing {
                    id,
                    pubts: row.get("pubts").and_then(text),
                });
            }
        }
        Ok(found)
    }

    /// An idempotent single save of `data` (over `over`, the existing record), its
    /// `resubmitCheckKey` added.
    pub(crate) async fn save_one(
        &self,
        path: &str,
        mut data: Map<String, Value>,
        over: Option<&Existing>,
    ) -> Result<Envelope, ConnectorError> {
        let key = idempotency_key(path, &data, over.and_then(|e| e.pubts.as_deref()));
        data.insert("resubmitCheckKey".into(), Value::String(key));
        // Safe to send again: the key makes Yonyou answer the first result.
        self.api.post(path, &json!({ "data": data }), true).await
    }

    /// The outcome of a single save of record `code`: its id, or Yonyou's refusal.
    pub(crate) fn saved(&self, code: &str, reply: &Envelope, known: Option<&str>) -> Outcome {
        if !reply.ok() {
            return Err(self.refused(code, reply.refusal()));
        }
        let id = match &reply.data {
            Value::Array(rows) => rows.first().and_then(id_of),
            other => id_of(other),
        };
        match id.or_else(|| known.map(str::to_owned)) {
            Some(target_id) => Ok(Written { target_id }),
            None => Err(ConnectorError::new(
                ErrorKind::Retryable,
                format!(
                    "Yonyou answered {} `{code}` without its id or an error",
                    self.object().name()
                ),
            )),
        }
    }

    /// Customers: new ones one by one, existing ones in batch updates.
    async fn customers(
        &self,
        batch: &[Outgoing],
        existing: &HashMap<String, Existing>,
    ) -> Result<Vec<Outcome>, ConnectorError> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        let mut updates = Vec::new();
        for (i, out) in batch.iter().enumerate() {
            let data = header(&self.options, out, &self.ctx.key_field);
            match existing.get(&out.key) {
                Some(found) => updates.push((i, update_row(data), found)),
                None => {
                    let outcome = match self.save_one(MERCHANT_INSERT, data, None).await {
                        Ok(reply) => self.saved(&out.key, &reply, None),
                        Err(e) => Err(e),
                    };
                    outcomes[i] = Some(outcome);
                }
            }
        }
        for chunk in updates.chunks(UPDATE_BATCH) {
            for (i, outcome) in self.update_customers(batch, chunk).await? {
                outcomes[i] = Some(outcome);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Err(ConnectorError::fatal("a record was lost in the sink")))
            })
            .collect())
    }

    /// One batch save of customer updates; each row's outcome. A batch refused as a whole
    /// is sent again row by row, so the refusal lands on its record.
    async fn update_customers(
        &self,
        batch: &[Outgoing],
        rows: &[(usize, Map<String, Value>, &Existing)],
    ) -> Result<Vec<(usize, Outcome)>, ConnectorError> {
        let sent: Vec<Value> = rows
            .iter()
            .map(|(_, r, _)| Value::Object(r.clone()))
            .collect();
        let reply = self
            .api
            .post(MERCHANT_BATCH, &json!({ "data": sent }), true)
            .await?;
        if reply.ok() {
            return Ok(rows
                .iter()
                .enumerate()
                .map(|(n, (i, _, found))| {
                    let code = &batch[*i].key;
                    (*i, self.row_outcome(&reply.data, n, code, &found.id))
                })
                .collect());
        }
        if rows.len() == 1 {
            let (i, _, _) = &rows[0];
            return Ok(vec![(
                *i,
                Err(self.refused(&batch[*i].key, reply.refusal())),
            )]);
        }
        let mut out = Vec::new();
        for row in rows {
            out.extend(Box::pin(self.update_customers(batch, std::slice::from_ref(row))).await?);
        }
        Ok(out)
    }

    /// What a batch answer (`{count, sucessCount, failCount, messages, infos}`) says of the
    /// row at `index` with code `code`.
    fn row_outcome(&self, data: &Value, index: usize, code: &str, id: &str) -> Outcome {
        let infos = data.get("infos").and_then(Value::as_array);
        if infos
            .into_iter()
            .flatten()
            .any(|info| info.get("code").and_then(key_text).as_deref() == Some(code))
        {
            return Ok(Written {
                target_id: id.to_owned(),
            });
        }
        let messages = batch_messages(data);
        let own: Vec<&str> = messages
            .iter()
            .filter(|(row, m)| *row == Some(index + 1) || m.contains(&format!("[{code}]")))
            .map(|(_, m)| m.as_str())
            .collect();
        let failed = data
            .get("failCount")
            .and_then(text)
            .and_then(|n| n.parse::<u64>().ok());
        match (own.is_empty(), failed) {
            (false, _) => Err(self.refused(code, own.join("; "))),
            (true, Some(0) | None) => Ok(Written {
                target_id: id.to_owned(),
            }),
            (true, Some(_)) => Err(self.refused(
                code,
                format!(
                    "the batch save failed rows without naming them: {}",
                    messages
                        .iter()
                        .map(|(_, m)| m.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )),
        }
    }

    /// Materials: the idempotent save inserts or updates by code.
    async fn materials(
        &self,
        batch: &[Outgoing],
        existing: &HashMap<String, Existing>,
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for out in batch {
            let found = existing.get(&out.key);
            let data = header(&self.options, out, &self.ctx.key_field);
            let outcome = match self.save_one(PRODUCT_SAVE, data, found).await {
                Ok(reply) => self.saved(&out.key, &reply, found.map(|f| f.id.as_str())),
                Err(e) => Err(e),
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// A customer batch row updating by code: the single save's names turned into the batch
/// save's (`name.simplifiedName` → `name.zh_CN`, `createOrgCode` → `org_code`,
/// `customerClassCode` → `customerClass_code`, contacts under `merchantContacterInfos`).
fn update_row(mut data: Map<String, Value>) -> Map<String, Value> {
    if let Some(Value::Object(name)) = data.get_mut("name")
        && let Some(simplified) = name.remove("simplifiedName")
    {
        name.insert("zh_CN".into(), simplified);
    }
    for (single, batch) in [
        ("createOrgCode", "org_code"),
        ("customerClassCode", "customerClass_code"),
        ("merchantContactInfos", "merchantContacterInfos"),
    ] {
        if let Some(value) = data.remove(single) {
            data.insert(batch.into(), value);
        }
    }
    data.insert("_status".into(), Value::String("Update".into()));
    data
}

/// A batch answer's messages: strings, or `{rowNum, message}` (correction 4).
pub fn batch_messages(data: &Value) -> Vec<(Option<usize>, String)> {
    data.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| match m {
            Value::String(s) => Some((None, s.clone())),
            Value::Object(o) => Some((
                o.get("rowNum").and_then(text).and_then(|n| n.parse().ok()),
                o.get("message").and_then(text)?,
            )),
            _ => None,
        })
        .collect()
}

#[async_trait]
impl Sink for YonyouSink {
    async fn upsert(&self, batch: &[Outgoing]) -> Result<Vec<Outcome>, ConnectorError> {
        let codes: Vec<String> = batch.iter().map(|o| o.key.clone()).collect();
        let existing = self.existing(&codes).await?;
        let outcomes = match self.object() {
            Object::Customers => self.customers(batch, &existing).await?,
            Object::Materials => self.materials(batch, &existing).await,
            Object::SalesOrders => self.orders(batch, &existing).await?,
        };
        each_outcome(outcomes)
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities {
            delete: false,
            update: false,
            scan: false,
            ..SinkCapabilities::default()
        }
    }
}
