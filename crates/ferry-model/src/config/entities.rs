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
//!       lines:                          # line items (always `lines`); without `fields:`,
//!         type: lines                   #   the built-in line fields (sku, quantity…)
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
//! A declaration becomes an [`Entity`] when the file is read (`intern`): leaked once per
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
            (FieldType::Lines, _) if field != "lines" => issues.push(ConfigIssue::at(
                here(&["type"]),
                format!(
                    "`{field}` of {entity} is a lines field: call it `lines` (connectors, \
                     `totals:` and `depends_on` find line items under that name)"
                ),
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
pub(crate) fn intern(name: &str, decl: &EntityDecl) -> Entity {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::load_str;
    use crate::entity::{Entity, FieldType, LINE_FIELDS};
    use crate::states::{Previous, StateMachine};

    const BASE: &str = "\
entities:
  visit_report:
    key: report_no
    fields:
      report_no: text
      customer_code: text
      amount: { type: decimal, doc: Order value promised. }
      visit_date: date
      status: text
      lines:
        type: lines
        fields: { item: text, quantity: decimal }
    states:
      initial: [draft]
      transitions: { draft: [submitted], submitted: [approved, rejected], approved: [], rejected: [] }
systems:
  jdy: { kind: sql, url: \"sqlite://jdy.db\" }
  erp: { kind: sql, url: \"sqlite://erp.db\" }
flows:
  visits:
    entity: visit_report
    source: { system: jdy, table: forms }
    target: { system: erp, table: visits }
    mapping:
      report_no: form_no
      amount: amt
";

    fn problems(yaml: &str) -> Vec<String> {
        match load_str(Path::new("ferry.yaml"), yaml) {
            Ok(_) => vec![],
            Err(e) => e.problems,
        }
    }

    /// Replaces `from` (which must be in BASE) and returns the one problem reported.
    fn one_problem(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "{from}");
        let found = problems(&BASE.replacen(from, to, 1));
        assert_eq!(found.len(), 1, "{found:?}");
        found.into_iter().next().unwrap()
    }

    #[test]
    fn a_declared_entity_is_resolved_and_used_like_a_built_in() {
        let loaded = load_str(Path::new("ferry.yaml"), BASE).unwrap();
        let flow = &loaded.config.flows["visits"];
        assert_eq!(flow.entity.as_str(), "visit_report");
        assert!(flow.entity.is_declared());
        assert_eq!(flow.key(), "report_no");
        assert_eq!(flow.entity.field("amount").unwrap().ty, FieldType::Decimal);
        assert_eq!(
            flow.entity.field("amount").unwrap().doc,
            "Order value promised."
        );
        let items = flow.entity.field("lines").unwrap();
        assert_eq!(
            items.lines.iter().map(|f| f.name).collect::<Vec<_>>(),
            ["item", "quantity"]
        );
        let machine = StateMachine::of(flow.entity).unwrap();
        assert_eq!(machine.name(), "visit_report");
        assert!(machine.check(Previous::State("approved"), "draft").is_err());
        assert_eq!(loaded.config.entity("visit_report"), Some(flow.entity));
        assert_eq!(loaded.config.entity("quotation"), Some(Entity::QUOTATION));
        assert_eq!(loaded.config.entity("spaceship"), None);
    }

    #[test]
    fn the_same_declaration_is_one_definition_and_another_is_another() {
        let first = load_str(Path::new("a.yaml"), BASE).unwrap();
        let again = load_str(Path::new("b.yaml"), BASE).unwrap();
        let a = first.config.flows["visits"].entity;
        let b = again.config.flows["visits"].entity;
        assert!(std::ptr::eq(a.fields(), b.fields()), "reloading leaks anew");
        // Another workspace may declare the name differently: it gets its own definition.
        let other = load_str(
            Path::new("c.yaml"),
            &BASE.replace("amount: { type: decimal", "amount: { type: integer"),
        )
        .unwrap();
        let c = other.config.flows["visits"].entity;
        assert_eq!(c.field("amount").unwrap().ty, FieldType::Integer);
        assert_eq!(a.field("amount").unwrap().ty, FieldType::Decimal);
    }

    #[test]
    fn lines_without_declared_fields_are_the_built_in_line_fields() {
        let yaml = BASE.replace(
            "        type: lines\n        fields: { item: text, quantity: decimal }\n",
            "        type: lines\n",
        );
        let loaded = load_str(Path::new("ferry.yaml"), &yaml).unwrap();
        let items = loaded.config.flows["visits"].entity.field("lines").unwrap();
        assert_eq!(items.lines, LINE_FIELDS);
    }

    #[test]
    fn each_mistake_in_a_declaration_names_the_entity_the_field_and_the_reason() {
        let cases = [
            (
                ("      visit_date: date\n", "      visit_date: day\n"),
                "ferry.yaml:8:19: entities.visit_report.fields.visit_date: unknown type `day` \
                 (types: text, integer, decimal, bool, date, datetime, lines)",
            ),
            (
                ("    key: report_no\n", ""),
                "ferry.yaml:2:3: entities.visit_report: visit_report has no key: name the \
                 field that identifies a record (`key: report_no`)",
            ),
            (
                ("    key: report_no\n", "    key: amount\n"),
                "ferry.yaml:3:5: entities.visit_report.key: key `amount` of visit_report is a \
                 decimal field; a key must be text or integer",
            ),
            (
                ("    key: report_no\n", "    key: report\n"),
                "ferry.yaml:3:5: entities.visit_report.key: unknown field of visit_report \
                 `report`; did you mean `report_no`?",
            ),
            (
                (
                    "      visit_date: date\n",
                    "      visit_date: date\n      amount: decimal\n",
                ),
                "ferry.yaml:9:7: entities.visit_report.fields: `amount` is written twice in \
                 the same map",
            ),
            (
                ("      visit_date: date\n", "      Visit-Date: date\n"),
                "ferry.yaml:8:7: entities.visit_report.fields.Visit-Date: `Visit-Date` of \
                 visit_report is not a field name: use lower-case letters, digits and `_`, \
                 starting with a letter (undeclared attributes go under `extra.` in mappings)",
            ),
            (
                (
                    "      visit_date: date\n",
                    "      visit_date: { type: date, fields: {} }\n",
                ),
                "ferry.yaml:8:33: entities.visit_report.fields.visit_date.fields: \
                 `visit_date` of visit_report is a date field: `fields` is only for `lines`",
            ),
            (
                (
                    "{ item: text, quantity: decimal }",
                    "{ item: text, sub: lines }",
                ),
                "ferry.yaml:12:31: entities.visit_report.fields.lines.fields.sub.type: line \
                 field `sub` of visit_report cannot hold lines itself",
            ),
            (
                (
                    "      visit_date: date\n",
                    "      visit_date: date\n      rows: lines\n",
                ),
                "ferry.yaml:9:7: entities.visit_report.fields.rows.type: `rows` of visit_report \
                 is a lines field: call it `lines` (connectors, `totals:` and `depends_on` find \
                 line items under that name)",
            ),
            (
                (
                    "submitted: [approved, rejected]",
                    "submitted: [aproved, rejected]",
                ),
                "ferry.yaml:15:42: entities.visit_report.states.transitions.submitted: \
                 unknown state `aproved` in `transitions.submitted` (states are the keys of \
                 `transitions`: draft, submitted, approved, rejected; write a final state as \
                 `aproved: []`)",
            ),
            (
                ("initial: [draft]", "initial: [new]"),
                "ferry.yaml:14:7: entities.visit_report.states.initial: `new` is not a state \
                 of the visit_report machine (states: draft, submitted, approved, rejected)",
            ),
            (
                ("      status: text\n", "      status: integer\n"),
                "ferry.yaml:13:5: entities.visit_report.states: a state machine governs \
                 `status`: declare `status: text` in visit_report",
            ),
        ];
        for ((from, to), expected) in cases {
            assert_eq!(one_problem(from, to), expected, "{from} → {to}");
        }
        let clash = problems(&BASE.replace("visit_report", "quotation"));
        assert!(
            clash.contains(
                &"ferry.yaml:2:3: entities.quotation: `quotation` is a built-in entity: pick \
                  another name, or use the built-in (extra attributes go under `extra.`)"
                    .to_owned()
            ),
            "{clash:?}"
        );
    }

    #[test]
    fn the_example_of_docs_model_md_loads() {
        let markdown = crate::entity::model_markdown();
        let example = markdown
            .split("```yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/model.md has a YAML example");
        let loaded = load_str(Path::new("ferry.yaml"), example)
            .unwrap_or_else(|e| panic!("{}", e.problems.join("\n")));
        assert_eq!(
            loaded.config.flows["visits"].entity.as_str(),
            "visit_report"
        );
    }

    #[test]
    fn a_flow_naming_an_undeclared_entity_lists_the_declared_ones_too() {
        let problem = one_problem("    entity: visit_report\n", "    entity: visit_reprot\n");
        assert!(
            problem.starts_with(
                "ferry.yaml:21:13: flows.visits.entity: `visit_reprot` is not one of customer,"
            ),
            "{problem}"
        );
        assert!(
            problem.ends_with("purchase_order, visit_report; did you mean `visit_report`?"),
            "{problem}"
        );
    }

    #[test]
    fn mappings_validation_and_states_check_declared_fields_and_types() {
        let problem = one_problem("      amount: amt\n", "      amont: amt\n");
        assert!(
            problem.contains(
                "flows.visits.mapping.amont: unknown field `amont` for entity visit_report; did \
                 you mean `amount`?"
            ),
            "{problem}"
        );
        let problem = one_problem(
            "      amount: amt\n",
            "      amount: amt\n      lines: { from: rows, fields: { qty: q } }\n",
        );
        assert!(
            problem.contains("mapping.lines.fields.qty: unknown line field `qty`"),
            "{problem}"
        );
        let problem = one_problem(
            "      amount: amt\n",
            "      amount: amt\n    validate:\n      amout: [required]\n",
        );
        assert!(
            problem.contains("validate.amout: unknown field `amout` for entity visit_report"),
            "{problem}"
        );
        // `states: {}` takes the declared machine; a code that is no state is refused.
        let yaml = BASE.replace(
            "      amount: amt\n",
            "      amount: amt\n      status: { from: st, codes: { \"1\": draft, \"2\": done } }\n    states: {}\n",
        );
        let found = problems(&yaml);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("`done` is not a state of the visit_report machine"),
            "{found:?}"
        );
    }
}
