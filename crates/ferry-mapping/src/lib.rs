//! # ferry-mapping
//!
//! Turns a source record into its entity's **canonical fields**, as a flow's `mapping:` and
//! `validate:` sections say (see `ferry_model::config::mapping` for the YAML), and checks a
//! document's lines against its total when the flow asks (`totals:`).
//!
//! Everything is compiled once, at start-up and in `ferry check`, by
//! [`CompiledMapping::compile`]: paths are split, code tables copied, unit factors and exchange
//! rates looked up, time zones resolved, regular expressions and VRL compiled. A mistake is a
//! [`ConfigIssue`] at the YAML key at fault, so it is found before any record moves.
//! [`CompiledMapping::apply`] then does the per-record work only.
//!
//! Why it is shaped this way:
//! - **One VRL run per record.** All `expr:` rules of a flow are compiled into a single VRL
//!   program that returns every result at once; a flow without `expr:` and `vrl:` never touches
//!   VRL at all. The `vrl:` block (`.` = mapped record, `%source` = source fields, `%id` = the
//!   record id) is a second program that runs after the field rules.
//! - **Money is exact.** Unit, currency, tax and scale steps use `rust_decimal`, and decimal
//!   fields come out as strings (`"1234.50"`). A JSON float is read through its shortest text
//!   (`0.1` → `"0.1"`), never through f64 arithmetic.
//! - **Errors say where.** A [`MappingError`] names the flow, record, field (`lines[2].quantity`
//!   for document lines, numbered from 1 like `line_no`) and the offending value, and its
//!   [`kind`](MappingError::kind) is always `Validation`: the record goes to dead letters, not
//!   to a retry.
//!
//! [`lineage::source_fields`] reads a mapping the other way: which source fields a canonical
//! field is computed from (the server masks them where `server.mask` names the field).
//!
//! `CompiledMapping` is `Send + Sync`; share one in an `Arc` between workers. The VRL runtime
//! (local variables only) is kept per thread.

pub mod lineage;
mod rules;
mod script;
mod totals;
mod validate;
mod values;
mod vat;

use ferry_model::config::{Config, ConfigIssue, TotalsConfig, VatConfig};
use ferry_model::entity::Entity;
use ferry_model::{ErrorKind, FieldType, Record};
use serde_json::{Map, Value};
use vrl::compiler::{Program, TimeZone};

use crate::rules::{Compiler, RuleSet, Tables};
use crate::validate::Check;

/// A flow's mapping and validation rules, ready to apply to records.
#[derive(Debug)]
pub struct CompiledMapping {
    flow: String,
    entity: Entity,
    /// The flow's business key field, named in errors when its value is known.
    key_field: String,
    fields: RuleSet,
    tables: Tables,
    /// The `vrl:` program, run after the field rules.
    vrl: Option<Program>,
    /// Per field: its validation rules.
    checks: Vec<(String, Vec<Check>)>,
    /// The flow's `totals:`: the lines must add up to the header's total.
    totals: Option<TotalsConfig>,
    /// The flow's `vat:`: each line's VAT, per line to the fen.
    vat: Option<VatConfig>,
    /// The time zone VRL functions use when a value names none: always UTC, so results do not
    /// depend on the machine's local zone.
    tz: TimeZone,
}

/// A record that cannot be mapped or fails validation. Retrying will not help: dead-letter it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flow `{flow}`, record `{record_id}`, field `{field}`: {reason}")]
pub struct MappingError {
    /// The flow's name.
    pub flow: String,
    /// The source record's id.
    pub record_id: String,
    /// The canonical field (`email`, `lines[2].quantity`).
    pub field: String,
    /// What is wrong, with the offending value (cut to about 60 characters).
    pub reason: String,
    /// The record's business key, when it mapped before the failure (validation errors).
    pub key: Option<String>,
}

impl MappingError {
    /// Always [`ErrorKind::Validation`]: the record itself is wrong.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Validation
    }
}

impl CompiledMapping {
    /// Compiles every rule of `config.flows[flow_name]`: the field map, its `vrl:` block and
    /// the `validate:` rules. Every problem found is returned (not only the first), each at its
    /// key path (`["flows", flow, "mapping", field, "expr"]`, `[…, "validate", field]`) so the
    /// caller can render it as file:line; VRL's own diagnostic is in the message.
    pub fn compile(config: &Config, flow_name: &str) -> Result<Self, Vec<ConfigIssue>> {
        let Some(flow) = config.flows.get(flow_name) else {
            return Err(vec![ConfigIssue::new(
                ["flows"],
                format!("unknown flow `{flow_name}`"),
            )]);
        };
        let at = |rest: &[&str]| {
            let mut p = vec!["flows".to_owned(), flow_name.to_owned()];
            p.extend(rest.iter().map(|s| (*s).to_owned()));
            p
        };
        let fns = script::functions();
        let mut compiler = Compiler {
            config,
            fns: &fns,
            issues: Vec::new(),
        };
        let entity = flow.entity;
        let catalogue = |name: &str| entity.field(name);
        let fields = compiler.rule_set(&flow.mapping.fields, &at(&["mapping"]), &catalogue);

        let vrl =
            flow.mapping
                .vrl
                .as_deref()
                .and_then(|source| match script::compile(source, &fns) {
                    Ok(program) => Some(program),
                    Err(message) => {
                        compiler
                            .issues
                            .push(ConfigIssue::at(at(&["mapping", "vrl"]), message));
                        None
                    }
                });

        let mut checks = Vec::with_capacity(flow.validate.len());
        for (field, rules) in &flow.validate {
            let mut compiled = Vec::with_capacity(rules.len());
            for rule in rules {
                match Check::compile(rule) {
                    Ok(check) => compiled.push(check),
                    Err(message) => compiler
                        .issues
                        .push(ConfigIssue::at(at(&["validate", field]), message)),
                }
            }
            checks.push((field.clone(), compiled));
        }

        if !compiler.issues.is_empty() {
            return Err(compiler.issues);
        }
        Ok(Self {
            flow: flow_name.to_owned(),
            key_field: flow.key().to_owned(),
            entity,
            fields,
            tables: Tables::new(config),
            vrl,
            checks,
            totals: flow.totals.clone(),
            vat: flow.vat.clone(),
            tz: TimeZone::parse("UTC").unwrap_or_default(),
        })
    }

    /// Maps and validates one source record, returning its canonical fields in the order of
    /// the mapping (fields added by `vrl:` after them). Every mapped field is present; an
    /// empty one is `null`.
    pub fn apply(&self, record: &Record) -> Result<Map<String, Value>, MappingError> {
        let error = |field: String, reason: String| MappingError {
            flow: self.flow.clone(),
            record_id: record.id.clone(),
            field,
            reason,
            key: None,
        };
        let mut mapped = self
            .fields
            .apply(&record.fields, &self.tables, &self.tz)
            .map_err(|e| error(e.field, e.reason))?;

        if let Some(program) = &self.vrl {
            let result =
                script::run_program(program, &mapped, &record.fields, &record.id, &self.tz)
                    .map_err(|reason| error("vrl".to_owned(), reason))?;
            mapped = self
                .merge(mapped, result)
                .map_err(|(field, reason)| error(field, reason))?;
        }

        // VAT computes line amounts the checks below then see.
        let vat = match &self.vat {
            Some(vat) => vat::apply(vat, self.entity, &mut mapped),
            None => Ok(()),
        };
        // A record that maps but fails a check keeps its business key, so its dead letter
        // can be found by key.
        let refused = |field: String, reason: String| MappingError {
            key: match mapped.get(&self.key_field) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            },
            ..error(field, reason)
        };
        vat.map_err(|(field, reason)| refused(field, reason))?;
        for (field, checks) in &self.checks {
            let value = mapped.get(field);
            for check in checks {
                check
                    .check(value)
                    .map_err(|reason| refused(field.clone(), reason))?;
            }
        }
        if let Some(totals) = &self.totals {
            totals::check(totals, &mapped).map_err(|(field, reason)| refused(field, reason))?;
        }
        Ok(mapped)
    }

    /// Takes the `vrl:` program's object: keeps the mapping's field order, appends new fields,
    /// drops removed ones, and normalises canonical fields to their types again (a program may
    /// well set `.credit_limit = 12.5`).
    fn merge(
        &self,
        before: Map<String, Value>,
        mut after: Map<String, Value>,
    ) -> Result<Map<String, Value>, (String, String)> {
        let mut out = Map::with_capacity(after.len());
        let keys = before.keys().cloned().chain(
            after
                .keys()
                .filter(|k| !before.contains_key(*k))
                .cloned()
                .collect::<Vec<_>>(),
        );
        for key in keys {
            let Some(value) = after.remove(&key) else {
                continue;
            };
            let kind = self
                .entity
                .field(&key)
                .map(|f| f.ty)
                .filter(|ty| *ty != FieldType::Lines);
            let value = match kind {
                Some(_) => {
                    rules::normalise_json(value, kind).map_err(|reason| (key.clone(), reason))?
                }
                None => value,
            };
            out.insert(key, value);
        }
        Ok(out)
    }

    /// Whether applying runs VRL (a flow with neither `expr:` nor `vrl:` does not).
    #[cfg(test)]
    pub(crate) fn uses_vrl(&self) -> bool {
        self.vrl.is_some() || self.fields.uses_vrl()
    }
}

#[cfg(test)]
mod tests;
