//! `ferry check --live` for Tryton models: the model's fields come from `fields_get`, every
//! field the options and the mapping name is looked up there (the first step of a dotted
//! path), and a source's `search_read` runs once with its `domain` and a limit of 1. Nothing
//! is written.

use std::collections::HashMap;

use serde_json::Value;

use crate::sink::{FieldMeta, TrytonSink, fields_of};
use crate::source::TrytonSource;
use ferry_kit::Probe;
use ferry_kit::probe::did_you_mean;

/// The first step of a dotted path (`party.name` → `party`).
fn head(path: &str) -> &str {
    path.split_once('.').map_or(path, |(h, _)| h)
}

/// "model `m` has no field `f`", with the nearest field's name.
fn no_field(model: &str, field: &str, known: &HashMap<String, FieldMeta>) -> String {
    format!(
        "model `{model}` has no field `{field}`{}",
        did_you_mean(field, known.keys().map(String::as_str))
    )
}

impl TrytonSource {
    /// The live check of a source: see the module docs.
    pub(super) async fn inspect(&self) -> Probe {
        let model = &self.opts.model;
        let mut probe = Probe::default();
        let known = match fields_of(&self.rpc, model).await {
            Ok(known) => known,
            Err(e) => {
                probe.option(&["model"], e.message());
                return probe;
            }
        };
        for f in &self.opts.fields {
            if !known.contains_key(head(f)) {
                probe.option(&["fields"], no_field(model, head(f), &known));
            }
        }
        if !known.contains_key(head(&self.opts.id_field)) {
            let message = no_field(model, head(&self.opts.id_field), &known);
            probe.option(&["id_field"], message);
        }
        for child in self.opts.children.keys() {
            match known.get(child) {
                None => probe.option(&["children", child], no_field(model, child, &known)),
                Some(f) if f.ty != "one2many" => probe.option(
                    &["children", child],
                    format!("`{child}` is a {} field, not a one2many", f.ty),
                ),
                Some(_) => {}
            }
        }
        if probe.is_ok()
            && let Err(e) = self
                .search_read(self.user_domain(), Some(1), Value::Null)
                .await
        {
            let at: &[&str] = if self.opts.domain.is_empty() {
                &[]
            } else {
                &["domain"]
            };
            probe.option(at, format!("reading one record failed: {}", e.message()));
        }
        let mut carried = self.opts.fields.clone();
        carried.extend(self.opts.children.keys().cloned());
        probe.carries(carried, "the source's `fields` and `children`");
        probe
    }
}

impl TrytonSink {
    /// The live check of a target: the model, the key, `defaults`, `lookup` and `children`
    /// (as a write would check them first), then the field of every mapped field.
    pub(super) async fn inspect(&self) -> Probe {
        let mut probe = Probe::default();
        let meta = match self.meta().await {
            Ok(meta) => meta,
            Err(e) => return Probe::failed(&e),
        };
        let consumed = self.consumed();
        for field in &self.fields {
            if consumed.contains(field.as_str()) || *field == self.key_field {
                continue;
            }
            let Some(target) = self.opts().field_of(field) else {
                continue;
            };
            if !meta.fields.contains_key(head(target)) {
                let message = no_field(self.model(), head(target), &meta.fields);
                if self.opts().fields.contains_key(field) {
                    probe.option(&["fields", field], message);
                } else {
                    probe.mapped(field, message);
                }
            }
        }
        probe
    }
}
