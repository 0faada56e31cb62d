//! Writing an entity set by business key.
//!
//! The A2X APIs have no upsert by an external id (dossier §4), so a batch is written in
//! three steps:
//!
//! 1. **Lookup**: the records holding the batch's keys in the `key` property
//!    (`PurchaseOrderByCustomer` for sales orders: the CRM's order number; `SearchTerm1`
//!    for business partners), a `$filter` of up to 20 keys at a time, each with its ETag
//!    (`__metadata.etag`).
//! 2. **Plan**: a record found whose properties already hold the values is done without a
//!    write (a second run changes nothing); one found with changes is a `PATCH` of the
//!    changed properties with `If-Match: <etag>`; one not found is a `POST` with the
//!    `defaults`, and its lines under the navigation property (deep insert, `to_Item`).
//! 3. **Write**: the operations go in `$batch` requests, each in its own change set, so
//!    SAP's refusal of one record rolls back only that record; the answers come back per
//!    change set, in order. An update refused with `412 Precondition Failed` (the record
//!    changed since the lookup) is read again and sent once more with the new ETag.
//!
//! SAP's error (`error.message.value`, `error.code`, `innererror.errordetails`) becomes
//! that record's refusal in SAP's own words. Values are sent in the JSON form their
//! property's type takes in `$metadata` (`Edm.Decimal` as text, `Edm.Int32` as a number,
//! a day as `/Date(ms)/`; see [`crate::schema`]), and compared with what SAP holds in
//! Ferry's form, so a day written is a day unchanged on the next run.
//!
//! Lines are deep-inserted on create; SAP Gateway has no deep update, so a record found
//! with other lines has its items written one by one through the item set ([`Items`]).

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_kit::sink::{Renames, each_outcome, key_text, renamed, same_value};
use ferry_kit::{Outgoing, Sink, SinkCapabilities, SinkContext, Written};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value};

use crate::api::{Answer, Api, Operation, plain, sap_error, text_literal};
use crate::config::{DEFAULT_SETTLE, TargetSpec};
use crate::items::Items;
use crate::schema::SetTypes;

/// Keys per lookup query.
const LOOKUP_CHUNK: usize = 20;

/// An entity set written by one flow.
pub struct SapSink {
    api: Api,
    spec: TargetSpec,
    renames: Renames,
    line_renames: Renames,
    /// How an existing record's lines are written (`None`: on create only).
    items: Option<Items>,
}

/// A record held by SAP.
#[derive(Debug, Clone)]
struct Held {
    id: String,
    etag: Option<String>,
    entity: Map<String, Value>,
}

/// What a record needs.
enum Plan {
    Done(Result<Written, ConnectorError>),
    Create(Operation),
    Update { id: String, ops: Vec<Operation> },
}

impl SapSink {
    pub fn new(api: Api, spec: TargetSpec, _ctx: &SinkContext) -> Self {
        let renames = spec.options.fields.clone();
        let line_renames = spec
            .options
            .lines
            .as_ref()
            .map(|l| l.fields.clone())
            .unwrap_or_default();
        Self {
            items: Items::of(&spec),
            api,
            spec,
            renames,
            line_renames,
        }
    }

    /// The types to read and write by (the service's `$metadata`, read once per system).
    async fn types(&self) -> Result<SetTypes, ConnectorError> {
        Ok(SetTypes {
            schema: self.api.schema(&self.spec.service).await?,
            set: self.spec.set.clone(),
            lines_nav: self.lines_from().map(|(_, nav)| nav.to_owned()),
        })
    }

    fn lines_from(&self) -> Option<(&str, &str)> {
        let lines = self.spec.options.lines.as_ref()?;
        Some((
            lines.from.as_deref().unwrap_or("lines"),
            lines.nav.as_deref().unwrap_or("to_Item"),
        ))
    }

    /// The record's properties as Ferry holds them: renamed, lines left out, its key set.
    fn properties(&self, record: &Outgoing) -> Map<String, Value> {
        let lines = self.lines_from().map(|(from, _)| from);
        let mut out = Map::new();
        for (field, value) in &record.fields {
            if Some(field.as_str()) == lines {
                continue;
            }
            if let Some(to) = renamed(&self.renames, field) {
                out.insert(to.to_owned(), value.clone());
            }
        }
        out.insert(self.spec.key.clone(), Value::String(record.key.clone()));
        out
    }

    /// The body of a create: properties, defaults, lines as a deep insert, each value in
    /// its type's JSON form.
    fn create_body(&self, record: &Outgoing, types: &SetTypes) -> Value {
        let mut body = types.wired(self.properties(record));
        for (k, v) in &self.spec.options.defaults {
            let empty = body.get(k).is_none_or(|v| v.is_null() || v == "");
            if empty {
                body.insert(k.clone(), types.wire(k, v));
            }
        }
        if let (Some((_, nav)), Some(lines)) = (self.lines_from(), self.lines(record)) {
            let items = lines
                .into_iter()
                .map(|line| Value::Object(types.wired_line(line)))
                .collect();
            body.insert(nav.to_owned(), Value::Array(items));
        }
        Value::Object(body)
    }

    /// The record's lines in SAP's item property names (`None`: the record has no lines
    /// field, and its items are left as they are).
    fn lines(&self, record: &Outgoing) -> Option<Vec<Map<String, Value>>> {
        let (from, _) = self.lines_from()?;
        let Value::Array(lines) = record.fields.get(from)? else {
            return None;
        };
        Some(
            lines
                .iter()
                .filter_map(Value::as_object)
                .map(|line| {
                    line.iter()
                        .filter_map(|(f, v)| {
                            renamed(&self.line_renames, f).map(|to| (to.to_owned(), v.clone()))
                        })
                        .collect()
                })
                .collect(),
        )
    }

    /// The entity path of a record with id `id`.
    fn entity_path(&self, id: &str) -> String {
        format!("{}({})", self.spec.set, text_literal(id))
    }

    fn held(&self, entity: Map<String, Value>) -> Option<Held> {
        let id = key_text(entity.get(&self.spec.id)?)?;
        let etag = entity
            .get("__metadata")
            .and_then(|m| m.get("etag"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(Held { id, etag, entity })
    }

    /// The records holding `keys`, by key (more than one: all of them).
    async fn lookup(&self, keys: &[String]) -> Result<HashMap<String, Vec<Held>>, ConnectorError> {
        let mut found: HashMap<String, Vec<Held>> = HashMap::new();
        let mut wanted: Vec<&String> = keys.iter().collect();
        wanted.sort();
        wanted.dedup();
        for chunk in wanted.chunks(LOOKUP_CHUNK) {
            let filter: Vec<String> = chunk
                .iter()
                .map(|k| format!("{} eq {}", self.spec.key, text_literal(k)))
                .collect();
            let mut target = Api::path(&self.spec.service, &self.spec.set);
            let mut query = vec![
                ("$filter", filter.join(" or ")),
                ("$format", "json".to_owned()),
            ];
            if let Some(items) = &self.items {
                query.push(("$expand", items.nav.clone()));
            }
            loop {
                let reply = self.api.get(&target, &query).await?;
                let d = reply.get("d");
                let rows = d
                    .and_then(|d| d.get("results"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for row in rows {
                    let Value::Object(entity) = row else { continue };
                    let Some(key) = entity.get(&self.spec.key).and_then(key_text) else {
                        continue;
                    };
                    if let Some(h) = self.held(entity) {
                        found.entry(key).or_default().push(h);
                    }
                }
                match d.and_then(|d| d.get("__next")).and_then(Value::as_str) {
                    Some(next) => {
                        target = next.to_owned();
                        query = Vec::new();
                    }
                    None => break,
                }
            }
        }
        Ok(found)
    }

    /// The writes that bring `held` to `record`'s values: the header's changed properties,
    /// then its items ([`Items`]); none when nothing changes.
    fn update_of(&self, record: &Outgoing, held: &Held, types: &SetTypes) -> Vec<Operation> {
        let mut ops: Vec<Operation> = self
            .header_update(record, held, types)
            .into_iter()
            .collect();
        if let (Some(items), Some(lines)) = (&self.items, self.lines(record)) {
            ops.extend(items.ops(&held.id, &lines, &held.entity, types));
        }
        ops
    }

    /// The PATCH of the header's changed properties, if any.
    fn header_update(&self, record: &Outgoing, held: &Held, types: &SetTypes) -> Option<Operation> {
        let wanted = self.properties(record);
        let changed: Map<String, Value> = wanted
            .into_iter()
            .filter(|(k, v)| {
                let has = held
                    .entity
                    .get(k)
                    .cloned()
                    .and_then(plain)
                    .map_or(Value::Null, |v| types.read(k, v));
                !same_value(v, &has)
            })
            .collect();
        (!changed.is_empty()).then(|| Operation {
            method: "PATCH",
            path: self.entity_path(&held.id),
            if_match: Some(held.etag.clone().unwrap_or_else(|| "*".to_owned())),
            body: Some(Value::Object(types.wired(changed))),
        })
    }

    fn plan(
        &self,
        record: &Outgoing,
        found: &HashMap<String, Vec<Held>>,
        types: &SetTypes,
    ) -> Plan {
        match found.get(&record.key).map(Vec::as_slice) {
            Some([held]) => {
                let ops = self.update_of(record, held, types);
                if ops.is_empty() {
                    Plan::Done(Ok(Written {
                        target_id: held.id.clone(),
                    }))
                } else {
                    Plan::Update {
                        id: held.id.clone(),
                        ops,
                    }
                }
            }
            Some(many) if many.len() > 1 => {
                let ids: Vec<&str> = many.iter().map(|h| h.id.as_str()).collect();
                Plan::Done(Err(ConnectorError::new(
                    ErrorKind::Validation,
                    format!(
                        "{} records of {} hold {} `{}` ({}): which one to write is not clear",
                        many.len(),
                        self.spec.set,
                        self.spec.key,
                        record.key,
                        ids.join(", ")
                    ),
                )))
            }
            _ if !self.spec.options.create => Plan::Done(Err(ConnectorError::new(
                ErrorKind::Validation,
                format!(
                    "no record of {} holds {} `{}`, and `create: false`",
                    self.spec.set, self.spec.key, record.key
                ),
            ))),
            _ => Plan::Create(Operation {
                method: "POST",
                path: self.spec.set.clone(),
                if_match: None,
                body: Some(self.create_body(record, types)),
            }),
        }
    }

    /// The result of a create or update from its answer.
    fn written(&self, answer: &Answer, id: Option<&str>) -> Result<Written, ConnectorError> {
        if !answer.ok() {
            return Err(self.refusal(answer));
        }
        let id = match id {
            Some(id) => id.to_owned(),
            None => answer
                .entity()
                .and_then(|e| e.get(&self.spec.id).and_then(key_text))
                .ok_or_else(|| {
                    ConnectorError::fatal(format!(
                        "SAP created a record of {} but its answer holds no `{}`",
                        self.spec.set, self.spec.id
                    ))
                })?,
        };
        if let Some(warning) = answer.header("sap-message") {
            tracing::warn!(set = %self.spec.set, id = %id, message = %warning, "SAP wrote the record with a warning.");
        }
        Ok(Written { target_id: id })
    }

    fn refusal(&self, answer: &Answer) -> ConnectorError {
        let e = sap_error(answer);
        ConnectorError::new(
            e.kind(),
            format!(
                "SAP refused the {}: {}",
                self.spec.set,
                self.api.http.scrub(e.message())
            ),
        )
    }

    /// An update refused as stale: read the record again, and send the change once more
    /// with its new ETag (or nothing, if it now holds the values).
    async fn again(&self, record: &Outgoing, id: &str) -> Result<Written, ConnectorError> {
        let mut target = Api::path(&self.spec.service, &self.entity_path(id));
        if let Some(items) = &self.items {
            target = format!("{target}?$expand={}", items.nav);
        }
        let Some(answer) = self.api.get_one(&target).await? else {
            return Err(ConnectorError::new(
                ErrorKind::Conflict,
                format!("{} {id} was deleted while Ferry wrote it", self.spec.set),
            ));
        };
        let Some(held) = answer.entity().and_then(|e| self.held(e)) else {
            return Err(sap_error(&answer));
        };
        let held = Held {
            etag: held
                .etag
                .or_else(|| answer.header("etag").map(str::to_owned)),
            ..held
        };
        let ops = self.update_of(record, &held, &self.types().await?);
        let mut answers = Vec::with_capacity(ops.len());
        for op in &ops {
            answers.push(self.api.send(&self.spec.service, op).await?);
        }
        self.written_all(&answers, id)
    }

    /// The result of a record's writes: the first refusal, or the record written.
    fn written_all(&self, answers: &[Answer], id: &str) -> Result<Written, ConnectorError> {
        for answer in answers {
            self.written(answer, Some(id))?;
        }
        Ok(Written {
            target_id: id.to_owned(),
        })
    }

    /// The answers to `ops`, in `$batch` requests or one by one.
    async fn send(&self, ops: &[Operation]) -> Result<Vec<Answer>, ConnectorError> {
        let mut out = Vec::with_capacity(ops.len());
        if self.spec.options.batch {
            for chunk in ops.chunks(self.api.batch_size.max(1)) {
                out.extend(self.api.batch(&self.spec.service, chunk).await?);
            }
        } else {
            for op in ops {
                out.push(self.api.send(&self.spec.service, op).await?);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Sink for SapSink {
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        let keys: Vec<String> = batch.iter().map(|r| r.key.clone()).collect();
        let found = self.lookup(&keys).await?;
        let types = self.types().await?;
        let plans: Vec<Plan> = batch.iter().map(|r| self.plan(r, &found, &types)).collect();
        // Every operation is its own change set; `at` says whose record each one is.
        let mut ops = Vec::new();
        let mut at = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            let mine: &[Operation] = match plan {
                Plan::Create(op) => std::slice::from_ref(op),
                Plan::Update { ops, .. } => ops,
                Plan::Done(_) => &[],
            };
            ops.extend(mine.iter().cloned());
            at.extend(std::iter::repeat_n(i, mine.len()));
        }
        let mut answered: HashMap<usize, Vec<Answer>> = HashMap::new();
        for (i, answer) in at.into_iter().zip(self.send(&ops).await?) {
            answered.entry(i).or_default().push(answer);
        }
        let mut results = Vec::with_capacity(batch.len());
        for (i, plan) in plans.into_iter().enumerate() {
            let answers = answered.remove(&i).unwrap_or_default();
            let result = match plan {
                Plan::Done(r) => r,
                Plan::Create(_) => match answers.first() {
                    Some(a) => self.written(a, None),
                    None => Err(ConnectorError::fatal("no answer for the record")),
                },
                Plan::Update { id, .. } if answers.iter().any(|a| a.status == 412) => {
                    tracing::debug!(set = %self.spec.set, id = %id, "ETag stale; reading the record again.");
                    self.again(&batch[i], &id).await
                }
                Plan::Update { id, .. } => self.written_all(&answers, &id),
            };
            results.push(result.map_err(|e| e.context(format!("key `{}`", batch[i].key))));
        }
        each_outcome(results)
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities {
            // SAP finishes a `$batch` (or a single write) its sender gave up on.
            settle_after_crash: Some(self.spec.options.settle.map_or(DEFAULT_SETTLE, |d| d.0)),
            ..SinkCapabilities::default()
        }
    }
}
