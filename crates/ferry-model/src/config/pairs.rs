//! Two-way sync: two flows that carry one entity both ways between two systems, with field
//! ownership and a conflict policy.
//!
//! ```yaml
//! pairs:
//!   customers:
//!     flows: [customers_to_erp, customers_to_crm]   # crm → erp and erp → crm
//!     owners:
//!       default: crm                 # every field not listed: its system of record
//!       fields:
//!         credit_limit: erp          # only the ERP's changes travel
//!         payment_terms: erp
//!         phone: shared              # either side may change it
//!     conflicts: newest              # owner (default) | newest | manual
//!     clock_skew: 2s                 # newest: closer than this is a tie
//!     system_of_record: crm          # wins under `owner` and on a `newest` tie
//! ```
//!
//! A change to a field made in the system that does not own it is not propagated: the ledger
//! records it (outcome `not_owner`, naming the fields) so someone can fix it at the source.
//! A `shared` field changed on both sides since the last sync is a conflict, settled by
//! `conflicts`: `owner` (the system of record wins), `newest` (the later updated-at wins;
//! within `clock_skew` the system of record wins) or `manual` (both versions wait in the
//! review queue, `ferry conflicts`, until an operator picks one).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Config, ConfigIssue, DurationStr};

/// The owner named for fields both systems may change.
pub const SHARED: &str = "shared";

/// One two-way pair (see the module docs).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PairConfig {
    /// The two flows: one from system A to system B, the other from B to A, same entity and
    /// business key.
    pub flows: Vec<String>,
    /// Which system owns which canonical field.
    pub owners: Owners,
    /// How a `shared` field changed on both sides since the last sync is settled.
    #[serde(default)]
    pub conflicts: ConflictPolicy,
    /// `newest`: updated-at stamps closer than this are a tie (clocks of two systems are never
    /// quite the same). Default `2s`.
    #[serde(default = "default_skew")]
    pub clock_skew: DurationStr,
    /// The system that wins a conflict under `owner`, and a tie under `newest`. Default:
    /// `owners.default` when that names a system.
    #[serde(default)]
    pub system_of_record: Option<String>,
}

fn default_skew() -> DurationStr {
    DurationStr(std::time::Duration::from_secs(2))
}

/// Field ownership.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Owners {
    /// The owner of every field not listed: a system of the pair, or `shared`.
    pub default: String,
    /// Canonical field → owning system (or `shared`).
    #[serde(default)]
    pub fields: IndexMap<String, String>,
}

/// What settles a conflict on a shared field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// The system of record's value wins.
    #[default]
    Owner,
    /// The value changed last (by the records' updated-at) wins; within `clock_skew`, the
    /// system of record's.
    Newest,
    /// Neither is written: both versions wait in the review queue for an operator.
    Manual,
}

impl ConflictPolicy {
    /// The policy's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::Owner => "owner",
            ConflictPolicy::Newest => "newest",
            ConflictPolicy::Manual => "manual",
        }
    }
}

impl PairConfig {
    /// The owner of `field`: a system name or [`SHARED`].
    pub fn owner_of(&self, field: &str) -> &str {
        self.owners
            .fields
            .get(field)
            .map_or(self.owners.default.as_str(), String::as_str)
    }

    /// The system that wins under `owner` and on a `newest` tie.
    pub fn system_of_record(&self) -> Option<&str> {
        self.system_of_record
            .as_deref()
            .or_else(|| (self.owners.default != SHARED).then_some(self.owners.default.as_str()))
    }
}

impl Config {
    /// The pair `flow` belongs to, with its name.
    pub fn pair_of(&self, flow: &str) -> Option<(&str, &PairConfig)> {
        self.pairs
            .iter()
            .find(|(_, p)| p.flows.iter().any(|f| f == flow))
            .map(|(n, p)| (n.as_str(), p))
    }
}

/// The checks of the `pairs:` section.
pub(crate) fn check(config: &Config, issues: &mut Vec<ConfigIssue>) {
    let mut paired: IndexMap<&str, &str> = IndexMap::new();
    for (name, pair) in &config.pairs {
        let at = |rest: &[&str]| {
            let mut path = vec!["pairs".to_owned(), name.clone()];
            path.extend(rest.iter().map(|s| (*s).to_owned()));
            path
        };
        let [a, b] = pair.flows.as_slice() else {
            issues.push(ConfigIssue::at(
                at(&["flows"]),
                format!(
                    "name exactly two flows (one each way), not {}",
                    pair.flows.len()
                ),
            ));
            continue;
        };
        let mut known = true;
        for flow in [a, b] {
            if !config.flows.contains_key(flow) {
                let flows: Vec<&str> = config.flows.keys().map(String::as_str).collect();
                issues.push(ConfigIssue::at(
                    at(&["flows"]),
                    super::words::unknown_name("flow", flow, &flows),
                ));
                known = false;
            } else if let Some(other) = paired.insert(flow.as_str(), name.as_str()) {
                issues.push(ConfigIssue::at(
                    at(&["flows"]),
                    format!("flow `{flow}` is already in pair `{other}`"),
                ));
            }
        }
        if !known {
            continue;
        }
        if a == b {
            issues.push(ConfigIssue::at(
                at(&["flows"]),
                format!("`{a}` is named twice: name one flow each way"),
            ));
            continue;
        }
        let (fa, fb) = (&config.flows[a], &config.flows[b]);
        if fa.source.system != fb.target.system || fa.target.system != fb.source.system {
            issues.push(ConfigIssue::at(
                at(&["flows"]),
                format!(
                    "`{a}` runs {} → {} and `{b}` runs {} → {}: a pair needs one flow each way \
                     between the same two systems",
                    fa.source.system, fa.target.system, fb.source.system, fb.target.system
                ),
            ));
            continue;
        }
        if fa.entity != fb.entity {
            issues.push(ConfigIssue::at(
                at(&["flows"]),
                format!(
                    "`{a}` carries {} and `{b}` carries {}: a pair carries one entity",
                    fa.entity, fb.entity
                ),
            ));
            continue;
        }
        if fa.key() != fb.key() {
            issues.push(ConfigIssue::at(
                at(&["flows"]),
                format!(
                    "`{a}` is keyed by `{}` and `{b}` by `{}`: a pair needs one business key",
                    fa.key(),
                    fb.key()
                ),
            ));
        }
        let systems = [fa.source.system.as_str(), fa.target.system.as_str()];
        let owner_ok = |owner: &str| owner == SHARED || systems.contains(&owner);
        let expected = format!("{}, {} or {SHARED}", systems[0], systems[1]);
        if !owner_ok(&pair.owners.default) {
            issues.push(ConfigIssue::at(
                at(&["owners", "default"]),
                format!(
                    "unknown owner `{}` (expected {expected})",
                    pair.owners.default
                ),
            ));
        }
        for (field, owner) in &pair.owners.fields {
            if !owner_ok(owner) {
                issues.push(ConfigIssue::at(
                    at(&["owners", "fields", field]),
                    format!("unknown owner `{owner}` for `{field}` (expected {expected})"),
                ));
            }
            if fa.entity.field(field).is_none() && !field.starts_with("extra.") {
                issues.push(ConfigIssue::at(
                    at(&["owners", "fields", field]),
                    format!("unknown field `{field}` for entity {}", fa.entity),
                ));
            } else if !fa.mapping.fields.contains_key(field)
                && !fb.mapping.fields.contains_key(field)
            {
                issues.push(ConfigIssue::at(
                    at(&["owners", "fields", field]),
                    format!("neither `{a}` nor `{b}` maps `{field}`"),
                ));
            } else if field == fa.key() {
                issues.push(ConfigIssue::at(
                    at(&["owners", "fields", field]),
                    format!("`{field}` is the business key: it identifies the record on both sides and has no owner"),
                ));
            }
        }
        match &pair.system_of_record {
            Some(s) if !systems.contains(&s.as_str()) => issues.push(ConfigIssue::at(
                at(&["system_of_record"]),
                format!(
                    "unknown system `{s}` (expected {} or {})",
                    systems[0], systems[1]
                ),
            )),
            None if pair.owners.default == SHARED && pair.conflicts != ConflictPolicy::Manual => {
                issues.push(ConfigIssue::at(
                    at(&["system_of_record"]),
                    format!(
                        "`conflicts: {}` needs a system of record to decide with: set \
                         `system_of_record` ({} or {}) when `owners.default` is shared",
                        pair.conflicts.as_str(),
                        systems[0],
                        systems[1]
                    ),
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;
    use std::path::Path;

    const BASE: &str = "systems:
  crm: { kind: sql, url: \"sqlite://crm.db\" }
  erp: { kind: sql, url: \"sqlite://erp.db\" }
flows:
  to_erp:
    entity: customer
    source: { system: crm, table: customers }
    target: { system: erp, table: customers }
    mapping: { code: customer_no, name: name, credit_limit: credit, phone: phone }
  to_crm:
    entity: customer
    source: { system: erp, table: customers }
    target: { system: crm, table: customers }
    mapping: { code: code, name: name, credit_limit: credit_limit, phone: phone }
pairs:
  customers:
    flows: [to_erp, to_crm]
    owners:
      default: crm
      fields:
        credit_limit: erp
        phone: shared
    conflicts: newest
    clock_skew: 3s
";

    fn problems(yaml: &str) -> Vec<String> {
        match load_str(Path::new("ferry.yaml"), yaml) {
            Ok(_) => vec![],
            Err(e) => e.problems,
        }
    }

    #[test]
    fn a_valid_pair_loads_with_its_owners() {
        assert!(problems(BASE).is_empty(), "{:?}", problems(BASE));
        let loaded = load_str(Path::new("ferry.yaml"), BASE).unwrap();
        let (name, pair) = loaded.config.pair_of("to_crm").unwrap();
        assert_eq!(name, "customers");
        assert_eq!(pair.owner_of("credit_limit"), "erp");
        assert_eq!(pair.owner_of("name"), "crm");
        assert_eq!(pair.owner_of("phone"), "shared");
        assert_eq!(pair.system_of_record(), Some("crm"));
        assert_eq!(pair.clock_skew.0, std::time::Duration::from_secs(3));
    }

    #[test]
    fn a_pair_may_carry_a_declared_entity() {
        let declared = format!(
            "entities:\n  account:\n    key: code\n    fields: {{ code: text, name: text, \
             credit_limit: decimal, phone: text }}\n{}",
            BASE.replace("entity: customer", "entity: account")
        );
        assert!(problems(&declared).is_empty(), "{:?}", problems(&declared));
        let found = problems(&declared.replace("phone: shared", "fax: shared"));
        assert!(
            found.iter().any(|p| p.contains(
                "pairs.customers.owners.fields.fax: unknown field `fax` for entity account"
            )),
            "{found:?}"
        );
        // One flow of the declared entity, the other of the built-in: not a pair.
        let found = problems(&declared.replacen("entity: account", "entity: customer", 1));
        assert!(
            found
                .iter()
                .any(|p| p.contains("carries customer") && p.contains("carries account")),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_fields_owners_and_flows_are_located() {
        let yaml = BASE
            .replace("credit_limit: erp", "credit_limt: erp")
            .replace("phone: shared", "phone: sap");
        let found = problems(&yaml);
        assert!(
            found.iter().any(|p| p.contains("ferry.yaml:21:")
                && p.contains("pairs.customers.owners.fields.credit_limt")
                && p.contains("unknown field `credit_limt`")),
            "{found:?}"
        );
        assert!(
            found.iter().any(
                |p| p.contains("unknown owner `sap` for `phone` (expected crm, erp or shared)")
            ),
            "{found:?}"
        );
        let yaml = BASE.replace("[to_erp, to_crm]", "[to_erp, to_xrm]");
        let found = problems(&yaml);
        assert!(
            found.iter().any(|p| p.contains("pairs.customers.flows")
                && p.contains("unknown flow `to_xrm`")),
            "{found:?}"
        );
    }

    #[test]
    fn a_pair_must_go_both_ways_between_the_same_systems() {
        let yaml = BASE.replace(
            "source: { system: erp, table: customers }\n    target: { system: crm",
            "source: { system: crm, table: customers }\n    target: { system: erp",
        );
        let found = problems(&yaml);
        assert!(
            found
                .iter()
                .any(|p| p.contains("a pair needs one flow each way between the same two systems")),
            "{found:?}"
        );
        let yaml = BASE.replace("[to_erp, to_crm]", "[to_erp]");
        assert!(
            problems(&yaml)
                .iter()
                .any(|p| p.contains("name exactly two flows")),
        );
    }

    #[test]
    fn a_shared_default_needs_a_system_of_record_unless_manual() {
        let yaml = BASE.replace("default: crm", "default: shared");
        assert!(
            problems(&yaml)
                .iter()
                .any(|p| p.contains("pairs.customers.system_of_record")
                    && p.contains("needs a system of record")),
            "{:?}",
            problems(&yaml)
        );
        let manual = yaml.replace("conflicts: newest", "conflicts: manual");
        assert!(problems(&manual).is_empty(), "{:?}", problems(&manual));
        let named = yaml.replace(
            "clock_skew: 3s",
            "clock_skew: 3s\n    system_of_record: erp",
        );
        assert!(problems(&named).is_empty(), "{:?}", problems(&named));
    }
}
