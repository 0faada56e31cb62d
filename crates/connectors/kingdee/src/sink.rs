//! Writing a form: upsert by number through `BatchSave`, then the document's life cycle.
//!
//! K/3 Cloud has no upsert by an outside key. For each batch the sink asks which numbers
//! exist (`<number> in (…)`, with their id and `FDocumentStatus`), then sends one
//! `BatchSave` whose models carry the id of each existing record (an update of the fields
//! sent, listed in `NeedUpDateFields`; the entry replaced by the lines sent) or id 0 (a
//! create, with the target's `defaults` and `org`). Each model's outcome comes back by its
//! `DIndex`, so one refused record is that record's dead letter, with Kingdee's own message,
//! and the rest of the batch is written. A create refused because the number was taken
//! meanwhile (another writer, or a timeout after Kingdee had saved it) is sent again as an
//! update, once.
//!
//! Then, per record still standing: `after_save` (`Submit`, `Audit`), `push_to` (下推 the
//! new documents to their downstream bills) and `allocate_to` (分配 new base data). A
//! step refused is the record's error ("saved, but Audit refused: …"); the next attempt
//! saves it again and repeats the steps, which Kingdee answers "already done" to where they
//! were (`单据已经审核！`, correction 5 of the dossier), read here as done.
//!
//! An audited record (`C`) that changes is refused (`when_audited: refuse`), or taken back
//! with `UnAudit` first (`when_audited: unaudit`); Kingdee refuses that where a downstream
//! bill exists, and its message says so.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use ferry_kit::sink::{decimal, key_text, renamed};
use ferry_kit::{
    Outgoing, Removal, Sink, SinkCapabilities, SinkContext, TargetPage, TargetRecord, Written,
};
use ferry_model::{ConnectorError, ErrorKind};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use crate::api::{Api, Query, one_of};
use crate::config::{TargetSpec, WhenAudited};
use crate::reply::Status;
use crate::source::id_text;
use crate::unchanged::{self, Wanted};

/// A record's outcome while a batch goes through its steps.
type Outcome = Result<String, ConnectorError>;

/// A record that exists in Kingdee.
#[derive(Debug, Clone)]
struct Existing {
    id: String,
    status: String,
}

/// A form written by one flow.
pub struct KingdeeSink {
    api: Api,
    spec: TargetSpec,
    ctx: SinkContext,
}

impl KingdeeSink {
    pub fn new(api: Api, spec: TargetSpec, ctx: &SinkContext) -> Self {
        Self {
            api,
            spec,
            ctx: ctx.clone(),
        }
    }

    fn form(&self) -> &str {
        &self.spec.form
    }

    fn refused(&self, number: &str, what: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new(
            ErrorKind::Validation,
            format!("Kingdee refused {} `{number}`: {what}", self.form()),
        )
    }

    /// Which of `numbers` exist, with their ids and statuses.
    async fn existing(
        &self,
        numbers: &[String],
    ) -> Result<HashMap<String, Existing>, ConnectorError> {
        let keys = [
            self.spec.id.clone(),
            self.spec.number.clone(),
            "FDocumentStatus".to_owned(),
        ];
        let mut found = HashMap::new();
        for chunk in numbers.chunks(200) {
            let query = Query {
                form: self.form(),
                keys: &keys,
                filter: one_of(&self.spec.number, chunk),
                order: format!("{} ASC", self.spec.id),
                start: 0,
                limit: 0,
            };
            for row in self.api.query_all(query).await? {
                let (Some(id), Some(number)) = (id_text(&row[0]), key_text(&row[1])) else {
                    continue;
                };
                let status = row[2].as_str().unwrap_or_default().trim().to_owned();
                found.entry(number).or_insert(Existing { id, status });
            }
        }
        Ok(found)
    }

    /// The model of one record: its header fields, references as `{"FNumber": …}`, its
    /// lines as the entry; the internal id of the record it updates, or 0 and the create
    /// defaults.
    fn model(
        &self,
        out: &Outgoing,
        existing: Option<&Existing>,
    ) -> Result<Map<String, Value>, ConnectorError> {
        let opts = &self.spec.options;
        let lines_from = opts
            .lines
            .as_ref()
            .map(|l| l.from.as_deref().unwrap_or("lines"));
        let mut model = Map::new();
        for (canonical, value) in &out.fields {
            if Some(canonical.as_str()) == lines_from || canonical == &self.ctx.key_field {
                continue;
            }
            if let Some(key) = renamed(&opts.fields, canonical) {
                model.insert(key.to_owned(), reference(&opts.refs, key, value));
            }
        }
        model.insert(self.spec.number.clone(), Value::String(out.key.clone()));
        if let (Some(lines), Some(from)) = (&opts.lines, lines_from) {
            let entry = match out.fields.get(from) {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| entry_line(lines, item))
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|why| self.refused(&out.key, why))?,
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    return Err(self.refused(&out.key, format!("`{from}` is not a list of lines")));
                }
            };
            model.insert(lines.entry.clone(), Value::Array(entry));
        }
        match existing {
            Some(found) => {
                let id = found
                    .id
                    .parse::<i64>()
                    .map_or(json!(found.id), |n| json!(n));
                model.insert(self.spec.id.clone(), id);
            }
            None => {
                model.insert(self.spec.id.clone(), json!(0));
                if let Some(org) = &opts.org {
                    for key in ["FCreateOrgId", "FUseOrgId"] {
                        model.entry(key).or_insert(json!({"FNumber": org}));
                    }
                }
                for (key, value) in &opts.defaults {
                    let absent = model.get(key).is_none_or(Value::is_null);
                    if absent {
                        model.insert(key.clone(), reference(&opts.refs, key, value));
                    }
                }
            }
        }
        Ok(model)
    }

    /// Saves the models (index in the batch, model, created?) in `BatchSave` calls; each
    /// index's id or error.
    async fn save(
        &self,
        models: Vec<(usize, Map<String, Value>)>,
        numbers: &[String],
    ) -> Result<BTreeMap<usize, Outcome>, ConnectorError> {
        let mut out = BTreeMap::new();
        for chunk in models.chunks(self.api.batch_size) {
            let mut fields: Vec<String> = Vec::new();
            for (_, model) in chunk {
                for key in model.keys().filter(|k| **k != self.spec.id) {
                    if !fields.contains(key) {
                        fields.push(key.clone());
                    }
                }
            }
            let sent: Vec<Value> = chunk
                .iter()
                .map(|(_, m)| Value::Object(m.clone()))
                .collect();
            let status = self.api.batch_save(self.form(), sent, &fields).await?;
            for (position, (index, _)) in chunk.iter().enumerate() {
                let number = &numbers[*index];
                out.insert(*index, self.outcome(&status, position, chunk.len(), number));
            }
        }
        Ok(out)
    }

    /// What `status` says of the item at `position` of a call with `items` items.
    fn outcome(&self, status: &Status, position: usize, items: usize, number: &str) -> Outcome {
        let errors = status.errors_at(position, items);
        if !errors.is_empty() {
            let said: Vec<String> = errors.iter().map(|e| e.describe()).collect();
            return Err(self.refused(number, said.join("; ")));
        }
        let success = status
            .successes
            .iter()
            .find(|s| s.index == Some(position))
            .or_else(|| (items == 1).then(|| status.successes.first()).flatten())
            .or_else(|| status.successes.iter().find(|s| s.number == number));
        match success {
            Some(s) if !s.id.is_empty() => Ok(s.id.clone()),
            _ if !status.ok => Err(self.refused(number, status.message())),
            _ => Err(ConnectorError::new(
                ErrorKind::Retryable,
                format!(
                    "Kingdee answered {} `{number}` without its id or an error",
                    self.form()
                ),
            )),
        }
    }

    /// Runs `operation` on the records at `indexes` that are still standing; a refusal
    /// becomes that record's error (`{before}{operation} refused: …`) unless it says the
    /// step was done already.
    async fn step(
        &self,
        before: &str,
        operation: &str,
        indexes: &[usize],
        numbers: &[String],
        outcomes: &mut BTreeMap<usize, Outcome>,
        run: impl AsyncFnOnce(&[String]) -> Result<Status, ConnectorError>,
    ) -> Result<(), ConnectorError> {
        let standing: Vec<usize> = indexes
            .iter()
            .copied()
            .filter(|i| matches!(outcomes.get(i), Some(Ok(_))))
            .collect();
        if standing.is_empty() {
            return Ok(());
        }
        let sent: Vec<String> = standing.iter().map(|i| numbers[*i].clone()).collect();
        let status = run(&sent).await?;
        for (position, index) in standing.iter().enumerate() {
            let errors = status.errors_at(position, standing.len());
            let refused: Vec<String> = errors
                .iter()
                .filter(|e| !already_done(&e.message))
                .map(|e| e.describe())
                .collect();
            if !refused.is_empty() {
                let what = format!("{before}{operation} refused: {}", refused.join("; "));
                outcomes.insert(*index, Err(self.refused(&numbers[*index], what)));
            }
        }
        Ok(())
    }

    /// Audited records that are to change: refused, or taken back with `UnAudit`.
    async fn unaudit(
        &self,
        audited: Vec<usize>,
        numbers: &[String],
        outcomes: &mut BTreeMap<usize, Outcome>,
    ) -> Result<(), ConnectorError> {
        match self.spec.options.when_audited {
            WhenAudited::Refuse => {
                for i in audited {
                    let why = "it is audited (已审核); Ferry changes audited documents only when the target says `when_audited: unaudit`";
                    outcomes.insert(i, Err(self.refused(&numbers[i], why)));
                }
                Ok(())
            }
            WhenAudited::Unaudit => {
                for &i in &audited {
                    outcomes.insert(i, Ok(String::new()));
                }
                let api = &self.api;
                let form = self.form();
                self.step(
                    "",
                    "UnAudit",
                    &audited,
                    numbers,
                    outcomes,
                    async |n: &[String]| api.operate("UnAudit", form, n).await,
                )
                .await?;
                for i in audited {
                    if let Some(Err(e)) = outcomes.get(&i) {
                        let e = e.clone().context("before changing the audited document");
                        outcomes.insert(i, Err(e));
                    } else {
                        outcomes.remove(&i);
                    }
                }
                Ok(())
            }
        }
    }

    /// Submit/Audit, then push and allocate the new records.
    async fn after_save(
        &self,
        created: &[usize],
        numbers: &[String],
        outcomes: &mut BTreeMap<usize, Outcome>,
    ) -> Result<(), ConnectorError> {
        let saved: Vec<usize> = outcomes.keys().copied().collect();
        let (api, form) = (&self.api, self.form());
        for op in &self.spec.options.after_save {
            let name = op.service();
            self.step(
                "saved, but ",
                name,
                &saved,
                numbers,
                outcomes,
                async |n: &[String]| api.operate(name, form, n).await,
            )
            .await?;
        }
        for target in &self.spec.options.push_to {
            let what = format!("Push to {target}");
            self.step(
                "saved, but ",
                &what,
                created,
                numbers,
                outcomes,
                async |n: &[String]| api.push(form, n, target).await,
            )
            .await?;
        }
        let orgs = &self.spec.options.allocate_to;
        if !orgs.is_empty() {
            let ids: HashMap<String, String> = created
                .iter()
                .filter_map(|i| match outcomes.get(i) {
                    Some(Ok(id)) => Some((numbers[*i].clone(), id.clone())),
                    _ => None,
                })
                .collect();
            self.step(
                "saved, but ",
                "Allocate",
                created,
                numbers,
                outcomes,
                async |n: &[String]| {
                    let pk: Vec<String> = n.iter().filter_map(|n| ids.get(n).cloned()).collect();
                    api.allocate(form, &pk, orgs).await
                },
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for KingdeeSink {
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        let numbers: Vec<String> = batch.iter().map(|o| o.key.clone()).collect();
        let existing = self.existing(&numbers).await?;
        let mut outcomes: BTreeMap<usize, Outcome> = BTreeMap::new();
        let audited: Vec<usize> = (0..batch.len())
            .filter(|i| existing.get(&numbers[*i]).is_some_and(|e| e.status == "C"))
            .collect();
        let same = self.unchanged(batch, &audited, &existing).await?;
        for &i in &same {
            // Sent again (a retry, a replay): nothing to change, nothing to un-audit.
            outcomes.insert(i, Ok(existing[&numbers[i]].id.clone()));
        }
        let audited = audited.into_iter().filter(|i| !same.contains(i)).collect();
        self.unaudit(audited, &numbers, &mut outcomes).await?;
        let mut models = Vec::new();
        let mut created = Vec::new();
        for (i, out) in batch.iter().enumerate() {
            if outcomes.contains_key(&i) {
                continue;
            }
            let found = existing.get(&out.key);
            match self.model(out, found) {
                Ok(model) => {
                    if found.is_none() {
                        created.push(i);
                    }
                    models.push((i, model));
                }
                Err(e) => {
                    outcomes.insert(i, Err(e));
                }
            }
        }
        let mut saved = self.save(models, &numbers).await?;
        self.retry_taken_numbers(batch, &numbers, &mut saved, &mut created)
            .await?;
        outcomes.extend(saved);
        let mut standing: BTreeMap<usize, Outcome> = outcomes
            .iter()
            .filter(|(_, o)| o.is_ok())
            .map(|(i, o)| (*i, o.clone()))
            .collect();
        self.after_save(&created, &numbers, &mut standing).await?;
        outcomes.extend(standing);
        Ok((0..batch.len())
            .map(|i| match outcomes.remove(&i) {
                Some(Ok(id)) => Ok(Written { target_id: id }),
                Some(Err(e)) => Err(e),
                None => Err(ConnectorError::fatal(
                    "a record was lost on its way through the sink",
                )),
            })
            .collect())
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
        let numbers: Vec<String> = batch.iter().map(|r| r.key.clone()).collect();
        let existing = self.existing(&numbers).await?;
        let mut outcomes: BTreeMap<usize, Outcome> = BTreeMap::new();
        let present: Vec<usize> = (0..batch.len())
            .filter(|i| existing.contains_key(&numbers[*i]))
            .collect();
        let audited: Vec<usize> = present
            .iter()
            .copied()
            .filter(|i| existing[&numbers[*i]].status == "C")
            .collect();
        self.unaudit(audited, &numbers, &mut outcomes).await?;
        for &i in &present {
            outcomes.entry(i).or_insert(Ok(String::new()));
        }
        let (api, form) = (&self.api, self.form());
        self.step(
            "",
            "Delete",
            &present,
            &numbers,
            &mut outcomes,
            async |n: &[String]| api.operate("Delete", form, n).await,
        )
        .await?;
        Ok((0..batch.len())
            .map(|i| match outcomes.remove(&i) {
                Some(Err(e)) => Err(e),
                _ => Ok(()), // deleted, or already gone
            })
            .collect())
    }

    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        let after: i64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let plan = self.read_back();
        let mut keys = vec![self.spec.id.clone(), self.spec.number.clone()];
        keys.extend(plan.iter().filter_map(|(_, key)| key.clone()));
        let query = Query {
            form: self.form(),
            keys: &keys,
            filter: format!("{} > {after}", self.spec.id),
            order: format!("{} ASC", self.spec.id),
            start: 0,
            limit: limit.max(1) + 1,
        };
        let rows = self.api.query(&query).await?;
        let more = rows.len() > limit.max(1);
        let mut records: Vec<TargetRecord> = Vec::new();
        for row in rows.into_iter().take(limit.max(1)) {
            let Some(id) = id_text(&row[0]) else { continue };
            if records.last().is_some_and(|r| r.target_id == id) {
                continue;
            }
            let key = key_text(&row[1]);
            let mut values = row.into_iter().skip(2);
            let fields = plan
                .iter()
                .map(|(canonical, key_field)| {
                    let value = match key_field {
                        None => key.clone().map_or(Value::Null, Value::String),
                        Some(_) => values.next().unwrap_or(Value::Null),
                    };
                    (canonical.clone(), value)
                })
                .collect();
            records.push(TargetRecord {
                target_id: id,
                key,
                fields,
            });
        }
        let cursor = records
            .last()
            .map_or(after.to_string(), |r| r.target_id.clone());
        Ok(TargetPage {
            records,
            cursor,
            more,
            fields: plan.into_iter().map(|(c, _)| c).collect(),
        })
    }
}

impl KingdeeSink {
    /// The audited records at `audited` that hold what they would be written as already
    /// (one query for the batch; see [`crate::unchanged`]).
    async fn unchanged(
        &self,
        batch: &[Outgoing],
        audited: &[usize],
        existing: &HashMap<String, Existing>,
    ) -> Result<HashSet<usize>, ConnectorError> {
        let wanted = audited
            .iter()
            .filter_map(|&i| {
                let found = &existing[&batch[i].key];
                let model = self.model(&batch[i], Some(found)).ok()?;
                Some(Wanted {
                    index: i,
                    id: &found.id,
                    model,
                })
            })
            .collect();
        let form = unchanged::Form {
            api: &self.api,
            form: self.form(),
            id_key: &self.spec.id,
            options: &self.spec.options,
        };
        unchanged::unchanged(&form, wanted).await
    }

    /// Creates refused because their number was taken meanwhile: sent again as updates.
    async fn retry_taken_numbers(
        &self,
        batch: &[Outgoing],
        numbers: &[String],
        saved: &mut BTreeMap<usize, Outcome>,
        created: &mut Vec<usize>,
    ) -> Result<(), ConnectorError> {
        let taken: Vec<usize> = created
            .iter()
            .copied()
            .filter(|i| matches!(saved.get(i), Some(Err(e)) if number_taken(e.message())))
            .collect();
        if taken.is_empty() {
            return Ok(());
        }
        let sent: Vec<String> = taken.iter().map(|i| numbers[*i].clone()).collect();
        let existing = self.existing(&sent).await?;
        let mut models = Vec::new();
        for i in taken {
            if let Some(found) = existing.get(&numbers[i]) {
                match self.model(&batch[i], Some(found)) {
                    Ok(model) => models.push((i, model)),
                    Err(e) => {
                        saved.insert(i, Err(e));
                    }
                }
                created.retain(|c| *c != i);
            }
        }
        saved.extend(self.save(models, numbers).await?);
        Ok(())
    }

    /// The canonical fields a scan reads back and the field key each comes from (`None`:
    /// the number itself); references read as their number.
    fn read_back(&self) -> Vec<(String, Option<String>)> {
        let opts = &self.spec.options;
        self.ctx
            .fields
            .iter()
            .filter(|c| {
                opts.lines
                    .as_ref()
                    .is_none_or(|l| l.from.as_deref().unwrap_or("lines") != c.as_str())
            })
            .filter_map(|canonical| {
                if canonical == &self.ctx.key_field {
                    return Some((canonical.clone(), None));
                }
                let key = renamed(&opts.fields, canonical)?;
                let read = if opts.refs.iter().any(|r| r == key) {
                    format!("{key}.FNumber")
                } else {
                    key.to_owned()
                };
                Some((canonical.clone(), Some(read)))
            })
            .collect()
    }
}

/// `value` as written to `key`: a reference by number becomes `{"FNumber": …}`.
fn reference(refs: &[String], key: &str, value: &Value) -> Value {
    if !refs.iter().any(|r| r == key) {
        return value.clone();
    }
    match key_text(value) {
        Some(number) => json!({"FNumber": number}),
        None => Value::Null,
    }
}

/// One line as an entry row.
fn entry_line(lines: &crate::config::LinesTarget, item: &Value) -> Result<Value, String> {
    let Value::Object(fields) = item else {
        return Err(format!("a line is not an object: {item}"));
    };
    let mut row = Map::new();
    for (canonical, value) in fields {
        let Some(key) = renamed(&lines.fields, canonical) else {
            continue;
        };
        let value = if lines.percent.iter().any(|p| p == key) {
            percent(value).ok_or_else(|| format!("`{canonical}` is not a rate: {value}"))?
        } else {
            reference(&lines.refs, key, value)
        };
        row.insert(key.to_owned(), value);
    }
    Ok(Value::Object(row))
}

/// A fraction as Kingdee's percent (`"0.13"` → 13); empty stays empty.
fn percent(value: &Value) -> Option<Value> {
    if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Some(Value::Null);
    }
    let times_100 = decimal(value)? * Decimal::ONE_HUNDRED;
    serde_json::from_str(&times_100.normalize().to_string()).ok()
}

/// Kingdee's answer to a step already done (re-audit, re-submit, pushed already).
fn already_done(message: &str) -> bool {
    ["已经审核", "重复提交", "已全部下推", "已经分配"]
        .iter()
        .any(|m| message.contains(m))
}

/// Kingdee's refusal of a number in use (`违反字段唯一性要求：编码唯一。[X]在当前系统中已经被使用。`).
fn number_taken(message: &str) -> bool {
    message.contains("已经被使用") || message.contains("唯一性")
}
