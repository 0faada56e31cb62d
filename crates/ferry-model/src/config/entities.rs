//! Entities a workspace declares (`entities:`): the objects of its own that no built-in fits (a
//! Jiandaoyun form, a Salesforce custom object, a Dynamics table).
//!
//! ```yaml
//! entities:
//!   visit_report:
//!     doc: A sales visit, as the Jiandaoyun form records it.
//!     key: report_no                    # text or integer
//!     fields:
//!       report_no: text                 # name: type (text, integer, decimal, bool, date,
//!       customer_code: text             #   datetime, lines)
//!       amount: { type: decimal, doc: Order value promised. }
//!       visit_date: date
//!       status: text
//!       lines:                          # line items; without `fields:`, the built-in
//!         type: lines                   #   documents' line fields (sku, quantity…)
//!         fields: { item: text, quantity: decimal }
//!     states:                           # optional: the machine `status` follows
//!       initial: [draft]
//!       transitions: { draft: [submitted], submitted: [approved, rejected], approved: [], rejected: [] }
//! ```
//!
//! A flow names a declared entity like a built-in one (`entity: visit_report`) and every
//! feature works on it: mapping (field names and types), validation, `depends_on`, `states: {}`
//! (its own machine), totals (when its lines have the amounts), pairs and reconcile.
//!
//! A declaration becomes an [`Entity`] by [`intern`]: the definition is leaked once per
//! distinct declaration, so that `Entity` stays a `Copy` handle and reloading the same file
//! leaks nothing new; two workspaces that declare one name differently get two definitions.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::ConfigIssue;
use crate::entity::{Entity, EntityDef, FieldDef, FieldType, LINE_FIELDS, MachineDef};

/// One declared entity.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityDecl {
    /// What the entity is, for the people reading the file.
    #[serde(default)]
    pub doc: Option<String>,
    /// The field that identifies a record in every system (text or integer): the business
    /// key flows upsert by unless they name another.
    #[serde(default)]
    pub key: Option<String>,
    /// The fields, in order: `name: type`, or `name: { type, doc, fields }`.
    pub fields: IndexMap<String, FieldDecl>,
    /// The state machine its `status` field follows (a flow's `states: {}` uses it).
    #[serde(default)]
    pub states: Option<MachineDecl>,
}

/// One declared field: its type, what it means and, for `lines`, each line's fields.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = shorthand_schema)]
pub struct FieldDecl {
    /// text, integer, decimal, bool, date, datetime or lines.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// What it means.
    #[serde(default)]
    pub doc: Option<String>,
    /// For a `lines` field: the fields of each line. Default: the built-in documents' line
    /// fields (line_no, sku, description, quantity, uom, unit_price, discount…).
    #[serde(default)]
    pub fields: Option<IndexMap<String, FieldDecl>>,
}

/// A declared entity's state machine: where a record may start and where each state may go.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineDecl {
    /// The states a record may have when Ferry first writes it.
    pub initial: Vec<String>,
    /// Each state and the states it may move to; a final state has an empty list.
    pub transitions: IndexMap<String, Vec<String>>,
}

fn shorthand_schema(schema: &mut schemars::Schema) {
    super::or_shorthand(
        schema,
        "The field's type (shorthand for `{ type: … }`): text, integer, decimal, bool, date, \
         datetime or lines.",
    );
}

// `amount: decimal` beside `amount: { type: decimal, doc: … }`, keeping serde's own messages
// for the map form (an untagged enum would lose them).
impl<'de> Deserialize<'de> for FieldDecl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = FieldDecl;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a type (text, decimal…) or a map with `type`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldDecl, E> {
                let ty = FieldType::deserialize(v.into_deserializer()).map_err(|_: E| {
                    E::custom(format!(
                        "unknown type `{v}` (types: text, integer, decimal, bool, date, \
                         datetime, lines)"
                    ))
                })?;
                Ok(FieldDecl {
                    ty,
                    doc: None,
                    fields: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldDecl, A::Error> {
                #[derive(Deserialize)]
                #[serde(remote = "FieldDecl", deny_unknown_fields)]
                struct Full {
                    #[serde(rename = "type")]
                    ty: FieldType,
                    #[serde(default)]
                    doc: Option<String>,
                    #[serde(default)]
                    fields: Option<IndexMap<String, FieldDecl>>,
                }
                Full::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_any(FieldVisitor)
    }
}

/// Checks every declaration; problems are reported at `entities.<name>[.fields.<field>…]`.
pub(crate) fn check(entities: &IndexMap<String, EntityDecl>, issues: &mut Vec<ConfigIssue>) {
    for (name, decl) in entities {
        let at = |rest: &[&str]| {
            let mut p = vec!["entities".to_owned(), name.clone()];
            p.extend(rest.iter().map(|s| (*s).to_owned()));
            p
        };
        if Entity::builtin(name).is_some() {
            issues.push(ConfigIssue::at(
                at(&[]),
                format!(
                    "`{name}` is a built-in entity: pick another name, or use the built-in \
                     (extra attributes go under `extra.`)"
                ),
            ));
        } else if !is_identifier(name) {
            issues.push(ConfigIssue::at(
                at(&[]),
                format!(
                    "`{name}` is not an entity name: use lower-case letters, digits and `_`, \
                     starting with a letter"
                ),
            ));
        }
        if decl.fields.is_empty() {
            issues.push(ConfigIssue::at(
                at(&["fields"]),
                format!("{name} declares no field"),
            ));
        }
        check_fields(name, &decl.fields, &at(&["fields"]), false, issues);
        check_key(name, decl, &at, issues);
        if let Some(machine) = &decl.states {
            check_machine(name, decl, machine, &at, issues);
        }
    }
}

fn check_fields(
    entity: &str,
    fields: &IndexMap<String, FieldDecl>,
    at: &[String],
    in_lines: bool,
    issues: &mut Vec<ConfigIssue>,
) {
    for (field, decl) in fields {
        let here = |rest: &[&str]| {
            let mut p = at.to_vec();
            p.push(field.clone());
            p.extend(rest.iter().map(|s| (*s).to_owned()));
            p
        };
        if !is_identifier(field) {
            issues.push(ConfigIssue::at(
                here(&[]),
                format!(
                    "`{field}` of {entity} is not a field name: use lower-case letters, digits \
                     and `_`, starting with a letter (undeclared attributes go under `extra.` \
                     in mappings)"
                ),
            ));
        }
        match (decl.ty, &decl.fields) {
            (FieldType::Lines, _) if in_lines => issues.push(ConfigIssue::at(
                here(&["type"]),
                format!("line field `{field}` of {entity} cannot hold lines itself"),
            )),
            (FieldType::Lines, Some(line_fields)) => {
                if line_fields.is_empty() {
                    issues.push(ConfigIssue::at(
                        here(&["fields"]),
                        format!(
                            "`{field}` of {entity} declares no line field (leave `fields` out \
                             for the built-in line fields)"
                        ),
                    ));
                }
                check_fields(entity, line_fields, &here(&["fields"]), true, issues);
            }
            (FieldType::Lines, None) => {}
            (ty, Some(_)) => issues.push(ConfigIssue::at(
                here(&["fields"]),
                format!(
                    "`{field}` of {entity} is a {} field: `fields` is only for `lines`",
                    ty.as_str()
                ),
            )),
            (_, None) => {}
        }
    }
}

fn check_key(
    entity: &str,
    decl: &EntityDecl,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    issues: &mut Vec<ConfigIssue>,
) {
    let Some(key) = &decl.key else {
        issues.push(ConfigIssue::at(
            at(&[]),
            format!(
                "{entity} has no key: name the field that identifies a record (`key: {}`)",
                decl.fields.keys().next().map_or("number", String::as_str)
            ),
        ));
        return;
    };
    match decl.fields.get(key) {
        Some(field) if matches!(field.ty, FieldType::Text | FieldType::Integer) => {}
        Some(field) => issues.push(ConfigIssue::at(
            at(&["key"]),
            format!(
                "key `{key}` of {entity} is a {} field; a key must be text or integer",
                field.ty.as_str()
            ),
        )),
        None => issues.push(ConfigIssue::at(
            at(&["key"]),
            super::words::unknown_name(
                &format!("field of {entity}"),
                key,
                &decl.fields.keys().map(String::as_str).collect::<Vec<_>>(),
            ),
        )),
    }
}

fn check_machine(
    entity: &str,
    decl: &EntityDecl,
    machine: &MachineDecl,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    issues: &mut Vec<ConfigIssue>,
) {
    if decl.fields.get("status").map(|f| f.ty) != Some(FieldType::Text) {
        issues.push(ConfigIssue::at(
            at(&["states"]),
            format!("a state machine governs `status`: declare `status: text` in {entity}"),
        ));
    }
    let machine_at = |rest: &[&str]| {
        let mut p = vec!["states"];
        p.extend(rest);
        at(&p)
    };
    match super::states::custom(&machine.transitions, false, &machine_at) {
        Ok(checked) => {
            if machine.initial.is_empty() {
                issues.push(ConfigIssue::at(
                    machine_at(&["initial"]),
                    format!("name at least one state a new {entity} may start in"),
                ));
            }
            for state in &machine.initial {
                if !checked.has(state) {
                    issues.push(ConfigIssue::at(
                        machine_at(&["initial"]),
                        format!(
                            "`{state}` is not a state of the {entity} machine (states: {})",
                            checked.states().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
        Err(found) => issues.extend(found),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The entity a declaration defines: the same definition for the same declaration, built
/// (and leaked) the first time it is seen. An invalid declaration still yields an entity, so
/// that its flows are checked too; [`check`] reports what is wrong with it.
pub fn intern(name: &str, decl: &EntityDecl) -> Entity {
    static INTERNED: OnceLock<Mutex<HashMap<String, &'static EntityDef>>> = OnceLock::new();
    // The whole declaration is the identity: a changed doc or field is a new definition.
    let identity = serde_json::to_string(&(name, decl)).expect("a declaration serializes");
    let mut interned = INTERNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let def = *interned.entry(identity).or_insert_with(|| {
        Box::leak(Box::new(EntityDef {
            name: leak(name),
            fields: leak_fields(&decl.fields, decl.key.as_deref()),
            machine: decl.states.as_ref().map(|m| MachineDef {
                initial: m.initial.iter().map(|s| leak(s)).collect::<Vec<_>>().leak(),
                transitions: m
                    .transitions
                    .iter()
                    .map(|(from, to)| {
                        let to: &'static [&'static str] =
                            to.iter().map(|s| leak(s)).collect::<Vec<_>>().leak();
                        (leak(from), to)
                    })
                    .collect::<Vec<_>>()
                    .leak(),
            }),
            declared: true,
        }))
    });
    Entity::from_def(def)
}

/// Every declared entity, for resolving flows' `entity:` names.
pub(crate) fn intern_all(entities: &IndexMap<String, EntityDecl>) -> Vec<Entity> {
    entities
        .iter()
        .map(|(name, decl)| intern(name, decl))
        .collect()
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

fn leak_fields(fields: &IndexMap<String, FieldDecl>, key: Option<&str>) -> &'static [FieldDef] {
    fields
        .iter()
        .map(|(name, decl)| FieldDef {
            name: leak(name),
            ty: decl.ty,
            key: key == Some(name.as_str()),
            doc: leak(decl.doc.as_deref().unwrap_or("")),
            lines: match (decl.ty, &decl.fields) {
                (FieldType::Lines, Some(line_fields)) => leak_fields(line_fields, None),
                (FieldType::Lines, None) => LINE_FIELDS,
                _ => &[],
            },
        })
        .collect::<Vec<_>>()
        .leak()
}
