//! A flow's references to records that other flows sync: an order names its customer by the
//! customer's business key, and the target wants the customer's id in *its* system.
//!
//! ```yaml
//! flows:
//!   orders:                       # crm → erp
//!     depends_on:
//!       customer_code: customers  # customers (crm → erp) must have synced this customer
//!       lines.sku: { flow: products, into: product_id }   # products run erp → crm
//! ```
//!
//! Before writing, the engine looks each referenced key up in the other flow's xref and puts
//! the id the target knows it by into `into` (default `<field>_id`, beside the field; inside
//! each line for `lines.*`). The other flow may run either way between the same two systems:
//! when it writes to our target, the id is its target id; when it reads from our target, its
//! source id. A record whose reference is not synced yet is not written and not lost: it waits
//! in the queue, and the engine runs the other flow before trying it again.

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Config, ConfigIssue, FlowConfig};
use crate::entity::FieldType;

/// One reference: which flow syncs the records this field names, and where their id goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = shorthand_schema)]
pub struct Dependency {
    /// The flow whose business keys this field holds.
    pub flow: String,
    /// The field the resolved id is written to (default: `<field>_id`).
    #[serde(default)]
    pub into: Option<String>,
}

fn shorthand_schema(schema: &mut schemars::Schema) {
    super::or_shorthand(schema, "The flow (shorthand for `{ flow: … }`).");
}

impl<'de> Deserialize<'de> for Dependency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DependencyVisitor;
        impl<'de> Visitor<'de> for DependencyVisitor {
            type Value = Dependency;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a flow name or a map with `flow` and `into`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dependency, E> {
                Ok(Dependency {
                    flow: v.to_owned(),
                    into: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dependency, A::Error> {
                #[derive(Deserialize)]
                #[serde(remote = "Dependency", deny_unknown_fields)]
                struct Full {
                    flow: String,
                    #[serde(default)]
                    into: Option<String>,
                }
                Full::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_any(DependencyVisitor)
    }
}

/// Which of the other flow's ids is the one our target knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefSide {
    /// The other flow writes to our target: take its target id.
    Target,
    /// The other flow reads from our target: take its source id.
    Source,
}

/// A reference checked against the config, ready for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDependency {
    /// The field holding the key (`customer_code`), or the line field for `lines.*` (`sku`).
    pub field: String,
    /// Whether the field is inside each line.
    pub in_lines: bool,
    /// The other flow.
    pub flow: String,
    /// Where the id goes (beside the field, in the record or in each line).
    pub into: String,
    /// Which id of the other flow's xref to take.
    pub side: RefSide,
}

/// Checks a flow's `depends_on` and resolves each entry; problems are reported at
/// `flows.<flow>.depends_on.<field>`.
pub fn resolve(
    config: &Config,
    flow_name: &str,
    flow: &FlowConfig,
) -> Result<Vec<ResolvedDependency>, Vec<ConfigIssue>> {
    let mut out = Vec::new();
    let mut issues = Vec::new();
    for (path, dep) in &flow.depends_on {
        let at = |rest: &[&str]| {
            let mut p = vec![
                "flows".to_owned(),
                flow_name.to_owned(),
                "depends_on".to_owned(),
                path.clone(),
            ];
            p.extend(rest.iter().map(|s| (*s).to_owned()));
            p
        };
        let (field, in_lines) = match path.strip_prefix("lines.") {
            Some(line_field) => (line_field, true),
            None => (path.as_str(), false),
        };
        let known = if in_lines {
            flow.entity.field("lines").is_some_and(|f| {
                f.ty == FieldType::Lines && f.lines.iter().any(|f| f.name == field)
            })
        } else {
            flow.entity.field(field).is_some() || field.starts_with("extra.")
        };
        if !known {
            issues.push(ConfigIssue::at(
                at(&[]),
                format!("`{path}` is not a field of {}", flow.entity),
            ));
        }
        let Some(other) = config.flows.get(&dep.flow) else {
            let known: Vec<_> = config.flows.keys().map(String::as_str).collect();
            issues.push(ConfigIssue::at(
                at(&["flow"]),
                super::words::unknown_name("flow", &dep.flow, &known),
            ));
            continue;
        };
        if dep.flow == flow_name {
            issues.push(ConfigIssue::at(
                at(&["flow"]),
                "a flow cannot depend on itself",
            ));
            continue;
        }
        let ours = (&flow.source.system, &flow.target.system);
        let side = if (&other.source.system, &other.target.system) == ours {
            RefSide::Target
        } else if (&other.target.system, &other.source.system) == ours {
            RefSide::Source
        } else {
            issues.push(ConfigIssue::at(
                at(&["flow"]),
                format!(
                    "flow `{}` runs {} → {}, but this flow runs {} → {}: a dependency must \
                     connect the same two systems",
                    dep.flow,
                    other.source.system,
                    other.target.system,
                    flow.source.system,
                    flow.target.system
                ),
            ));
            continue;
        };
        let into = dep
            .into
            .clone()
            .unwrap_or_else(|| format!("{}_id", field.rsplit('.').next().unwrap_or(field)));
        out.push(ResolvedDependency {
            field: field.to_owned(),
            in_lines,
            flow: dep.flow.clone(),
            into,
            side,
        });
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        Err(issues)
    }
}
