//! `Save`, `BatchSave` and `Draft`: a model with primary key 0 (or none) creates a record,
//! with a number assigned when it has none; a model with an id updates it — only the
//! `NeedUpDateFields` when given, entry lines matched by `FEntryID`, lines not sent dropped
//! when `IsDeleteEntry` is true. Bills that are submitted or audited cannot be saved.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::amounts;
use super::answer::{self, KdError};
use super::forms::{DOCUMENT_STATUS, ENTRY_ID, FORBID_STATUS, Field, Fill, Form, Kind};
use super::model::{self, Line, Model};
use super::query;
use super::records::{self, status};
use super::request::{Call, flag, get_ci, list};
use crate::error::StoreError;
use crate::store::Record;

/// The options of a save call.
struct Options {
    need_update: Vec<String>,
    need_return: Vec<String>,
    delete_entry: bool,
    auto_audit: bool,
    draft: bool,
}

impl Options {
    fn read(data: &Map<String, Value>, draft: bool) -> Self {
        Self {
            need_update: list(data, "NeedUpDateFields"),
            need_return: list(data, "NeedReturnFields"),
            delete_entry: flag(data, "IsDeleteEntry", true),
            auto_audit: flag(data, "IsAutoSubmitAndAudit", false),
            draft,
        }
    }

    /// Whether an update applies `key` (all keys when no list was given).
    fn updates(&self, key: &str) -> bool {
        self.need_update.is_empty() || self.need_update.iter().any(|k| k.eq_ignore_ascii_case(key))
    }
}

/// What the service answers: the `Result` of `Save` (one model) or `BatchSave` (many).
pub fn save(ctx: &Ctx, call: &Call, batch: bool, draft: bool) -> Result<Value, KdError> {
    let form = records::writable_form(call, if draft { "Draft" } else { "Save" })?;
    let data = &call.data;
    if flag(data, "ValidateRepeatJson", false) && !ctx.first_time(form.id, data) {
        return Err(KdError::RepeatedJson);
    }
    let options = Options::read(data, draft);
    let models: Vec<&Value> = match get_ci(data, "Model") {
        Some(Value::Array(models)) if batch => models.iter().collect(),
        Some(model @ Value::Object(_)) => vec![model],
        _ => return Err(KdError::BadParameter("Model不能为空".into())),
    };
    let _writing = ctx.writing();
    let mut saved = Vec::new();
    let mut errors = Vec::new();
    for (index, model) in models.into_iter().enumerate() {
        match save_one(ctx, form, model, &options) {
            Ok(record) => saved.push((index, record)),
            Err(e) => errors.push((index, e)),
        }
    }
    Ok(answer(ctx, form, &options, &saved, &errors, batch))
}

fn answer(
    ctx: &Ctx,
    form: &Form,
    options: &Options,
    saved: &[(usize, Record)],
    errors: &[(usize, KdError)],
    batch: bool,
) -> Value {
    let reader = ctx.reader();
    let entities = saved
        .iter()
        .map(|(i, r)| answer::success_entity(r.id, &records::number(form, r), *i))
        .collect();
    let returned: Vec<Value> = saved
        .iter()
        .map(|(_, r)| query::header_values(&reader, form, r, &options.need_return))
        .collect();
    let status = answer::response_status(entities, errors);
    let mut extra = Map::new();
    if !batch {
        let (id, number) = match saved.first() {
            Some((_, r)) => (json!(r.id), json!(records::number(form, r))),
            None => (json!(""), json!("")),
        };
        extra.insert("Id".into(), id);
        extra.insert("Number".into(), number);
    }
    extra.insert("NeedReturnData".into(), returned.into());
    answer::result(status, extra)
}

fn save_one(
    ctx: &Ctx,
    form: &'static Form,
    model: &Value,
    options: &Options,
) -> Result<Record, KdError> {
    let store = ctx.harness.store();
    let model = model::read(form, model, store)?;
    let record = match model.pk {
        None => create(ctx, form, model, options)?,
        Some(id) => update(ctx, form, id, model, options)?,
    };
    if options.auto_audit && !options.draft {
        return records::set_status(ctx, form, record.id, status::AUDITED);
    }
    Ok(record)
}

fn create(
    ctx: &Ctx,
    form: &'static Form,
    model: Model,
    options: &Options,
) -> Result<Record, KdError> {
    let mut fields = Map::new();
    for (field, value) in model.header {
        if !value.is_null() {
            fields.insert(field.key.into(), value);
        }
    }
    fill_defaults(ctx, form, &mut fields);
    let initial = if options.draft {
        status::DRAFT
    } else {
        status::CREATED
    };
    fields.insert(DOCUMENT_STATUS.into(), initial.into());
    if form.header_field(FORBID_STATUS).is_some() {
        fields.insert(FORBID_STATUS.into(), "A".into());
    }
    if let Some(number_key) = form.number {
        let given = fields.get(number_key).and_then(Value::as_str).unwrap_or("");
        if given.trim().is_empty() {
            fields.insert(number_key.into(), records::next_number(ctx, form).into());
        }
    }
    if let (Some(entry), Some(lines)) = (form.entry, model.lines) {
        let mut next_id = records::next_entry_id(ctx, form);
        let mut stored = Vec::new();
        for line in lines {
            stored.push(Value::Object(new_line(line, &mut next_id)));
        }
        fields.insert(entry.key.into(), stored.into());
    }
    if !options.draft {
        check_required(form, &fields)?;
    }
    amounts::compute(form, &mut fields);
    ctx.harness
        .store()
        .insert(form.id, fields)
        .map_err(|e| store_refusal(e, form))
}

fn new_line(line: Line, next_id: &mut u64) -> Map<String, Value> {
    let mut stored = Map::new();
    stored.insert(ENTRY_ID.into(), (*next_id).into());
    *next_id += 1;
    for (field, value) in line.values {
        if !value.is_null() {
            stored.insert(field.key.into(), value);
        }
    }
    stored
}

/// The values a create fills in when the model has none (organisation `100`, today…).
pub(super) fn fill_defaults(ctx: &Ctx, form: &Form, fields: &mut Map<String, Value>) {
    for field in form.header {
        if fields.get(field.key).is_some_and(|v| !v.is_null()) {
            continue;
        }
        let value = match (field.fill, field.kind) {
            (Fill::Nothing, _) => continue,
            (Fill::Today, _) => json!(super::dates::stored(ctx.today())),
            (Fill::Value(v), Kind::Ref(_)) => json!({ "FNumber": v }),
            (Fill::Value(v), _) => json!(v),
        };
        fields.insert(field.key.into(), value);
    }
}

fn update(
    ctx: &Ctx,
    form: &'static Form,
    id: u64,
    model: Model,
    options: &Options,
) -> Result<Record, KdError> {
    let store = ctx.harness.store();
    let record = store
        .get(form.id, id)
        .map_err(|_| KdError::NotFound(format!("内码[{id}]")))?;
    match records::status_of(&record) {
        status::SUBMITTED => return Err(KdError::SubmittedNotEditable),
        status::AUDITED => return Err(KdError::AuditedNotEditable),
        _ => {}
    }
    let mut patch = header_patch(form, model.header, options);
    if let (Some(entry), Some(lines)) = (form.entry, model.lines) {
        let listed =
            options.updates(entry.key) || entry.fields.iter().any(|f| options.updates(f.key));
        if listed {
            let merged = merge_lines(ctx, form, &record, lines, options)?;
            patch.insert(entry.key.into(), merged.into());
        }
    }
    if records::status_of(&record) == status::DRAFT && !options.draft {
        patch.insert(DOCUMENT_STATUS.into(), status::CREATED.into());
    }
    with_computed(form, &record, &mut patch, options)?;
    store
        .update(form.id, id, patch)
        .map_err(|e| store_refusal(e, form))
}

/// The header values an update sets: the listed ones, but never an empty number.
fn header_patch(
    form: &Form,
    header: Vec<(&'static Field, Value)>,
    options: &Options,
) -> Map<String, Value> {
    let mut patch = Map::new();
    for (field, value) in header {
        let keeps_number =
            Some(field.key) == form.number && value.as_str().is_none_or(|s| s.trim().is_empty());
        if options.updates(field.key) && !keeps_number {
            patch.insert(field.key.into(), value);
        }
    }
    patch
}

/// Checks the record as it will be after `patch` and adds the amounts the server
/// computes to the patch.
fn with_computed(
    form: &Form,
    record: &Record,
    patch: &mut Map<String, Value>,
    options: &Options,
) -> Result<(), KdError> {
    let mut merged = record.fields.clone();
    merged.extend(patch.clone());
    merged.retain(|_, v| !v.is_null());
    if !options.draft {
        check_required(form, &merged)?;
    }
    amounts::compute(form, &mut merged);
    for computed in computed_keys(form) {
        if let Some(v) = merged.get(computed) {
            patch.insert(computed.into(), v.clone());
        }
    }
    Ok(())
}

/// The header keys `amounts::compute` writes, and the entry (whose lines it writes).
fn computed_keys(form: &Form) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = form.total.map(|t| t.header).into_iter().collect();
    keys.extend(form.entry.map(|e| e.key));
    keys
}

/// The entry lines after an update: sent lines matched by `FEntryID` (only the listed
/// fields change), new lines added, lines not sent kept unless `IsDeleteEntry`.
fn merge_lines(
    ctx: &Ctx,
    form: &Form,
    record: &Record,
    lines: Vec<Line>,
    options: &Options,
) -> Result<Vec<Value>, KdError> {
    let entry = form.entry.expect("called for forms with an entry");
    let existing: Vec<Map<String, Value>> = records::lines(form, record);
    let mut next_id = records::next_entry_id(ctx, form);
    let mut sent_ids = Vec::new();
    let mut merged: Vec<Map<String, Value>> = existing.clone();
    for line in lines {
        let Some(id) = line.id else {
            merged.push(new_line(line, &mut next_id));
            continue;
        };
        let at = merged
            .iter()
            .position(|l| l.get(ENTRY_ID).and_then(Value::as_u64) == Some(id))
            .ok_or_else(|| KdError::EntryNotFound {
                entry: entry.key.into(),
                id,
            })?;
        sent_ids.push(id);
        for (field, value) in line
            .values
            .into_iter()
            .filter(|(f, _)| updates_line_field(options, entry.key, f))
        {
            merged[at].insert(field.key.into(), value);
        }
    }
    if options.delete_entry {
        let kept = |l: &Map<String, Value>| {
            let id = l.get(ENTRY_ID).and_then(Value::as_u64);
            let was_existing = existing
                .iter()
                .any(|e| e.get(ENTRY_ID).and_then(Value::as_u64) == id);
            !was_existing || id.is_some_and(|id| sent_ids.contains(&id))
        };
        merged.retain(kept);
    }
    Ok(merged.into_iter().map(Value::Object).collect())
}

/// A line field changes when no list was given, the list names it, or the list names the
/// entry but none of its fields.
fn updates_line_field(options: &Options, entry_key: &str, field: &Field) -> bool {
    if options.need_update.is_empty() || options.updates(field.key) {
        return true;
    }
    let entry_fields_listed = options
        .need_update
        .iter()
        .any(|k| !k.eq_ignore_ascii_case(entry_key) && !k.is_empty());
    options.updates(entry_key) && !entry_fields_listed
}

/// Refuses the first required field left empty, on the header then line by line.
fn check_required(form: &Form, fields: &Map<String, Value>) -> Result<(), KdError> {
    for field in form.header.iter().filter(|f| f.required) {
        if is_empty(fields.get(field.key)) {
            return Err(KdError::Required {
                key: field.key.into(),
                caption: field.caption.into(),
            });
        }
    }
    let Some(entry) = form.entry else {
        return Ok(());
    };
    let lines = fields
        .get(entry.key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for (i, line) in lines.enumerate() {
        for field in entry.fields.iter().filter(|f| f.required) {
            if is_empty(line.get(field.key)) {
                return Err(KdError::RequiredInLine {
                    key: field.key.into(),
                    caption: field.caption.into(),
                    line: i + 1,
                });
            }
        }
    }
    Ok(())
}

fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Object(o)) => o
            .get("FNumber")
            .and_then(Value::as_str)
            .is_none_or(|n| n.trim().is_empty()),
        Some(_) => false,
    }
}

fn store_refusal(e: StoreError, form: &Form) -> KdError {
    match e {
        StoreError::DuplicateKey { key, .. } => KdError::DuplicateNumber(key),
        StoreError::NotFound { id, .. } => KdError::NotFound(format!("内码[{id}]")),
        StoreError::UnknownObject { .. } => KdError::UnknownForm(form.id.into()),
    }
}
