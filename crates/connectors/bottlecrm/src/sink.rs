//! Writing BottleCRM records: upsert by business key, one record at a time (the API has no
//! batch write), a few records in flight at once.
//!
//! For each record:
//! 1. The payload: canonical fields renamed to API fields (`fields`, `line_fields`; dotted
//!    paths write into nested objects such as `custom_fields`), the business key written to
//!    the key field, and reference fields (`refs`) resolved from the other object's business
//!    key to its BottleCRM id (looked up once per batch).
//! 2. The target: the id a previous write returned (`target_id`), else the record found by
//!    its key (`?cf_erp_id=…`, or a list search checked exactly), else a new record. An id
//!    that no longer exists falls back to the lookup.
//! 3. Create (`POST`) or update (`PATCH` for accounts, contacts and deals, the partial `PUT`
//!    of invoices and products).
//! 4. What BottleCRM does not take in the record itself:
//!    - a deal's `line_items` go through `/opportunities/<id>/line-items/`: when they differ
//!      from the deal's lines (same order; product, quantity, price…), the old lines are
//!      deleted and the new ones created;
//!    - an invoice's `line_items` are sent with the invoice only when they differ from its
//!      lines (BottleCRM refuses any `line_items` on an issued invoice);
//!    - an invoice's `amount_paid` and `status` are lifecycle fields BottleCRM sets itself:
//!      a higher `amount_paid` records a payment of the difference (`mark-paid`, method
//!      `OTHER`, reference = the business key); `status: Paid` settles the balance,
//!      `Cancelled` cancels, `Sent` sends a draft (BottleCRM then queues its e-mail to the
//!      client). Other statuses (`Draft`, `Partially_Paid`, `Overdue`, `Viewed`) follow from
//!      payments and dates and are not sent. A lower `amount_paid` than recorded is refused
//!      (Ferry does not delete payments);
//!    - a payment is recorded on the invoice named by its `invoice` field (usually a
//!      reference: `refs: {invoice: invoices}`), unless a payment with its
//!      `reference_number` is there already; a recorded payment cannot be changed.
//!
//! Refusals of one record (HTTP 400 field errors, 409) become that record's Validation (or
//! Conflict) error naming the record and the field with BottleCRM's own message; the other
//! records of the batch are written. Refused credentials fail the whole batch, and so does a
//! batch in which every record failed for a transient reason (the server is down).

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_model::{ConnectorError, ErrorKind};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::api::{Api, Fields, Refusal, created_id, is_id};
use crate::config::{RefSpec, SourceSpec, TargetSpec};
use crate::objects::{Object, Update};
use crate::source::BottleSource;
use ferry_kit::http::Call;
use ferry_kit::sink::{decimal, each, key_text, same_value};
use ferry_kit::{
    Outgoing, Removal, Sink, SinkCapabilities, Source, TargetPage, TargetRecord, Written,
};

/// Writes one object.
pub struct BottleSink {
    pub api: Api,
    pub spec: TargetSpec,
    /// The flow's canonical key field: written to the key field, not under its own name.
    pub key_field: String,
    /// The canonical fields the flow's mapping makes: what a scan reads back.
    pub fields: Vec<String>,
    pub concurrency: usize,
}

/// Reference lookups of one batch: `(object, key value)` → id.
type RefCache = Mutex<HashMap<(&'static str, String), Result<String, ConnectorError>>>;

/// One record being written.
struct Job<'a> {
    out: &'a Outgoing,
    /// `crm: account `C-42``, the prefix of every message about this record.
    label: String,
}

/// The record's payload split into what goes in the record's own request and what needs
/// requests of its own.
struct Payload {
    body: Fields,
    lines: Option<Vec<Fields>>,
    amount_paid: Option<Decimal>,
    status: Option<String>,
    invoice: Option<String>,
}

#[async_trait]
impl Sink for BottleSink {
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        self.write_batch(batch, Mode::Upsert).await
    }

    fn capabilities(&self) -> SinkCapabilities {
        let object = self.spec.spec.object;
        SinkCapabilities {
            delete: object != Object::Payments,
            update: object != Object::Payments && self.spec.spec.update != Update::None,
            scan: !self.spec.spec.segments.is_empty(),
            ..SinkCapabilities::default()
        }
    }

    async fn delete(
        &self,
        batch: &[Removal],
    ) -> Result<Vec<Result<(), ConnectorError>>, ConnectorError> {
        each(batch.len(), self.concurrency, |i| self.remove(&batch[i])).await
    }

    async fn update(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        self.write_batch(batch, Mode::UpdateOnly).await
    }

    /// The object's records in canonical field names, read by snapshot pass like a source
    /// (both halves of the account list), one page at a time. Only fields the sink writes
    /// as plain values are read back: the key, renamed fields and custom fields; not lines
    /// nor references (`refs`, which hold BottleCRM ids).
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        let source = BottleSource {
            api: self.api.clone(),
            spec: SourceSpec {
                spec: self.spec.spec,
                filter: self.spec.scan_filter.clone(),
            },
            concurrency: self.concurrency,
        };
        let page = source.read(cursor, limit).await?;
        let plan = self.read_back();
        let records = page
            .records
            .into_iter()
            .filter(|r| !r.deleted)
            .map(|r| {
                let key = match &self.spec.id_field {
                    Some(_) => Some(r.id.clone()),
                    None => key_text(&value_at(&r.fields, &self.spec.key.path())),
                };
                let fields = plan
                    .iter()
                    .map(|(canonical, path)| {
                        let value = match path {
                            None => key.clone().map_or(Value::Null, Value::String),
                            Some(path) => value_at(&r.fields, path),
                        };
                        (canonical.clone(), value)
                    })
                    .collect();
                TargetRecord {
                    target_id: r.id,
                    key,
                    fields,
                }
            })
            .collect();
        Ok(TargetPage {
            records,
            cursor: page.cursor,
            more: page.more,
            fields: plan.into_iter().map(|(c, _)| c).collect(),
        })
    }
}

/// The value at a dotted path of a record (`custom_fields.erp_id`), `null` when absent.
fn value_at(record: &Fields, path: &str) -> Value {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let mut at = record.get(first);
    for part in parts {
        at = at.and_then(|v| v.get(part));
    }
    at.cloned().unwrap_or(Value::Null)
}

/// Whether a write may create the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Update the record found, else create it.
    Upsert,
    /// Update the record found; a record not found is left alone (an archive).
    UpdateOnly,
}

impl BottleSink {
    /// Writes the batch record by record, a few at once, with one reference cache.
    async fn write_batch(
        &self,
        batch: &[Outgoing],
        mode: Mode,
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        let refs = RefCache::default();
        let refs = &refs;
        // Indices rather than `&Outgoing` in the closure: a closure over borrowed items is
        // not general enough for the `Send` future async_trait needs.
        each(batch.len(), self.concurrency, |i| async move {
            let job = self.job(&batch[i]);
            self.write(&job, refs, mode).await
        })
        .await
    }

    fn job<'a>(&self, out: &'a Outgoing) -> Job<'a> {
        Job {
            label: format!(
                "{}: {} `{}`",
                self.api.http.system(),
                self.spec.spec.singular,
                out.key
            ),
            out,
        }
    }

    /// Each compared canonical field and the API path it is read from (`None`: the key).
    fn read_back(&self) -> Vec<(String, Option<String>)> {
        let spec = &self.spec;
        self.fields
            .iter()
            .filter_map(|c| {
                let is_key = (*c == self.key_field && !spec.fields.contains_key(c))
                    || spec.id_field.as_ref() == Some(c);
                if is_key {
                    return Some((c.clone(), None));
                }
                let api = spec.api_field(c)?;
                (api != "line_items" && !spec.refs.contains_key(api))
                    .then(|| (c.clone(), Some(api.to_owned())))
            })
            .collect()
    }

    /// Deletes one record: by its target id (one BottleCRM no longer has counts as
    /// deleted), else the record holding its key.
    async fn remove(&self, removal: &Removal) -> Result<(), ConnectorError> {
        let out = Outgoing {
            key: removal.key.clone(),
            target_id: removal.target_id.clone(),
            fields: Map::new(),
        };
        let job = self.job(&out);
        let id = match removal.target_id.as_deref().filter(|id| is_id(id)) {
            Some(id) => id.to_owned(),
            None => match self.find(&job).await? {
                Some((id, _)) => id,
                None => return Ok(()),
            },
        };
        let call =
            Call::delete(self.spec.spec.item_path(&id)).accept(reqwest::StatusCode::NOT_FOUND);
        match self
            .api
            .write(call)
            .await
            .map_err(|e| e.context(format!("{}: deleting {id}", job.label)))?
        {
            Ok(_) => Ok(()),
            Err(refusal) if refusal.status == reqwest::StatusCode::NOT_FOUND => Ok(()),
            Err(refusal) => Err(self.refused(&job, &refusal)),
        }
    }

    async fn write(
        &self,
        job: &Job<'_>,
        refs: &RefCache,
        mode: Mode,
    ) -> Result<Written, ConnectorError> {
        let mut payload = self.payload(job)?;
        self.resolve_refs(job, &mut payload, refs).await?;
        if self.spec.spec.object == Object::Payments {
            return self.write_payment(job, payload).await;
        }
        let existing = match &self.spec.id_field {
            Some(field) => Some(self.by_id_field(job, field).await?),
            None => {
                let known = match &job.out.target_id {
                    Some(id) => self.current(id).await?,
                    None => None,
                };
                match known {
                    Some(found) => Some(found),
                    None => self.find(job).await?,
                }
            }
        };
        let (id, reply) = match existing {
            Some((id, current)) => {
                if let (Some(lines), Object::Invoices) = (&payload.lines, self.spec.spec.object)
                    && lines_differ(lines, current.get("line_items"))
                {
                    payload
                        .body
                        .insert("line_items".into(), json!(payload.lines.take()));
                }
                let reply = self.update(job, &id, &payload.body).await?;
                (id, reply.unwrap_or(Value::Object(current)))
            }
            None if mode == Mode::UpdateOnly => {
                return Ok(Written {
                    target_id: job.out.target_id.clone().unwrap_or_default(),
                });
            }
            None => {
                if self.spec.spec.object == Object::Invoices
                    && let Some(lines) = payload.lines.take()
                {
                    payload.body.insert("line_items".into(), json!(lines));
                }
                self.create(job, &payload.body).await?
            }
        };
        if self.spec.spec.object == Object::Opportunities
            && let Some(lines) = &payload.lines
        {
            // `reply` is the deal as it was read before the update (a PATCH reply carries no
            // record), or a create's reply, which has no lines.
            self.sync_deal_lines(job, &id, lines, reply.get("line_items"))
                .await?;
        }
        if self.spec.spec.object == Object::Invoices {
            let invoice = reply.get("invoice").cloned().unwrap_or(reply);
            self.invoice_lifecycle(job, &id, &payload, &invoice).await?;
        }
        Ok(Written { target_id: id })
    }

    /// The canonical fields renamed and nested as the API takes them.
    fn payload(&self, job: &Job<'_>) -> Result<Payload, ConnectorError> {
        let spec = &self.spec;
        let mut body = Fields::new();
        let mut lines = None;
        for (field, value) in &job.out.fields {
            // The business key goes to the key field below, unless mapped explicitly too;
            // the id of the record to write is not a field of it.
            if (*field == self.key_field && !spec.fields.contains_key(field))
                || spec.id_field.as_ref() == Some(field)
            {
                continue;
            }
            let Some(api) = spec.api_field(field) else {
                continue;
            };
            if api == "line_items" {
                lines = Some(self.lines(job, field, value)?);
                continue;
            }
            set_path(&mut body, api, value.clone()).map_err(|m| {
                ConnectorError::invalid(format!("{}: field {field}: {m}", job.label))
            })?;
        }
        // A record written by id belongs to another key (the deal an invoice came from).
        if spec.id_field.is_none() {
            set_path(
                &mut body,
                &spec.key.path(),
                Value::String(job.out.key.clone()),
            )
            .map_err(|m| ConnectorError::invalid(format!("{}: key: {m}", job.label)))?;
        }
        let object = spec.spec.object;
        let mut take = |name: &str| {
            if object == Object::Invoices || (object == Object::Payments && name == "invoice") {
                body.remove(name)
            } else {
                None
            }
        };
        let amount_paid = match take("amount_paid") {
            None | Some(Value::Null) => None,
            Some(v) => Some(decimal(&v).ok_or_else(|| {
                ConnectorError::invalid(format!(
                    "{}: field {}: `{v}` is not an amount",
                    job.label,
                    self.name_of("amount_paid")
                ))
            })?),
        };
        let status = take("status").and_then(|v| v.as_str().map(str::to_owned));
        let invoice = take("invoice").and_then(|v| key_text(&v));
        Ok(Payload {
            body,
            lines,
            amount_paid,
            status,
            invoice,
        })
    }

    /// A record's lines with their fields renamed.
    fn lines(
        &self,
        job: &Job<'_>,
        field: &str,
        value: &Value,
    ) -> Result<Vec<Fields>, ConnectorError> {
        let items = match value {
            Value::Array(items) => items,
            Value::Null => return Ok(Vec::new()),
            other => {
                return Err(ConnectorError::invalid(format!(
                    "{}: field {field}: expected a list of lines, got {other}",
                    job.label
                )));
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let Value::Object(line) = item else {
                    return Err(ConnectorError::invalid(format!(
                        "{}: {field}[{}]: a line must be an object, got {item}",
                        job.label,
                        i + 1
                    )));
                };
                let mut out = Fields::new();
                for (name, value) in line {
                    if let Some(api) = self.spec.api_line_field(name) {
                        set_path(&mut out, api, value.clone()).map_err(|m| {
                            ConnectorError::invalid(format!(
                                "{}: {field}[{}].{name}: {m}",
                                job.label,
                                i + 1
                            ))
                        })?;
                    }
                }
                Ok(out)
            })
            .collect()
    }

    /// Replaces business keys in reference fields by BottleCRM ids.
    async fn resolve_refs(
        &self,
        job: &Job<'_>,
        payload: &mut Payload,
        cache: &RefCache,
    ) -> Result<(), ConnectorError> {
        for (path, target) in &self.spec.refs {
            if let Some(field) = path.strip_prefix("line_items.") {
                for (i, line) in payload.lines.iter_mut().flatten().enumerate() {
                    let at = format!("line_items[{}].{field}", i + 1);
                    if let Some(slot) = line.get_mut(field) {
                        self.resolve(job, &at, target, slot, cache).await?;
                    }
                }
            } else if path == "invoice" && self.spec.spec.object == Object::Payments {
                if let Some(key) = payload.invoice.take() {
                    let mut slot = Value::String(key);
                    self.resolve(job, path, target, &mut slot, cache).await?;
                    payload.invoice = key_text(&slot);
                }
            } else if let Some(slot) = payload.body.get_mut(path.as_str()) {
                self.resolve(job, path, target, slot, cache).await?;
            }
        }
        Ok(())
    }

    async fn resolve(
        &self,
        job: &Job<'_>,
        at: &str,
        target: &RefSpec,
        slot: &mut Value,
        cache: &RefCache,
    ) -> Result<(), ConnectorError> {
        let Some(key) = key_text(slot) else {
            // An empty reference stays empty (no account, say).
            return Ok(());
        };
        let cache_key = (target.spec.name, key.clone());
        let cached = cache.lock().await.get(&cache_key).cloned();
        let found = match cached {
            Some(found) => found,
            None => {
                let found = match self.api.lookup(target.spec, &target.key, &key).await {
                    Ok(records) => match ids_of(&records).as_slice() {
                        [id] => Ok(id.clone()),
                        [] => Err(ConnectorError::new(
                            ErrorKind::NotFound,
                            format!(
                                "no {} has {} `{key}` (yet)",
                                target.spec.singular,
                                target.key.path()
                            ),
                        )),
                        several => Err(ConnectorError::new(
                            ErrorKind::Conflict,
                            format!(
                                "{} {} have {} `{key}`: {}",
                                several.len(),
                                target.spec.name,
                                target.key.path(),
                                several.join(", ")
                            ),
                        )),
                    },
                    // Transient failures are not cached: the next record may fare better.
                    Err(e) => return Err(e.context(format!("{}: resolving {at}", job.label))),
                };
                cache.lock().await.insert(cache_key, found.clone());
                found
            }
        };
        let id =
            found.map_err(|e| e.context(format!("{}: field {}", job.label, self.name_of(at))))?;
        *slot = Value::String(id);
        Ok(())
    }

    /// The record named by the record's `id_field`, which must exist.
    async fn by_id_field(
        &self,
        job: &Job<'_>,
        field: &str,
    ) -> Result<(String, Fields), ConnectorError> {
        let spec = self.spec.spec;
        let Some(id) = job.out.fields.get(field).and_then(key_text) else {
            return Err(ConnectorError::invalid(format!(
                "{}: field {field}: missing; it names the {} to write",
                job.label, spec.singular
            )));
        };
        self.current(&id).await?.ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::NotFound,
                format!(
                    "{}: field {field}: BottleCRM has no {} {id}",
                    job.label, spec.singular
                ),
            )
        })
    }

    /// The record with this id and its current fields, if it still exists.
    async fn current(&self, id: &str) -> Result<Option<(String, Fields)>, ConnectorError> {
        Ok(self
            .api
            .detail(self.spec.spec, id)
            .await?
            .map(|fields| (id.to_owned(), fields)))
    }

    /// The record with the job's business key, if there is one (read in full when its lines
    /// matter).
    async fn find(&self, job: &Job<'_>) -> Result<Option<(String, Fields)>, ConnectorError> {
        let spec = self.spec.spec;
        let found = self
            .api
            .lookup(spec, &self.spec.key, &job.out.key)
            .await
            .map_err(|e| e.context(format!("{}: looking it up", job.label)))?;
        let ids = ids_of(&found);
        match ids.as_slice() {
            [] => Ok(None),
            [id] => {
                let listed = found.into_iter().next().unwrap_or_default();
                if matches!(spec.object, Object::Opportunities | Object::Invoices) {
                    // The invoice list lacks the lines; take the detail for both.
                    self.current(id).await
                } else {
                    Ok(Some((id.clone(), listed)))
                }
            }
            several => Err(ConnectorError::new(
                ErrorKind::Conflict,
                format!(
                    "{}: {} {} have {} `{}`: {}; make the key unique in BottleCRM",
                    job.label,
                    several.len(),
                    spec.name,
                    self.spec.key.path(),
                    job.out.key,
                    several.join(", ")
                ),
            )),
        }
    }

    async fn create(
        &self,
        job: &Job<'_>,
        body: &Fields,
    ) -> Result<(String, Value), ConnectorError> {
        let spec = self.spec.spec;
        let reply = self
            .api
            .write(Call::post(spec.path).json(body))
            .await
            .map_err(|e| e.context(format!("{}: creating it", job.label)))?
            .map_err(|r| self.refused(job, &r))?;
        let id = created_id(&reply, self.spec.spec.singular).ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: BottleCRM created it but its reply names no id: {}",
                job.label,
                clip(&reply.to_string())
            ))
        })?;
        tracing::debug!(record = %job.label, id = %id, "Created.");
        Ok((id, reply))
    }

    /// Updates the record; returns the reply when it carries the record.
    async fn update(
        &self,
        job: &Job<'_>,
        id: &str,
        body: &Fields,
    ) -> Result<Option<Value>, ConnectorError> {
        let spec = self.spec.spec;
        let path = spec.item_path(id);
        let call = match spec.update {
            Update::Patch => Call::patch(path),
            Update::Put => Call::put(path),
            Update::None => return Ok(None),
        };
        let reply = self
            .api
            .write(call.json(body))
            .await
            .map_err(|e| e.context(format!("{}: updating {id}", job.label)))?
            .map_err(|r| self.refused(job, &r))?;
        tracing::debug!(record = %job.label, id = %id, "Updated.");
        Ok(reply.get("invoice").is_some().then_some(reply))
    }

    /// Makes the deal's lines (`existing`, as read) equal to `lines`.
    async fn sync_deal_lines(
        &self,
        job: &Job<'_>,
        id: &str,
        lines: &[Fields],
        existing: Option<&Value>,
    ) -> Result<(), ConnectorError> {
        let spec = self.spec.spec;
        if !lines_differ(lines, existing) {
            return Ok(());
        }
        let base = format!("{}line-items/", spec.item_path(id));
        for old in existing.and_then(Value::as_array).into_iter().flatten() {
            if let Some(line_id) = old.get("id").and_then(Value::as_str) {
                self.api
                    .http
                    .send(Call::delete(format!("{base}{line_id}/")))
                    .await
                    .map_err(|e| e.context(format!("{}: replacing its lines", job.label)))?;
            }
        }
        for (i, line) in lines.iter().enumerate() {
            let mut line = line.clone();
            line.entry("order").or_insert(json!(i));
            self.api
                .write(Call::post(base.clone()).json(&line))
                .await
                .map_err(|e| e.context(format!("{}: line {}", job.label, i + 1)))?
                .map_err(|r| r.error(&job.label, |f| format!("line_items[{}].{f}", i + 1)))?;
        }
        Ok(())
    }

    /// Brings an invoice's payments and status to what the record says.
    async fn invoice_lifecycle(
        &self,
        job: &Job<'_>,
        id: &str,
        payload: &Payload,
        invoice: &Value,
    ) -> Result<(), ConnectorError> {
        let path = self.spec.spec.item_path(id);
        let mut status = invoice
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(wanted) = payload.amount_paid {
            let paid = invoice
                .get("amount_paid")
                .and_then(decimal)
                .unwrap_or_default();
            if wanted < paid {
                return Err(ConnectorError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{}: field {}: BottleCRM has {paid} paid, more than {wanted}; Ferry does not remove payments",
                        job.label,
                        self.name_of("amount_paid")
                    ),
                ));
            }
            if wanted > paid {
                let body = json!({
                    "amount": (wanted - paid).to_string(),
                    "payment_method": "OTHER",
                    "reference_number": job.out.key,
                    "notes": "Recorded by Ferry: the amount paid in the system of record",
                });
                let reply = self.lifecycle(job, &path, "mark-paid", Some(body)).await?;
                if let Some(s) = reply.pointer("/invoice/status").and_then(Value::as_str) {
                    status = s.to_owned();
                }
            }
        }
        let Some(wanted) = payload.status.as_deref() else {
            return Ok(());
        };
        let action = match (wanted, status.as_str()) {
            (w, s) if w == s => None,
            ("Paid", _) => Some("mark-paid"),
            ("Cancelled", _) => Some("cancel"),
            ("Sent", "Draft") => Some("send"),
            _ => None,
        };
        if let Some(action) = action {
            self.lifecycle(job, &path, action, None).await?;
        }
        Ok(())
    }

    async fn lifecycle(
        &self,
        job: &Job<'_>,
        path: &str,
        action: &str,
        body: Option<Value>,
    ) -> Result<Value, ConnectorError> {
        let call = Call::post(format!("{path}{action}/")).json(&body.unwrap_or(json!({})));
        self.api
            .write(call)
            .await
            .map_err(|e| e.context(format!("{}: {action}", job.label)))?
            .map_err(|r| r.error(&format!("{} ({action})", job.label), |f| self.name_of(f)))
    }

    /// Records a payment on its invoice unless it is there already.
    async fn write_payment(
        &self,
        job: &Job<'_>,
        payload: Payload,
    ) -> Result<Written, ConnectorError> {
        let invoice = payload.invoice.ok_or_else(|| {
            ConnectorError::invalid(format!(
                "{}: field {}: missing; a payment needs the invoice it pays",
                job.label,
                self.name_of("invoice")
            ))
        })?;
        if !crate::api::is_id(&invoice) {
            return Err(ConnectorError::invalid(format!(
                "{}: field {}: `{invoice}` is not a BottleCRM invoice id (add `refs: {{invoice: invoices}}` to look it up by its key)",
                job.label,
                self.name_of("invoice")
            )));
        }
        let base = format!("api/invoices/{invoice}/payments/");
        let listed: Value = self
            .api
            .http
            .json(Call::get(base.clone()))
            .await
            .map_err(|e| {
                e.context(format!(
                    "{}: reading the payments of invoice {invoice}",
                    job.label
                ))
            })?;
        let same = listed.as_array().into_iter().flatten().find(|p| {
            p.get("reference_number").and_then(Value::as_str) == Some(job.out.key.as_str())
        });
        if let Some(recorded) = same {
            let id = recorded
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let wanted = payload.body.get("amount").and_then(decimal);
            let has = recorded.get("amount").and_then(decimal);
            if wanted.is_some() && wanted != has {
                return Err(ConnectorError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{}: payment {id} is recorded with amount {}, the record says {}; BottleCRM cannot change a recorded payment",
                        job.label,
                        has.map(|d| d.to_string()).unwrap_or_default(),
                        wanted.map(|d| d.to_string()).unwrap_or_default()
                    ),
                ));
            }
            return Ok(Written {
                target_id: id.to_owned(),
            });
        }
        let reply = self
            .api
            .write(Call::post(base).json(&payload.body))
            .await
            .map_err(|e| e.context(format!("{}: recording it", job.label)))?
            .map_err(|r| self.refused(job, &r))?;
        let id = created_id(&reply, self.spec.spec.singular).ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: BottleCRM recorded it but its reply names no id",
                job.label
            ))
        })?;
        Ok(Written { target_id: id })
    }

    fn refused(&self, job: &Job<'_>, refusal: &Refusal) -> ConnectorError {
        refusal.error(&job.label, |f| self.name_of(f))
    }

    /// How an API field is shown: with the canonical field it came from when renamed
    /// (`code (custom_fields.erp_id)`).
    fn name_of(&self, api: &str) -> String {
        match self.spec.canonical_of(api) {
            Some(canonical) if canonical != api => format!("{canonical} ({api})"),
            _ if api == self.spec.key.path() && self.key_field != api => {
                format!("{} ({api})", self.key_field)
            }
            _ => api.to_owned(),
        }
    }
}

/// Sets `path` (dotted) in `map`, creating nested objects.
fn set_path(map: &mut Fields, path: &str, value: Value) -> Result<(), String> {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
            Ok(())
        }
        Some((head, rest)) => {
            let slot = map
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match slot {
                Value::Object(inner) => set_path(inner, rest, value),
                other => Err(format!(
                    "`{head}` holds {other}, so `{path}` cannot be written into it"
                )),
            }
        }
    }
}

/// Whether the wanted lines differ from the record's lines: compared in order, on the fields
/// the wanted lines give (amounts as numbers, a product by its id).
fn lines_differ(wanted: &[Fields], existing: Option<&Value>) -> bool {
    let existing: &[Value] = existing
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    wanted.len() != existing.len()
        || wanted.iter().zip(existing).any(|(want, have)| {
            want.iter().any(|(field, value)| {
                // Deals take `product_id` and show `product: {id, …}`; invoices use `product`.
                let shown = match field.as_str() {
                    "product_id" | "product" => have.get("product").map(id_of),
                    "order" => return false,
                    _ => have.get(field).cloned(),
                };
                !same_value(value, shown.as_ref().unwrap_or(&Value::Null))
            })
        })
}

/// An object with an `id` stands for that id.
fn id_of(value: &Value) -> Value {
    value.get("id").cloned().unwrap_or_else(|| value.clone())
}

fn ids_of(records: &[Fields]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Fields {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn dotted_paths_write_into_nested_objects() {
        let mut map = Fields::new();
        set_path(&mut map, "custom_fields.erp_id", json!("7")).unwrap();
        set_path(&mut map, "custom_fields.region", json!("北")).unwrap();
        set_path(&mut map, "name", json!("A")).unwrap();
        assert_eq!(
            Value::Object(map.clone()),
            json!({"custom_fields": {"erp_id": "7", "region": "北"}, "name": "A"})
        );
        assert!(set_path(&mut map, "name.x", json!(1)).is_err());
    }

    #[test]
    fn lines_compare_by_value_in_order() {
        let have = json!([
            {"id": "l1", "product": {"id": "p1", "sku": "W"}, "name": "Widget", "quantity": "3.00", "unit_price": "10.00", "description": ""},
            {"id": "l2", "product": null, "name": "Setup", "quantity": "1.00", "unit_price": "150.00"}
        ]);
        let same = vec![
            obj(json!({"product_id": "p1", "quantity": "3", "unit_price": 10})),
            obj(
                json!({"name": "Setup", "quantity": "1", "unit_price": "150", "description": null}),
            ),
        ];
        assert!(!lines_differ(&same, Some(&have)));
        let mut changed = same.clone();
        changed[0].insert("quantity".into(), json!("4"));
        assert!(lines_differ(&changed, Some(&have)));
        assert!(lines_differ(&same[..1], Some(&have)));
        assert!(lines_differ(&same, None));
        assert!(!lines_differ(&[], None));
    }
}
