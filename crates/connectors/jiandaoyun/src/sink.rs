//! Writing a form by a key widget.
//!
//! Jiandaoyun has no upsert. Per batch the sink finds the records holding the batch's keys
//! (one `in` filter on the key widget), updates those by `_id` (one call each, a few at
//! once: the API updates one record per call), and creates the others with one
//! `batch_create` of up to 100. A batch create is all or nothing: when Jiandaoyun refuses
//! it for the data, each record is created alone, so each refusal is its own record's dead
//! letter with the platform's message and the rest are written (the kit's
//! `batch_then_each`). Every write carries a `transaction_id` made from what it sends, so a
//! write repeated after a timeout or a restart is not made twice.
//!
//! Values are sent as the API wants them, each wrapped as `{"value": …}`: text, numbers,
//! RFC 3339 times, member user names, department numbers; lines as a sub-form's rows.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::sink::{Refusals, batch_then_each, each, key_text, renamed};
use ferry_kit::{
    Outgoing, Removal, Sink, SinkCapabilities, SinkContext, TargetPage, TargetRecord, Written,
};
use ferry_model::ConnectorError;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::api::{Api, Flags, Form, MAX_PAGE};
use crate::config::TargetOptions;
use crate::values::Widgets;

/// Values an `in` filter takes at most.
const MAX_IN: usize = 200;

/// A record the form holds: its `_id` and its `updateTime` (the version an update
/// changes, so that the update's transaction id is new whenever the record has moved on).
#[derive(Debug, Clone)]
struct Held {
    id: String,
    version: String,
}

/// A form written by one flow.
pub struct JdySink {
    api: Api,
    form: Form,
    options: TargetOptions,
    ctx: SinkContext,
    concurrency: usize,
    /// The form's widget types, read on the first write.
    widgets: OnceCell<Widgets>,
}

impl JdySink {
    pub fn new(api: Api, options: TargetOptions, ctx: &SinkContext, concurrency: usize) -> Self {
        Self {
            api,
            form: Form {
                app: options.app.clone(),
                entry: options.form.clone(),
            },
            options,
            ctx: ctx.clone(),
            concurrency,
            widgets: OnceCell::new(),
        }
    }

    async fn widgets(&self) -> Result<&Widgets, ConnectorError> {
        self.widgets
            .get_or_try_init(|| async {
                Ok::<_, ConnectorError>(Widgets::from_list(&self.api.widgets(&self.form).await?))
            })
            .await
    }

    fn flags(&self) -> Flags {
        Flags {
            workflow: self.options.start_workflow,
            trigger: self.options.start_trigger,
        }
    }

    /// The records holding `keys`: key → (`_id`, `updateTime`). Pages by `_id`, so a record
    /// without the key (or with an empty one) still moves the page on.
    async fn existing(&self, keys: &[String]) -> Result<HashMap<String, Held>, ConnectorError> {
        let mut found = HashMap::new();
        let fields = vec![self.options.key.clone(), "updateTime".to_owned()];
        for chunk in keys.chunks(MAX_IN) {
            let filter = json!({"rel": "and", "cond": [
                {"field": self.options.key, "method": "in", "value": chunk}]});
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .api
                    .list(
                        &self.form,
                        after.as_deref(),
                        MAX_PAGE,
                        &fields,
                        Some(&filter),
                    )
                    .await?;
                for record in &page {
                    let Some(id) = record.get("_id").and_then(Value::as_str) else {
                        continue;
                    };
                    after = Some(id.to_owned());
                    if let Some(key) = record.get(&self.options.key).and_then(key_text) {
                        let version = record.get("updateTime").and_then(Value::as_str);
                        found.entry(key).or_insert_with(|| Held {
                            id: id.to_owned(),
                            version: version.unwrap_or_default().to_owned(),
                        });
                    }
                }
                if page.len() < MAX_PAGE {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// The widgets of one record, each in its widget's shape and wrapped as `{"value": …}`.
    /// The key widget is sent on create only: an update finds the record by it already, and
    /// a key held by a serial number widget (流水号) is the platform's to set.
    fn data(&self, widgets: &Widgets, out: &Outgoing, create: bool) -> Value {
        let lines_from = self
            .options
            .lines
            .as_ref()
            .map(|l| l.from.as_deref().unwrap_or("lines"));
        let mut data = Map::new();
        for (canonical, value) in &out.fields {
            if Some(canonical.as_str()) == lines_from || canonical == &self.ctx.key_field {
                continue;
            }
            if let Some(widget) = renamed(&self.options.fields, canonical) {
                data.insert(
                    widget.to_owned(),
                    json!({"value": widgets.shape(widget, value)}),
                );
            }
        }
        if create {
            let key = widgets.shape(&self.options.key, &json!(out.key));
            data.insert(self.options.key.clone(), json!({"value": key}));
        }
        if let (Some(lines), Some(from)) = (&self.options.lines, lines_from)
            && let Some(Value::Array(items)) = out.fields.get(from)
        {
            let rows: Vec<Value> = items
                .iter()
                .filter_map(Value::as_object)
                .map(|item| {
                    let row: Map<String, Value> = item
                        .iter()
                        .filter_map(|(canonical, value)| {
                            let widget = renamed(&lines.fields, canonical)?;
                            let value = widgets.shape(widget, value);
                            Some((widget.to_owned(), json!({"value": value})))
                        })
                        .collect();
                    Value::Object(row)
                })
                .collect();
            data.insert(lines.to.clone(), json!({"value": rows}));
        }
        Value::Object(data)
    }

    /// The refusal of a record no key finds when the flow only updates (`create: false`).
    fn not_held(&self, out: &Outgoing) -> ConnectorError {
        ConnectorError::invalid(format!(
            "no record of form `{}` holds `{}` in `{}`, and this target only updates \
             records it finds (`create: false`); replay it once the record exists",
            self.form.entry, out.key, self.options.key
        ))
    }

    /// Creates the records at `indexes` of `batch` (one batch call, or one by one if it is
    /// refused for the data).
    async fn create(
        &self,
        batch: &[Outgoing],
        indexes: &[usize],
    ) -> Result<Vec<Result<String, ConnectorError>>, ConnectorError> {
        let widgets = self.widgets().await?;
        let mut out = Vec::new();
        for chunk in indexes.chunks(MAX_PAGE) {
            let data: Arc<Vec<Value>> = Arc::new(
                chunk
                    .iter()
                    .map(|i| self.data(widgets, &batch[*i], true))
                    .collect(),
            );
            let flags = self.flags();
            let results = batch_then_each(
                chunk.len(),
                Refusals::Validation,
                |i| batch[chunk[i]].key.clone(),
                || self.api.batch_create(&self.form, data.to_vec(), &flags),
                |i| {
                    let one = data[i].clone();
                    async move { self.api.create(&self.form, one, &flags).await }
                },
            )
            .await?;
            out.extend(results);
        }
        Ok(out)
    }
}

#[async_trait]
impl Sink for JdySink {
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        let keys: Vec<String> = batch.iter().map(|o| o.key.clone()).collect();
        let existing = self.existing(&keys).await?;
        let (updates, creates): (Vec<usize>, Vec<usize>) =
            (0..batch.len()).partition(|i| existing.contains_key(&keys[*i]));
        let flags = self.flags();
        let widgets = if updates.is_empty() {
            None
        } else {
            Some(self.widgets().await?)
        };
        let updated = each(updates.len(), self.concurrency, |n| {
            let i = updates[n];
            let held = existing[&keys[i]].clone();
            let data = self.data(
                widgets.expect("read when there are updates"),
                &batch[i],
                false,
            );
            async move {
                self.api
                    .update(&self.form, &held.id, &held.version, data, &flags)
                    .await
                    .map(|()| held.id)
                    .map_err(|e| e.context(format!("key `{}`", batch[i].key)))
            }
        })
        .await?;
        let created = if self.options.create {
            self.create(batch, &creates).await?
        } else {
            creates
                .iter()
                .map(|i| Err(self.not_held(&batch[*i])))
                .collect()
        };
        let mut results: Vec<Option<Result<Written, ConnectorError>>> =
            (0..batch.len()).map(|_| None).collect();
        for (i, r) in updates
            .iter()
            .zip(updated)
            .chain(creates.iter().zip(created))
        {
            results[*i] = Some(r.map(|target_id| Written { target_id }));
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(ConnectorError::fatal("a record was lost in the sink")))
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
        let missing: Vec<String> = batch
            .iter()
            .filter(|r| r.target_id.is_none())
            .map(|r| r.key.clone())
            .collect();
        let found = self.existing(&missing).await?;
        each(batch.len(), self.concurrency, |i| {
            let removal = &batch[i];
            let id = removal
                .target_id
                .clone()
                .or_else(|| found.get(&removal.key).map(|h| h.id.clone()));
            async move {
                match id {
                    None => Ok(()), // no record holds the key: gone already
                    Some(id) => self.api.delete(&self.form, &id).await.map(|_| ()),
                }
            }
        })
        .await
    }

    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        let plan: Vec<(String, Option<String>)> = self
            .ctx
            .fields
            .iter()
            .map(|c| {
                let widget = (c != &self.ctx.key_field)
                    .then(|| renamed(&self.options.fields, c).map(str::to_owned))
                    .flatten();
                (c.clone(), widget)
            })
            .collect();
        let mut fields: Vec<String> = vec![self.options.key.clone()];
        fields.extend(plan.iter().filter_map(|(_, w)| w.clone()));
        let limit = limit.clamp(1, MAX_PAGE);
        let page = self
            .api
            .list(
                &self.form,
                cursor.filter(|c| !c.is_empty()),
                limit,
                &fields,
                None,
            )
            .await?;
        let more = page.len() == limit;
        let records: Vec<TargetRecord> = page
            .iter()
            .filter_map(|r| {
                let id = r.get("_id")?.as_str()?.to_owned();
                let key = r.get(&self.options.key).and_then(key_text);
                let fields = plan
                    .iter()
                    .map(|(canonical, widget)| {
                        let value = match widget {
                            None => key.clone().map_or(Value::Null, Value::String),
                            Some(w) => r.get(w).cloned().unwrap_or(Value::Null),
                        };
                        (canonical.clone(), value)
                    })
                    .collect();
                Some(TargetRecord {
                    target_id: id,
                    key,
                    fields,
                })
            })
            .collect();
        let cursor = records
            .last()
            .map_or(String::new(), |r| r.target_id.clone());
        Ok(TargetPage {
            records,
            cursor,
            more,
            fields: plan.into_iter().map(|(c, _)| c).collect(),
        })
    }
}
