//! Writing a model: upsert by business key (target id → write; else search the key → write;
//! else create), many2one lookups by code, one2many children, workflow buttons after create,
//! and per-record results: a batch call that Tryton refuses is split record by record, so a
//! bad record gets its own error (with Tryton's message) and the others are written.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::config::{ChildOptions, Lookup, OnUpdate, TrytonTargetOptions};
use crate::rpc::{Effect, Rpc};
use crate::value::{from_tryton, to_tryton};
use ferry_kit::sink::{Refusals, batch_then_each, key_text, same_value};
use ferry_kit::{Outgoing, Removal, Sink, SinkCapabilities, SinkContext, TargetPage, Written};

/// Ids or values per search.
const IN_CHUNK: usize = 500;

/// A field as `fields_get` describes it.
#[derive(Debug, Clone)]
pub(crate) struct FieldMeta {
    pub ty: String,
    pub relation: Option<String>,
    pub required: bool,
}

/// The fields of a model, by name, from `fields_get`.
pub(crate) async fn fields_of(
    rpc: &Rpc,
    model: &str,
) -> Result<HashMap<String, FieldMeta>, ConnectorError> {
    let reply = rpc
        .model(
            model,
            "fields_get",
            vec![Value::Null],
            &Map::new(),
            Effect::Read,
        )
        .await?;
    let Value::Object(fields) = reply else {
        return Err(ConnectorError::fatal(format!(
            "{}: model `{model}`: fields_get returned no fields",
            rpc.http.system()
        )));
    };
    Ok(fields
        .into_iter()
        .map(|(name, f)| {
            let meta = FieldMeta {
                ty: f["type"].as_str().unwrap_or_default().to_owned(),
                relation: f["relation"].as_str().map(str::to_owned),
                required: f["required"].as_bool().unwrap_or(false),
            };
            (name, meta)
        })
        .collect())
}

/// What the sink learns about its model once.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) fields: HashMap<String, FieldMeta>,
    /// Per entry of `children`: the child model's fields.
    pub(crate) children: Vec<HashMap<String, FieldMeta>>,
    /// How the key is written on create.
    pub(crate) key: KeyWrite,
}

/// Where a created record's business key goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyWrite {
    /// A field of the model (`code`, `reference`).
    Field(String, String),
    /// A field of a new child (`identifiers.code`: a new identifier with that code).
    Child { field: String, child_field: String },
    /// Nowhere: the key is only searched (a path through a many2one).
    SearchOnly,
}

/// One record converted for Tryton.
#[derive(Debug, Default)]
struct Prepared {
    key: String,
    /// Fields of the model (children excluded).
    values: Map<String, Value>,
    /// Per child entry made of the record's own fields: the child's values.
    singles: Vec<(usize, Map<String, Value>)>,
    /// Per child entry made from a list: the items.
    lists: Vec<(usize, Vec<Map<String, Value>>)>,
}

/// Ids found per lookup (model, path) and code.
type Found = HashMap<(String, String), HashMap<String, i64>>;

/// Upserts into one model.
pub struct TrytonSink {
    rpc: Arc<Rpc>,
    opts: TrytonTargetOptions,
    pub(super) key_field: String,
    key_path: String,
    /// The canonical fields the flow's mapping makes: what a scan reads back.
    pub(super) fields: Vec<String>,
    meta: OnceCell<Meta>,
}

impl TrytonSink {
    pub(crate) fn new(rpc: Arc<Rpc>, opts: TrytonTargetOptions, ctx: &SinkContext) -> Self {
        let key_path = opts.key.clone().unwrap_or_else(|| {
            opts.field_of(&ctx.key_field)
                .unwrap_or(&ctx.key_field)
                .to_owned()
        });
        Self {
            rpc,
            key_field: ctx.key_field.clone(),
            key_path,
            fields: ctx.fields.clone(),
            opts,
            meta: OnceCell::new(),
        }
    }

    pub(crate) fn model(&self) -> &str {
        &self.opts.model
    }

    pub(crate) fn opts(&self) -> &TrytonTargetOptions {
        &self.opts
    }

    pub(crate) fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    pub(crate) fn key_field(&self) -> &str {
        &self.key_field
    }

    pub(crate) fn key_path(&self) -> &str {
        &self.key_path
    }

    pub(crate) fn fields(&self) -> &[String] {
        &self.fields
    }

    pub(crate) fn fatal(&self, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::fatal(format!(
            "{}: model `{}`: {message}",
            self.rpc.http.system(),
            self.model()
        ))
    }

    fn refused(&self, key: &str, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::invalid(format!(
            "{}: model `{}`, key `{key}`: {message}",
            self.rpc.http.system(),
            self.model()
        ))
    }

    pub(crate) async fn meta(&self) -> Result<&Meta, ConnectorError> {
        self.meta.get_or_try_init(|| self.load_meta()).await
    }

    /// `fields_get` of the model and its children's models; every configured name checked.
    async fn load_meta(&self) -> Result<Meta, ConnectorError> {
        let fields = fields_of(&self.rpc, self.model()).await?;
        let (head, rest) = match self.key_path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (self.key_path.as_str(), None),
        };
        let head_meta = fields.get(head).ok_or_else(|| {
            self.fatal(format_args!(
                "no field `{head}` for the key `{}`",
                self.key_path
            ))
        })?;
        let key = match rest {
            None => KeyWrite::Field(head.to_owned(), head_meta.ty.clone()),
            Some(r) if head_meta.ty == "one2many" && !r.contains('.') => KeyWrite::Child {
                field: head.to_owned(),
                child_field: r.to_owned(),
            },
            Some(_) => KeyWrite::SearchOnly,
        };
        for name in self.opts.defaults.keys().chain(self.opts.lookup.keys()) {
            if !fields.contains_key(name) {
                return Err(self.fatal(format_args!("no field `{name}`")));
            }
        }
        let mut children = Vec::new();
        for child in &self.opts.children {
            let relation = match fields.get(&child.field) {
                Some(f) if f.ty == "one2many" => f.relation.clone().unwrap_or_default(),
                Some(f) => {
                    return Err(self.fatal(format_args!(
                        "`{}` is a {} field, not a one2many (children)",
                        child.field, f.ty
                    )));
                }
                None => return Err(self.fatal(format_args!("no field `{}`", child.field))),
            };
            let child_fields = fields_of(&self.rpc, &relation).await?;
            let named = child
                .fields
                .values()
                .flatten()
                .chain(child.values.keys())
                .chain(child.lookup.keys());
            for name in named {
                if !child_fields.contains_key(name) {
                    return Err(self.fatal(format_args!(
                        "children `{}`: model `{relation}` has no field `{name}`",
                        child.field
                    )));
                }
            }
            children.push(child_fields);
        }
        Ok(Meta {
            fields,
            children,
            key,
        })
    }

    /// Whether children entry `index` owns every child of its one2many field: a list
    /// entry (`from`) that no other entry, and not the key, writes to. An update then makes
    /// the field hold exactly the items sent, whatever the existing children look like.
    fn owns_field(&self, meta: &Meta, index: usize) -> bool {
        let child = &self.opts.children[index];
        let shared = self
            .opts
            .children
            .iter()
            .filter(|c| c.field == child.field)
            .count()
            > 1;
        let key_child = matches!(&meta.key, KeyWrite::Child { field, .. } if *field == child.field);
        child.from.is_some() && !shared && !key_child
    }

    /// Canonical fields that do not go to a field of the model of the same (or mapped) name:
    /// the key, the sources of lookups and of children.
    pub(super) fn consumed(&self) -> HashSet<&str> {
        let mut out: HashSet<&str> = HashSet::new();
        if !self.opts.fields.contains_key(&self.key_field) {
            out.insert(&self.key_field);
        }
        out.extend(self.opts.lookup.values().filter_map(|l| l.from.as_deref()));
        for child in &self.opts.children {
            match &child.from {
                Some(from) => {
                    out.insert(from);
                }
                None => out.extend(child.fields.keys().map(String::as_str)),
            }
        }
        out
    }

    /// The lookups of the batch, each searched once for every code the batch holds.
    async fn resolve_lookups(&self, batch: &[Outgoing]) -> Result<Found, ConnectorError> {
        let mut wanted: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
        for o in batch {
            for (field, lookup) in &self.opts.lookup {
                let source = lookup
                    .from
                    .as_deref()
                    .or_else(|| self.canonical_of(field))
                    .and_then(|c| o.fields.get(c));
                if let Some(code) = source.and_then(key_text) {
                    wanted.entry(lookup_key(lookup)).or_default().insert(code);
                }
            }
            for child in self.opts.children.iter() {
                for (field, lookup) in &child.lookup {
                    let codes: Vec<String> = match &child.from {
                        Some(from) => o
                            .fields
                            .get(from)
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_object)
                            .filter_map(|item| {
                                let name = lookup
                                    .from
                                    .as_deref()
                                    .or_else(|| item_name_of(child, field));
                                name.and_then(|n| item.get(n)).and_then(key_text)
                            })
                            .collect(),
                        None => lookup
                            .from
                            .as_deref()
                            .or_else(|| item_name_of(child, field))
                            .and_then(|c| o.fields.get(c))
                            .and_then(key_text)
                            .into_iter()
                            .collect(),
                    };
                    wanted.entry(lookup_key(lookup)).or_default().extend(codes);
                }
            }
        }
        let mut found = Found::new();
        for ((model, by), codes) in wanted {
            let codes: Vec<String> = codes.into_iter().collect();
            let ids = self
                .ids_by_code(&model, &by, &codes, &self.opts.context)
                .await
                .map_err(|e| e.context(format!("looking up `{model}` by `{by}`")))?;
            found.insert((model, by), ids);
        }
        Ok(found)
    }

    /// The canonical field written to Tryton field `field` (explicitly mapped, or same name).
    fn canonical_of<'a>(&'a self, field: &'a str) -> Option<&'a str> {
        self.opts
            .fields
            .iter()
            .find(|(_, f)| f.as_deref() == Some(field))
            .map(|(c, _)| c.as_str())
            .or_else(|| (!self.opts.fields.contains_key(field)).then_some(field))
    }

    /// The existing record of each outgoing one: its target id if it still exists, else the
    /// record holding its key (archived ones included; the lowest id if several do, since
    /// Tryton does not make keys such as identifiers unique).
    async fn find_existing(&self, batch: &[Outgoing]) -> Result<Vec<Option<i64>>, ConnectorError> {
        let context = {
            let mut c = self.opts.context.clone();
            c.insert("active_test".to_owned(), Value::Bool(false));
            c
        };
        let known: Vec<i64> = batch
            .iter()
            .filter_map(|o| o.target_id.as_deref()?.trim().parse().ok())
            .collect();
        let mut alive: HashSet<i64> = HashSet::new();
        for chunk in known.chunks(IN_CHUNK) {
            let ids = self
                .rpc
                .model(
                    self.model(),
                    "search",
                    vec![
                        json!([["id", "in", chunk]]),
                        json!(0),
                        Value::Null,
                        Value::Null,
                    ],
                    &context,
                    Effect::Read,
                )
                .await?;
            alive.extend(
                ids.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_i64),
            );
        }
        let mut out: Vec<Option<i64>> = batch
            .iter()
            .map(|o| {
                o.target_id
                    .as_deref()
                    .and_then(|t| t.trim().parse().ok())
                    .filter(|id| alive.contains(id))
            })
            .collect();
        let keys: Vec<&str> = batch
            .iter()
            .zip(&out)
            .filter(|(_, id)| id.is_none())
            .map(|(o, _)| o.key.as_str())
            .collect();
        let by_key = self
            .ids_by_code(self.model(), &self.key_path, &keys, &context)
            .await?;
        for (o, id) in batch.iter().zip(out.iter_mut()) {
            if id.is_none() {
                *id = by_key.get(&o.key).copied();
            }
        }
        Ok(out)
    }

    /// The id of the record of `model` whose `by` path (`code`, `identifiers.code`) holds each
    /// code, searched in chunks, archived records included when the context says so; when
    /// several records hold one code, the lowest id wins.
    async fn ids_by_code<S: AsRef<str> + serde::Serialize>(
        &self,
        model: &str,
        by: &str,
        codes: &[S],
        context: &Map<String, Value>,
    ) -> Result<HashMap<String, i64>, ConnectorError> {
        let mut ids: HashMap<String, i64> = HashMap::new();
        for chunk in codes.chunks(IN_CHUNK) {
            let rows = self
                .rpc
                .model(
                    model,
                    "search_read",
                    vec![
                        json!([[by, "in", chunk]]),
                        json!(0),
                        Value::Null,
                        json!([["id", "ASC"]]),
                        json!(["id", by]),
                    ],
                    context,
                    Effect::Read,
                )
                .await?;
            for row in rows
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                let Some(id) = row.get("id").and_then(Value::as_i64) else {
                    continue;
                };
                for code in codes_at(row, by) {
                    ids.entry(code).or_insert(id);
                }
            }
        }
        Ok(ids)
    }

    /// Converts one record. The outer error is a configuration problem (a field the model
    /// does not have); the inner one a value Tryton cannot take or a code not found.
    fn prepare(
        &self,
        meta: &Meta,
        o: &Outgoing,
        found: &Found,
        consumed: &HashSet<&str>,
    ) -> Result<Result<Prepared, ConnectorError>, ConnectorError> {
        let mut p = Prepared {
            key: o.key.clone(),
            ..Prepared::default()
        };
        let refuse = |message: String| Ok(Err(self.refused(&o.key, message)));
        for (canonical, value) in &o.fields {
            if consumed.contains(canonical.as_str()) {
                continue;
            }
            let Some(field) = self.opts.field_of(canonical) else {
                continue;
            };
            let Some(fm) = meta.fields.get(field) else {
                return Err(self.fatal(format_args!(
                    "no field `{field}` (for canonical `{canonical}`): map it under `fields:`, or skip it with `{canonical}: ~`"
                )));
            };
            let converted = match self.opts.lookup.get(field).filter(|l| l.from.is_none()) {
                Some(lookup) => resolve(lookup, value, found),
                None => to_tryton(value, &fm.ty),
            };
            match converted {
                Ok(v) => {
                    p.values.insert(field.to_owned(), v);
                }
                Err(why) => return refuse(format!("field `{field}`: {why}")),
            }
        }
        for (field, lookup) in &self.opts.lookup {
            // A code the record does not carry (an archive writes a few fields) leaves the
            // field alone; one that is empty clears it.
            let Some(value) = lookup.from.as_ref().and_then(|from| o.fields.get(from)) else {
                continue;
            };
            let from = lookup.from.as_deref().unwrap_or_default();
            let value = value.clone();
            match resolve(lookup, &value, found) {
                Ok(v) => {
                    p.values.insert(field.clone(), v);
                }
                Err(why) => return refuse(format!("field `{field}` (from `{from}`): {why}")),
            }
        }
        if let KeyWrite::Field(field, ty) = &meta.key
            && !p.values.contains_key(field)
        {
            match to_tryton(&Value::String(o.key.clone()), ty) {
                Ok(v) => {
                    p.values.insert(field.clone(), v);
                }
                Err(why) => return refuse(format!("key field `{field}`: {why}")),
            }
        }
        for (index, child) in self.opts.children.iter().enumerate() {
            let child_meta = &meta.children[index];
            match &child.from {
                None => {
                    let mut values = Map::new();
                    for (canonical, target) in &child.fields {
                        let (Some(target), Some(value)) = (target, o.fields.get(canonical)) else {
                            continue;
                        };
                        if is_empty(value) {
                            continue;
                        }
                        match child_value(child, child_meta, target, value, found) {
                            Ok(v) => {
                                values.insert(target.clone(), v);
                            }
                            Err(why) => {
                                return refuse(format!(
                                    "`{}` field `{target}`: {why}",
                                    child.field
                                ));
                            }
                        }
                    }
                    if !values.is_empty() {
                        p.singles.push((index, values));
                    }
                }
                Some(from) => {
                    let items = match o.fields.get(from) {
                        None | Some(Value::Null) => {
                            if o.fields.contains_key(from) {
                                p.lists.push((index, Vec::new()));
                            }
                            continue;
                        }
                        Some(Value::Array(items)) => items,
                        Some(_) => return refuse(format!("field `{from}` is not a list")),
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let Some(item) = item.as_object() else {
                            return refuse(format!("{from}[{}] is not an object", i + 1));
                        };
                        let mut values = child.values.clone();
                        for (name, value) in item {
                            let Some(target) = child.field_of(name) else {
                                continue;
                            };
                            if child.lookup.get(target).is_some_and(|l| l.from.is_some()) {
                                continue;
                            }
                            if !child_meta.contains_key(target) {
                                return Err(self.fatal(format_args!(
                                    "children `{}`: no field `{target}` (for `{from}` item field `{name}`): map it under `fields:`, or skip it with `{name}: ~`",
                                    child.field
                                )));
                            }
                            match child_value(child, child_meta, target, value, found) {
                                Ok(v) => {
                                    values.insert(target.to_owned(), v);
                                }
                                Err(why) => {
                                    return refuse(format!("{from}[{}].{name}: {why}", i + 1));
                                }
                            }
                        }
                        for (target, lookup) in &child.lookup {
                            let Some(name) = &lookup.from else { continue };
                            let value = item.get(name).cloned().unwrap_or(Value::Null);
                            match resolve(lookup, &value, found) {
                                Ok(v) => {
                                    values.insert(target.clone(), v);
                                }
                                Err(why) => {
                                    return refuse(format!("{from}[{}].{name}: {why}", i + 1));
                                }
                            }
                        }
                        out.push(values);
                    }
                    p.lists.push((index, out));
                }
            }
        }
        Ok(Ok(p))
    }

    /// The values of a create: defaults, fields, the key, and the children to create.
    fn create_values(&self, meta: &Meta, p: &Prepared) -> Map<String, Value> {
        let mut values = p.values.clone();
        for (k, v) in &self.opts.defaults {
            values.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut actions: HashMap<String, Vec<Value>> = HashMap::new();
        if let KeyWrite::Child { field, child_field } = &meta.key {
            let mut identifier = Map::new();
            identifier.insert(child_field.clone(), Value::String(p.key.clone()));
            actions
                .entry(field.clone())
                .or_default()
                .push(Value::Object(identifier));
        }
        for (index, child_values) in &p.singles {
            let child = &self.opts.children[*index];
            let mut v = child.values.clone();
            v.extend(child_values.clone());
            actions
                .entry(child.field.clone())
                .or_default()
                .push(Value::Object(v));
        }
        for (index, items) in &p.lists {
            let child = &self.opts.children[*index];
            actions
                .entry(child.field.clone())
                .or_default()
                .extend(items.iter().cloned().map(Value::Object));
        }
        for (field, new) in actions {
            if !new.is_empty() {
                values.insert(field, json!([["create", new]]));
            }
        }
        values
    }

    /// The values of the writes: the fields whose value differs from Tryton's, children
    /// updated in place or replaced when they differ. Reads the current state of the records
    /// (and of their children) first, one call per model: writing unchanged values would
    /// move `last_modified_at` for nothing, and Tryton refuses any write to some fields once
    /// a document is past draft (a confirmed sale's party), changed or not.
    async fn write_values(
        &self,
        meta: &Meta,
        updates: &[(usize, i64, Prepared)],
    ) -> Result<Vec<Map<String, Value>>, ConnectorError> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        // The child entries each update touches.
        let touched = |p: &Prepared| -> Vec<usize> {
            p.singles
                .iter()
                .map(|(i, _)| *i)
                .chain(
                    p.lists
                        .iter()
                        .map(|(i, _)| *i)
                        .filter(|i| self.opts.children[*i].on_update == OnUpdate::Replace),
                )
                .collect()
        };
        let mut record_fields: BTreeSet<String> = BTreeSet::from(["id".to_owned()]);
        for (_, _, p) in updates {
            record_fields.extend(p.values.keys().cloned());
            record_fields.extend(
                touched(p)
                    .into_iter()
                    .map(|i| self.opts.children[i].field.clone()),
            );
        }
        let ids: Vec<i64> = updates.iter().map(|(_, id, _)| *id).collect();
        let current = self.read_rows(self.model(), &ids, &record_fields).await?;

        // The existing children, with the fields needed to match and compare them.
        let mut per_model: HashMap<String, (BTreeSet<i64>, BTreeSet<String>)> = HashMap::new();
        for (_, id, p) in updates {
            for index in touched(p) {
                let child = &self.opts.children[index];
                let model = meta.fields[&child.field]
                    .relation
                    .clone()
                    .unwrap_or_default();
                let entry = per_model.entry(model).or_default();
                entry
                    .0
                    .extend(ids_in(current.get(id).and_then(|r| r.get(&child.field))));
                entry.1.extend(child.values.keys().cloned());
                for (_, values) in p.singles.iter().filter(|(i, _)| *i == index) {
                    entry.1.extend(values.keys().cloned());
                }
                for (_, items) in p.lists.iter().filter(|(i, _)| *i == index) {
                    entry
                        .1
                        .extend(items.iter().flat_map(|item| item.keys().cloned()));
                }
            }
        }
        let mut child_rows: HashMap<i64, Map<String, Value>> = HashMap::new();
        for (model, (ids, mut fields)) in per_model {
            fields.insert("id".to_owned());
            let ids: Vec<i64> = ids.into_iter().collect();
            child_rows.extend(self.read_rows(&model, &ids, &fields).await?);
        }
        // The existing children an entry manages: all of its field's children when it owns
        // the field, else those holding its plain constant values (list operations such as
        // `taxes: [["add", [7]]]` set values on a child; they do not tell children apart).
        let matching = |record: i64, index: usize| -> Vec<i64> {
            let child = &self.opts.children[index];
            let all = ids_in(current.get(&record).and_then(|r| r.get(&child.field)));
            if self.owns_field(meta, index) {
                return all;
            }
            all.into_iter()
                .filter(|id| {
                    child
                        .values
                        .iter()
                        .filter(|(_, v)| list_ops(v).is_none())
                        .all(|(k, v)| {
                            child_rows
                                .get(id)
                                .and_then(|row| row.get(k))
                                .is_some_and(|have| same(have, v))
                        })
                })
                .collect()
        };
        // The values of `new` that differ from the row's.
        let changed =
            |row: Option<&Map<String, Value>>, new: &Map<String, Value>| -> Map<String, Value> {
                new.iter()
                    .filter(|(k, v)| !holds(row.and_then(|r| r.get(*k)), v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };

        let mut out = Vec::with_capacity(updates.len());
        for (_, id, p) in updates {
            let mut values = changed(current.get(id), &p.values);
            let mut actions: HashMap<String, Vec<Value>> = HashMap::new();
            for (index, child_values) in &p.singles {
                let child = &self.opts.children[*index];
                let action = match matching(*id, *index).first() {
                    Some(cid) => {
                        let diff = changed(child_rows.get(cid), child_values);
                        if diff.is_empty() {
                            continue;
                        }
                        json!(["write", [cid], diff])
                    }
                    None => {
                        let mut v = child.values.clone();
                        v.extend(child_values.clone());
                        json!(["create", [v]])
                    }
                };
                actions.entry(child.field.clone()).or_default().push(action);
            }
            for (index, items) in &p.lists {
                let child = &self.opts.children[*index];
                if child.on_update == OnUpdate::Keep {
                    continue;
                }
                let old = matching(*id, *index);
                let unchanged = old.len() == items.len()
                    && old
                        .iter()
                        .zip(items)
                        .all(|(cid, item)| changed(child_rows.get(cid), item).is_empty());
                if unchanged {
                    continue;
                }
                let list = actions.entry(child.field.clone()).or_default();
                if !old.is_empty() {
                    list.push(json!(["delete", old]));
                }
                if !items.is_empty() {
                    list.push(json!(["create", items]));
                }
            }
            for (field, list) in actions {
                if !list.is_empty() {
                    values.insert(field, Value::Array(list));
                }
            }
            out.push(values);
        }
        Ok(out)
    }

    /// `read` of `ids` in chunks, by id.
    async fn read_rows(
        &self,
        model: &str,
        ids: &[i64],
        fields: &BTreeSet<String>,
    ) -> Result<HashMap<i64, Map<String, Value>>, ConnectorError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let rows = self
                .rpc
                .model(
                    model,
                    "read",
                    vec![json!(chunk), json!(fields)],
                    &self.opts.context,
                    Effect::Read,
                )
                .await?;
            for row in rows
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                if let Some(id) = row.get("id").and_then(Value::as_i64) {
                    out.insert(id, row.clone());
                }
            }
        }
        Ok(out)
    }

    /// Writes the updates: all in one call, or one by one when Tryton refuses the batch.
    async fn write_all(
        &self,
        updates: &[(usize, i64, Prepared)],
        values: Vec<Map<String, Value>>,
        results: &mut [Option<Result<Written, ConnectorError>>],
    ) -> Result<(), ConnectorError> {
        let mut pending = Vec::new();
        for ((i, id, _), v) in updates.iter().zip(values) {
            if v.is_empty() {
                results[*i] = Some(Ok(Written {
                    target_id: id.to_string(),
                }));
            } else {
                pending.push((*i, *id, v));
            }
        }
        let args = |records: &[(usize, i64, Map<String, Value>)]| -> Vec<Value> {
            records
                .iter()
                .flat_map(|(_, id, v)| [json!([id]), Value::Object(v.clone())])
                .collect()
        };
        let pending = &pending;
        let written = batch_then_each(
            pending.len(),
            REFUSALS,
            |n| updates_key(updates, pending[n].0).to_owned(),
            || async move {
                let _ = self.call("write", args(pending)).await?;
                Ok(vec![(); pending.len()])
            },
            |n| async move {
                let _ = self.call("write", args(&pending[n..=n])).await?;
                Ok(())
            },
        )
        .await?;
        for ((i, id, _), done) in pending.iter().zip(written) {
            results[*i] = Some(done.map(|()| Written {
                target_id: id.to_string(),
            }));
        }
        Ok(())
    }

    /// Creates the new records (one call, or one by one when Tryton refuses the batch), then
    /// runs the `on_create` buttons on them.
    async fn create_all(
        &self,
        meta: &Meta,
        creates: Vec<(usize, Prepared)>,
        results: &mut [Option<Result<Written, ConnectorError>>],
    ) -> Result<(), ConnectorError> {
        if creates.is_empty() {
            return Ok(());
        }
        let values = |records: &[(usize, Prepared)]| -> Value {
            let values = records
                .iter()
                .map(|(_, p)| Value::Object(self.create_values(meta, p)));
            Value::Array(values.collect())
        };
        let creates = &creates;
        let ids = batch_then_each(
            creates.len(),
            REFUSALS,
            |n| creates[n].1.key.clone(),
            || async move {
                let ids = self.call("create", vec![values(creates)]).await?;
                Ok(created_ids(&ids, creates.len()))
            },
            |n| async move {
                let ids = self.call("create", vec![values(&creates[n..=n])]).await?;
                Ok(created_ids(&ids, 1).remove(0))
            },
        )
        .await?;
        let mut created: Vec<(usize, i64, &str)> = Vec::new();
        for ((i, p), id) in creates.iter().zip(ids) {
            match id {
                Ok(Some(id)) => created.push((*i, id, &p.key)),
                Ok(None) => {
                    let why = format_args!("key `{}`: create returned no id for it", p.key);
                    results[*i] = Some(Err(self.fatal(why)));
                }
                Err(e) => results[*i] = Some(Err(e)),
            }
        }
        for button in &self.opts.on_create {
            if created.is_empty() {
                break;
            }
            let ids: Vec<i64> = created.iter().map(|(_, id, _)| *id).collect();
            match self.call(button, vec![json!(ids)]).await {
                Ok(_) => continue,
                Err(e) if whole_batch(&e) => return Err(e),
                Err(_) => {}
            }
            // One by one, to find which records the button refuses.
            let mut still = Vec::with_capacity(created.len());
            for (i, id, key) in created {
                match self.call(button, vec![json!([id])]).await {
                    Ok(_) => still.push((i, id, key)),
                    Err(e) if whole_batch(&e) => return Err(e),
                    Err(e) => results[i] = Some(Err(self.undo_create(id, key, button, e).await)),
                }
            }
            created = still;
        }
        for (i, id, _) in created {
            results[i] = Some(Ok(Written {
                target_id: id.to_string(),
            }));
        }
        Ok(())
    }

    /// A button refused a record just created: delete it, so that the next attempt creates
    /// it again and runs every button (Tryton runs each call in its own transaction, so
    /// create and buttons cannot be one). If Tryton refuses the delete too (a record past
    /// its draft state), the record stays and the error says so.
    async fn undo_create(
        &self,
        id: i64,
        key: &str,
        button: &str,
        e: ConnectorError,
    ) -> ConnectorError {
        let what = format!(
            "key `{key}`: created as id {id}, but `{button}` failed: {}",
            e.message()
        );
        match self.call("delete", vec![json!([id])]).await {
            Ok(_) => ConnectorError::new(e.kind(), format!("{what}; the new record was deleted")),
            Err(d) => ConnectorError::new(
                e.kind(),
                format!(
                    "{what}; deleting it failed too ({}), so it stays in Tryton as id {id} and the next attempt updates it without running `on_create`",
                    d.message()
                ),
            ),
        }
    }

    /// Deletes the records that still exist (by target id, else by key; archived ones
    /// too): in one call, or one by one when Tryton refuses the batch (a posted invoice or
    /// a confirmed sale cannot be deleted), so that each refusal is its record's error with
    /// Tryton's message and the others are deleted. A record already gone counts as deleted.
    async fn delete_all(
        &self,
        batch: &[Removal],
    ) -> Result<Vec<Result<(), ConnectorError>>, ConnectorError> {
        let probes: Vec<Outgoing> = batch
            .iter()
            .map(|r| Outgoing {
                key: r.key.clone(),
                target_id: r.target_id.clone(),
                fields: Map::new(),
            })
            .collect();
        let existing = self.find_existing(&probes).await?;
        let mut results: Vec<Result<(), ConnectorError>> = batch.iter().map(|_| Ok(())).collect();
        let found: Vec<(usize, i64)> = existing
            .iter()
            .enumerate()
            .filter_map(|(i, id)| id.map(|id| (i, id)))
            .collect();
        if found.is_empty() {
            return Ok(results);
        }
        // Two keys of a batch may name one record: each id is deleted once.
        let ids: BTreeSet<i64> = found.iter().map(|(_, id)| *id).collect();
        match self.call("delete", vec![json!(ids)]).await {
            Ok(_) => return Ok(results),
            Err(e) if whole_batch(&e) => return Err(e),
            Err(e) => {
                tracing::debug!(model = self.model(), error = %e, "Batch delete refused; deleting record by record.");
            }
        }
        let mut done: HashMap<i64, Result<(), ConnectorError>> = HashMap::new();
        for (i, id) in found {
            if let Entry::Vacant(slot) = done.entry(id) {
                slot.insert(match self.call("delete", vec![json!([id])]).await {
                    Ok(_) => Ok(()),
                    Err(e) if whole_batch(&e) => return Err(e),
                    Err(e) => {
                        Err(e.context(format!("key `{}` (id {id}): deleting it", batch[i].key)))
                    }
                });
            }
            results[i] = done[&id].clone();
        }
        Ok(results)
    }

    /// Writes the batch: each record to the one that exists (by target id, else by key),
    /// and with `create` the others as new records; without, a record not found is left
    /// alone and counts as done (an archive).
    async fn write_batch(
        &self,
        batch: &[Outgoing],
        create: bool,
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        let meta = self.meta().await?;
        let found = self.resolve_lookups(batch).await?;
        let existing = self.find_existing(batch).await?;
        let consumed = self.consumed();
        let mut results: Vec<Option<Result<Written, ConnectorError>>> = Vec::new();
        results.resize_with(batch.len(), || None);
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        for (i, (o, id)) in batch.iter().zip(existing).enumerate() {
            if id.is_none() && !create {
                results[i] = Some(Ok(Written {
                    target_id: o.target_id.clone().unwrap_or_default(),
                }));
                continue;
            }
            match self.prepare(meta, o, &found, &consumed)? {
                Err(e) => results[i] = Some(Err(e)),
                Ok(p) => match id {
                    Some(id) => updates.push((i, id, p)),
                    None => creates.push((i, p)),
                },
            }
        }
        let values = self.write_values(meta, &updates).await?;
        self.write_all(&updates, values, &mut results).await?;
        self.create_all(meta, creates, &mut results).await?;
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::fatal("record not written"))))
            .collect())
    }

    async fn call(&self, method: &str, args: Vec<Value>) -> Result<Value, ConnectorError> {
        self.rpc
            .model(
                self.model(),
                method,
                args,
                &self.opts.context,
                Effect::Write,
            )
            .await
    }
}

/// An error that concerns the whole batch rather than one record: the system is down or
/// slowing us down, or the credentials are refused.
/// How Tryton refuses a record's data: a `UserError`, a constraint, an exception of its own.
const REFUSALS: Refusals = Refusals::NotTransientOrAuth;

/// An error that fails the whole call rather than one record (see [`REFUSALS`]).
fn whole_batch(e: &ConnectorError) -> bool {
    !REFUSALS.of_data(e)
}

/// The ids a `create` of `count` records returned, in order; all `None` unless Tryton
/// returned exactly one id for each.
fn created_ids(ids: &Value, count: usize) -> Vec<Option<i64>> {
    let ids: Vec<i64> = ids
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    if ids.len() == count {
        ids.into_iter().map(Some).collect()
    } else {
        vec![None; count]
    }
}

fn updates_key(updates: &[(usize, i64, Prepared)], i: usize) -> &str {
    updates
        .iter()
        .find(|(j, _, _)| *j == i)
        .map_or("", |(_, _, p)| p.key.as_str())
}

fn lookup_key(lookup: &Lookup) -> (String, String) {
    (lookup.model.clone(), lookup.by.clone())
}

/// The item field mapped to child field `target` (or of the same name).
fn item_name_of<'a>(child: &'a ChildOptions, target: &'a str) -> Option<&'a str> {
    child
        .fields
        .iter()
        .find(|(_, f)| f.as_deref() == Some(target))
        .map(|(n, _)| n.as_str())
        .or_else(|| (child.from.is_some() && !child.fields.contains_key(target)).then_some(target))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The codes at a domain path of a row (a path through a one2many has several).
fn codes_at(row: &Map<String, Value>, path: &str) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            other => out.extend(key_text(other)),
        }
    }
    let mut out = Vec::new();
    walk(&crate::source::pick(row, path), &mut out);
    out
}

/// The id a lookup finds for `value`.
fn resolve(lookup: &Lookup, value: &Value, found: &Found) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let code = key_text(value).ok_or_else(|| format!("not a code: {value}"))?;
    found
        .get(&lookup_key(lookup))
        .and_then(|ids| ids.get(&code))
        .map(|id| Value::from(*id))
        .ok_or_else(|| format!("no `{}` with {} = `{code}`", lookup.model, lookup.by))
}

/// A child value: looked up by code, or converted to the child field's type.
fn child_value(
    child: &ChildOptions,
    child_meta: &HashMap<String, FieldMeta>,
    target: &str,
    value: &Value,
    found: &Found,
) -> Result<Value, String> {
    match child.lookup.get(target).filter(|l| l.from.is_none()) {
        Some(lookup) => resolve(lookup, value, found),
        None => to_tryton(value, child_meta.get(target).map_or("", |f| f.ty.as_str())),
    }
}

/// Ids in a one2many value read from Tryton.
fn ids_in(value: Option<&Value>) -> Vec<i64> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect()
}

/// The operations of a value written as Tryton's list operations on a many2many or
/// one2many field (`[["add", [7, 8]]]`, `[["create", [{…}]]]`): each operation's name and
/// arguments. `None` for any other value.
fn list_ops(value: &Value) -> Option<Vec<(&str, &[Value])>> {
    let ops = value.as_array().filter(|ops| !ops.is_empty())?;
    ops.iter()
        .map(|op| {
            let op = op.as_array()?;
            Some((op.first()?.as_str()?, op.get(1..).unwrap_or_default()))
        })
        .collect()
}

/// Whether a field as read from Tryton (`have`) already holds the value about to be written
/// (`new`). List operations are compared by the ids they leave on a new record (`add`ed
/// ids, less `remove`d ones) against the ids read, in any order; operations that make new
/// records (`create`, `copy`) or change others (`write`, `delete`) never match, so they are
/// written again.
fn holds(have: Option<&Value>, new: &Value) -> bool {
    let Some(have) = have else { return false };
    let Some(ops) = list_ops(new) else {
        return same(have, new);
    };
    let mut wanted: BTreeSet<i64> = BTreeSet::new();
    for (op, args) in ops {
        let ids = args
            .first()
            .map(|ids| ids_in(Some(ids)))
            .unwrap_or_default();
        match op {
            "add" => wanted.extend(ids),
            "remove" => ids.iter().for_each(|id| {
                wanted.remove(id);
            }),
            _ => return false,
        }
    }
    let read: BTreeSet<i64> = ids_in(Some(have)).into_iter().collect();
    have.is_array() && read == wanted
}

/// Whether a value read from Tryton (`have`) equals one about to be written (`new`), both
/// typed: the same plain JSON, the same decimal (`10.0` = `10.00`), or the same text
/// (`1` = `"1"`).
pub(crate) fn same(have: &Value, new: &Value) -> bool {
    same_value(&from_tryton(new.clone()), &from_tryton(have.clone()))
}

#[async_trait]
impl Sink for TrytonSink {
    async fn probe(&self) -> ferry_kit::Probe {
        self.inspect().await
    }

    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        self.write_batch(batch, true).await
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities {
            delete: true,
            update: true,
            scan: true,
            ..SinkCapabilities::default()
        }
    }

    async fn delete(
        &self,
        batch: &[Removal],
    ) -> Result<Vec<Result<(), ConnectorError>>, ConnectorError> {
        self.delete_all(batch).await
    }

    async fn update(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        self.write_batch(batch, false).await
    }

    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        self.scan_page(cursor, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_operations_are_compared_by_the_ids_they_leave() {
        let add = json!([["add", [7, 8]]]);
        assert!(holds(Some(&json!([8, 7])), &add), "any order");
        assert!(!holds(Some(&json!([7])), &add), "one missing");
        assert!(!holds(Some(&json!([7, 8, 9])), &add), "one too many");
        assert!(!holds(None, &add), "not read");
        assert!(holds(
            Some(&json!([7])),
            &json!([["add", [7, 8]], ["remove", [8]]])
        ));
        // New records each time: never the same.
        assert!(!holds(
            Some(&json!([3])),
            &json!([["create", [{"name": "x"}]]])
        ));
        // Plain values compare as before.
        assert!(holds(Some(&json!("10.00")), &json!("10.0")));
        assert!(holds(Some(&json!([1, 2])), &json!([1, 2])), "a plain list");
        assert!(list_ops(&json!([1, 2])).is_none());
        assert!(list_ops(&json!([])).is_none());
    }
}
