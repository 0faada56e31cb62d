//! Writing a record type by external id with the REST record API.
//!
//! The record API has no batch endpoint, so each record is one `PUT
//! record/v1/<record>/eid:<key>` (create or update: NetSuite's upsert), a few at once within
//! the account's concurrency limit; a `CONCURRENCY_LIMIT_EXCEEDED` refusal is backed off and
//! retried by the kit's client. Fields are renamed by `fields`, completed by `defaults`;
//! reference fields named in `refs` hold business keys, looked up by SuiteQL once per batch
//! and sent as `{"id": …}`; lines go in the `item` sublist (replaced, not merged, so an
//! order written twice keeps its lines once). A 400 is that record's refusal, in NetSuite's
//! words (`Please enter value(s) for: Company Name (USER_ERROR at `companyName`)`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::sink::{each, key_text, renamed};
use ferry_kit::{Outgoing, Removal, Sink, SinkCapabilities, SinkContext, Written};
use ferry_model::ConnectorError;
use serde_json::{Map, Value, json};

use crate::api::{self, Api};
use crate::config::{Lookup, TargetSpec};

/// Line fields NetSuite takes as numbers; Ferry carries decimals as text.
const NUMERIC: &[&str] = &["quantity", "rate", "amount", "price"];

/// A record type written by one flow.
pub struct NetSuiteSink {
    api: Api,
    spec: Arc<TargetSpec>,
    concurrency: usize,
}

/// Business key → internal id, per look-up.
type Resolved = HashMap<Lookup, HashMap<String, String>>;

impl NetSuiteSink {
    pub fn new(api: Api, spec: TargetSpec, _ctx: &SinkContext, concurrency: usize) -> Self {
        Self {
            api,
            spec: Arc::new(spec),
            concurrency,
        }
    }

    /// The business keys each look-up needs for this batch.
    fn wanted(&self, batch: &[Outgoing]) -> HashMap<Lookup, BTreeSet<String>> {
        let mut out: HashMap<Lookup, BTreeSet<String>> = HashMap::new();
        for o in batch {
            let body = self.renamed(&o.fields);
            for (field, lookup) in &self.spec.refs {
                if let Some(k) = body.get(field).and_then(key_text) {
                    out.entry(lookup.clone()).or_default().insert(k);
                }
            }
            let Some(lines) = &self.spec.lines else {
                continue;
            };
            for line in o
                .fields
                .get(&lines.from)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(line) = line.as_object() else {
                    continue;
                };
                let line = rename(&lines.fields, line);
                for (field, lookup) in &lines.refs {
                    if let Some(k) = line.get(field).and_then(key_text) {
                        out.entry(lookup.clone()).or_default().insert(k);
                    }
                }
            }
        }
        out
    }

    /// Looks up every business key the batch names, one query per look-up and chunk.
    async fn resolve(&self, batch: &[Outgoing]) -> Result<Resolved, ConnectorError> {
        let mut out = Resolved::new();
        for (lookup, keys) in self.wanted(batch) {
            let keys: Vec<String> = keys.into_iter().collect();
            let rows = api::lookup(&self.api, &lookup.table, &lookup.column, &keys, &[]).await?;
            let ids = rows
                .into_iter()
                .filter_map(|(k, row)| Some((k, row.get("id")?.as_str()?.to_owned())))
                .collect();
            out.insert(lookup, ids);
        }
        Ok(out)
    }

    fn renamed(&self, fields: &Map<String, Value>) -> Map<String, Value> {
        let lines_from = self.spec.lines.as_ref().map(|l| l.from.as_str());
        let mut body = Map::new();
        for (k, v) in fields {
            if Some(k.as_str()) == lines_from || Some(k) == self.spec.from_order.as_ref() {
                continue;
            }
            if let Some(name) = renamed(&self.spec.fields, k) {
                body.insert(name.to_owned(), v.clone());
            }
        }
        body
    }

    /// The external id of the order record `o` is made from, with `from_order`.
    fn order_of(&self, o: &Outgoing) -> Option<Result<String, ConnectorError>> {
        let field = self.spec.from_order.as_ref()?;
        Some(o.fields.get(field).and_then(key_text).ok_or_else(|| {
            ConnectorError::invalid(format!(
                "`{field}` is empty: it must hold the external id of the sales order the {} is made from",
                self.spec.record
            ))
        }))
    }

    /// The body of record `o`: renamed fields, defaults, references as ids, the sublist.
    fn body(&self, o: &Outgoing, resolved: &Resolved) -> Result<Value, ConnectorError> {
        let mut body = self.renamed(&o.fields);
        // The URL carries the external id.
        body.remove("externalId");
        for (k, v) in &self.spec.defaults {
            if body.get(k).is_none_or(Value::is_null) {
                body.insert(k.clone(), v.clone());
            }
        }
        references(&mut body, &self.spec.refs, resolved, "")?;
        if let Some(lines) = &self.spec.lines {
            let given = o.fields.get(&lines.from).and_then(Value::as_array);
            let mut items = Vec::new();
            for (i, line) in given.into_iter().flatten().enumerate() {
                let Some(line) = line.as_object() else {
                    return Err(ConnectorError::invalid(format!(
                        "`{}[{i}]` is not an object",
                        lines.from
                    )));
                };
                let mut line = rename(&lines.fields, line);
                for field in NUMERIC {
                    if let Some(n) = line.get(*field).and_then(number) {
                        line.insert((*field).to_owned(), n);
                    }
                }
                references(
                    &mut line,
                    &lines.refs,
                    resolved,
                    &format!("{}[{i}].", lines.from),
                )?;
                items.push(Value::Object(line));
            }
            if given.is_some() {
                body.insert(lines.sublist.clone(), json!({ "items": items }));
            }
        }
        Ok(Value::Object(body))
    }
}

/// One record to write: its key, its body, and the order it is made from (`from_order`).
struct Job {
    key: String,
    body: Result<Value, ConnectorError>,
    order: Option<Result<String, ConnectorError>>,
}

/// Writes a record made from sales order `order`: updated when its external id is found,
/// else the order transformed, the external id set in the same request (so a retry finds
/// it rather than making a second one).
async fn made_from(
    api: &Api,
    record: &str,
    key: &str,
    order: &str,
    mut body: Value,
) -> Result<String, ConnectorError> {
    if let Some(id) = api.find(record, key).await? {
        return api.patch(record, &id, &body).await;
    }
    body["externalId"] = json!(key);
    api.transform(order, record, &body).await
}

/// A decimal in text as a JSON number.
fn number(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| json!(f)),
        _ => None,
    }
}

fn rename(renames: &ferry_kit::sink::Renames, fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|(k, v)| Some((renamed(renames, k)?.to_owned(), v.clone())))
        .collect()
}

/// Replaces each reference field's business key with `{"id": …}`; a key NetSuite does not
/// hold refuses the record, naming the field (`at` is the line's place, for line fields).
fn references(
    body: &mut Map<String, Value>,
    refs: &[(String, Lookup)],
    resolved: &Resolved,
    at: &str,
) -> Result<(), ConnectorError> {
    for (field, lookup) in refs {
        let Some(value) = body.get(field) else {
            continue;
        };
        if value.is_null() {
            body.remove(field);
            continue;
        }
        let Some(key) = key_text(value) else {
            return Err(ConnectorError::invalid(format!(
                "`{at}{field}`: {value} is not a business key to look up in {}.{}",
                lookup.table, lookup.column
            )));
        };
        let id = resolved.get(lookup).and_then(|ids| ids.get(&key));
        let Some(id) = id else {
            return Err(ConnectorError::invalid(format!(
                "`{at}{field}`: NetSuite has no {} whose {} is `{key}`",
                lookup.table, lookup.column
            )));
        };
        body.insert(field.clone(), json!({ "id": id }));
    }
    Ok(())
}

#[async_trait]
impl Sink for NetSuiteSink {
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        let resolved = self.resolve(batch).await?;
        let jobs: Arc<Vec<Job>> = Arc::new(
            batch
                .iter()
                .map(|o| Job {
                    key: o.key.clone(),
                    body: self.body(o, &resolved),
                    order: self.order_of(o),
                })
                .collect(),
        );
        let replace = self.spec.lines.as_ref().map(|l| l.sublist.clone());
        each(batch.len(), self.concurrency, |i| {
            let (api, spec, jobs, replace) = (
                self.api.clone(),
                self.spec.clone(),
                jobs.clone(),
                replace.clone(),
            );
            async move {
                let job = &jobs[i];
                let context = |e: ConnectorError| e.context(format!("key `{}`", job.key));
                let body = job.body.clone().map_err(context)?;
                if job.key.trim().is_empty() {
                    return Err(context(ConnectorError::invalid(
                        "an empty key cannot be an external id",
                    )));
                }
                let id = match &job.order {
                    None => {
                        api.upsert(&spec.record, &job.key, &body, replace.as_deref())
                            .await
                    }
                    Some(order) => {
                        let order = order.clone().map_err(context)?;
                        made_from(&api, &spec.record, &job.key, &order, body).await
                    }
                };
                Ok(Written {
                    target_id: id.map_err(context)?,
                })
            }
        })
        .await
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities {
            delete: true,
            ..SinkCapabilities::default()
        }
    }

    /// `DELETE` by internal id when known, else by external id; one already gone counts.
    async fn delete(
        &self,
        batch: &[Removal],
    ) -> Result<Vec<Result<(), ConnectorError>>, ConnectorError> {
        let batch: Arc<Vec<Removal>> = Arc::new(batch.to_vec());
        each(batch.len(), self.concurrency, |i| {
            let (api, spec, batch) = (self.api.clone(), self.spec.clone(), batch.clone());
            async move {
                let r = &batch[i];
                api.delete(&spec.record, r.target_id.as_deref(), &r.key)
                    .await
                    .map_err(|e| e.context(format!("key `{}`", r.key)))
            }
        })
        .await
    }
}
