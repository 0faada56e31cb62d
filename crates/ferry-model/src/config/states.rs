//! A flow's document state machine (`states:`): which status changes it may write.
//!
//! ```yaml
//! flows:
//!   orders:
//!     entity: sales_order
//!     states: { field: status, machine: sales_order }     # the built-in machine
//!     mapping:
//!       status: { from: state, code_table: tryton_sale }   # system codes → canonical states
//!   tickets:
//!     entity: customer
//!     states:                                              # a machine of one's own
//!       field: extra.stage
//!       initial: [new]
//!       transitions: { new: [open, closed], open: [closed], closed: [] }
//! ```
//!
//! Each system's own status codes become canonical states through the mapping's code tables;
//! every value a table (or `codes:`, `default:`, `value:`) can give the state field must be a
//! state of the machine, which `ferry check` verifies. At run time the engine compares the
//! mapped state with the state it last wrote for the record (see `ferry_model::states`).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Config, ConfigIssue, FlowConfig};
use crate::entity::FieldType;
use crate::states::{Builtin, StateMachine};

/// `states:` of a flow: the field holding the document's state and the machine its changes
/// must follow. With neither `machine` nor `transitions`, the entity's own machine (built-in,
/// or given by its declaration under `entities:`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatesConfig {
    /// The canonical field holding the state. Default: `status`.
    #[serde(default = "default_field")]
    pub field: String,
    /// A built-in machine (`quotation`, `sales_order`, `invoice`…; see docs/model.md). Default:
    /// the flow's entity's, when `transitions` is not given.
    #[serde(default)]
    pub machine: Option<Builtin>,
    /// The states a record may have when Ferry first writes it. Default: the built-in
    /// machine's (draft or confirmed for an order); required with `transitions`. To load
    /// existing documents whatever their state, list every state.
    #[serde(default)]
    pub initial: Option<Vec<String>>,
    /// A machine of the flow's own: each state and the states it may move to. Every state is a
    /// key; a final state has an empty list (`paid: []`).
    #[serde(default)]
    pub transitions: Option<IndexMap<String, Vec<String>>>,
}

fn default_field() -> String {
    "status".to_owned()
}

/// A flow's checked `states:`, ready for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStates {
    /// The canonical field holding the state.
    pub field: String,
    /// The machine.
    pub machine: StateMachine,
}

/// Checks a flow's `states:` against the entity, the mapping and the code tables, and builds
/// its machine (`None` when the flow has no `states:`). Problems are reported at
/// `flows.<flow>.states.<key>` (a code table's wrong value at `code_tables.<table>.<code>`).
pub fn compile(
    config: &Config,
    flow_name: &str,
    flow: &FlowConfig,
) -> Result<Option<FlowStates>, Vec<ConfigIssue>> {
    let Some(states) = &flow.states else {
        return Ok(None);
    };
    let at = |rest: &[&str]| {
        let mut p = vec![
            "flows".to_owned(),
            flow_name.to_owned(),
            "states".to_owned(),
        ];
        p.extend(rest.iter().map(|s| (*s).to_owned()));
        p
    };
    let mut issues = Vec::new();

    let field = states.field.as_str();
    match flow.entity.field(field) {
        Some(def) if def.ty == FieldType::Text => {}
        Some(def) => issues.push(ConfigIssue::at(
            at(&["field"]),
            format!("`{field}` is a {} field; a state is text", def.ty.as_str()),
        )),
        None if field.starts_with("extra.") => {}
        None => issues.push(ConfigIssue::at(
            at(&["field"]),
            format!("unknown field `{field}` for entity {}", flow.entity),
        )),
    }
    if !flow.mapping.fields.contains_key(field) && flow.mapping.vrl.is_none() {
        issues.push(ConfigIssue::at(
            at(&["field"]),
            format!("the mapping must produce `{field}`, the field holding the state"),
        ));
    }

    let machine = match (&states.machine, &states.transitions) {
        (Some(_), Some(_)) => {
            issues.push(ConfigIssue::at(
                at(&["transitions"]),
                "give either `machine` (a built-in one) or `transitions` (your own), not both",
            ));
            None
        }
        (Some(builtin), None) if builtin.entity() != flow.entity => {
            issues.push(ConfigIssue::at(
                at(&["machine"]),
                format!(
                    "the {builtin} machine is for {} flows; this flow carries {} (write its \
                     own `transitions:`)",
                    builtin.entity(),
                    flow.entity
                ),
            ));
            None
        }
        (Some(builtin), None) => Some(builtin.machine()),
        (None, None) => match StateMachine::of(flow.entity) {
            Some(machine) => Some(machine),
            None => {
                let names: Vec<_> = Builtin::ALL.iter().map(|b| b.as_str()).collect();
                issues.push(ConfigIssue::at(
                    at(&[]),
                    format!(
                        "{} has no state machine (built-in: {}; a declared entity gets one \
                         with `states:`): give `transitions` and `initial`",
                        flow.entity,
                        names.join(", ")
                    ),
                ));
                None
            }
        },
        (None, Some(transitions)) => custom(transitions, states.initial.is_none(), &at)
            .map_err(|found| issues.extend(found))
            .ok(),
    };
    let Some(mut machine) = machine else {
        return Err(issues);
    };

    if let Some(initial) = &states.initial {
        if initial.is_empty() {
            issues.push(ConfigIssue::at(
                at(&["initial"]),
                "name at least one state a new record may start in",
            ));
        }
        for state in initial {
            if !machine.has(state) {
                issues.push(ConfigIssue::at(
                    at(&["initial"]),
                    unknown_state(state, &machine),
                ));
            }
        }
        machine = machine.with_initial(initial.clone());
    }

    // Every value the mapping can give the state field must be a state.
    if let Some(rule) = flow.mapping.fields.get(field) {
        let rule_at = |rest: &[&str]| {
            let mut p = vec![
                "flows".to_owned(),
                flow_name.to_owned(),
                "mapping".to_owned(),
                field.to_owned(),
            ];
            p.extend(rest.iter().map(|s| (*s).to_owned()));
            p
        };
        if let Some(name) = &rule.code_table {
            for (code, state) in config.code_tables.get(name).into_iter().flatten() {
                if !machine.has(state) {
                    issues.push(ConfigIssue::at(
                        vec!["code_tables".to_owned(), name.clone(), code.clone()],
                        format!(
                            "flow `{flow_name}` maps `{field}` through this table: {}",
                            unknown_state(state, &machine)
                        ),
                    ));
                }
            }
        }
        for (code, state) in rule.codes.iter().flatten() {
            if !machine.has(state) {
                issues.push(ConfigIssue::at(
                    rule_at(&["codes", code]),
                    unknown_state(state, &machine),
                ));
            }
        }
        for (key, constant) in [("default", &rule.default), ("value", &rule.value)] {
            if let Some(Value::String(state)) = constant
                && !machine.has(state)
            {
                issues.push(ConfigIssue::at(
                    rule_at(&[key]),
                    unknown_state(state, &machine),
                ));
            }
        }
    }

    if issues.is_empty() {
        Ok(Some(FlowStates {
            field: field.to_owned(),
            machine,
        }))
    } else {
        Err(issues)
    }
}

/// A custom machine from `transitions`: every state named in a list must be a key.
pub(crate) fn custom(
    transitions: &IndexMap<String, Vec<String>>,
    initial_missing: bool,
    at: &dyn Fn(&[&str]) -> Vec<String>,
) -> Result<StateMachine, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    if transitions.is_empty() {
        issues.push(ConfigIssue::at(
            at(&["transitions"]),
            "name at least one state",
        ));
    }
    if initial_missing {
        issues.push(ConfigIssue::at(
            at(&[]),
            "a machine of your own needs `initial`: the states a new record may start in",
        ));
    }
    let known: Vec<&str> = transitions.keys().map(String::as_str).collect();
    for (from, targets) in transitions {
        if from.trim().is_empty() {
            issues.push(ConfigIssue::at(
                at(&["transitions", from]),
                "a state needs a name",
            ));
        }
        for to in targets {
            if !transitions.contains_key(to) {
                issues.push(ConfigIssue::at(
                    at(&["transitions", from]),
                    format!(
                        "unknown state `{to}` in `transitions.{from}` (states are the keys of \
                         `transitions`: {}; write a final state as `{to}: []`)",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    if issues.is_empty() {
        // The states are checked: an initial list is applied (and checked) by the caller.
        Ok(StateMachine::custom(Vec::new(), transitions.clone()))
    } else {
        Err(issues)
    }
}

fn unknown_state(state: &str, machine: &StateMachine) -> String {
    format!(
        "`{state}` is not a state of the {} machine (states: {})",
        machine.name(),
        machine.states().collect::<Vec<_>>().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::load_str;
    use crate::states::Previous;

    const BASE: &str = "\
code_tables:
  tryton_sale: { draft: draft, quotation: draft, confirmed: confirmed, processing: shipped, done: paid, cancelled: cancelled }
systems:
  crm: { kind: sql, url: \"sqlite://crm.db\" }
  erp: { kind: sql, url: \"sqlite://erp.db\" }
flows:
  orders:
    entity: sales_order
    source: { system: erp, table: sales }
    target: { system: crm, table: deals }
    STATES
    mapping:
      number: number
      status: { from: state, code_table: tryton_sale }
";

    fn check(states: &str) -> Result<super::FlowStates, Vec<String>> {
        let yaml = BASE.replace("STATES", states);
        let loaded = load_str(Path::new("ferry.yaml"), &yaml).map_err(|e| e.problems)?;
        let flow = &loaded.config.flows["orders"];
        Ok(super::compile(&loaded.config, "orders", flow)
            .unwrap()
            .unwrap())
    }

    #[test]
    fn the_built_in_machine_of_the_entity_is_the_default() {
        for states in [
            "states: {}",
            "states: { machine: sales_order }",
            "states: { field: status, machine: sales_order }",
        ] {
            let s = check(states).unwrap();
            assert_eq!(s.field, "status");
            assert_eq!(s.machine.name(), "sales_order", "{states}");
        }
    }

    #[test]
    fn initial_overrides_where_a_built_in_machine_starts() {
        let s = check("states: { machine: sales_order, initial: [draft, shipped] }").unwrap();
        assert_eq!(s.machine.initial(), ["draft", "shipped"]);
        assert!(s.machine.check(Previous::New, "shipped").is_ok());
        let problems =
            check("states: { machine: sales_order, initial: [draft, sent] }").unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("ferry.yaml:")
                && problems[0].contains("flows.orders.states.initial: `sent` is not a state"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_unknown_state_in_transitions_names_the_key_and_its_line() {
        let states = "states:\n      initial: [draft]\n      transitions:\n        draft: [confirmed, cancelled]\n        confirmed: [shiped, cancelled]\n        shipped: [invoiced, paid]\n        invoiced: [paid]\n        paid: []\n        cancelled: []";
        let problems = check(states).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "ferry.yaml:15:9: flows.orders.states.transitions.confirmed: \
                 unknown state `shiped` in `transitions.confirmed`"
            ),
            "{problems:?}"
        );
        // The same machine spelled right is accepted, and is the flow's own.
        let fixed = check(&states.replace("shiped", "shipped")).unwrap();
        assert_eq!(fixed.machine.name(), "custom");
        assert!(fixed.machine.check(Previous::New, "confirmed").is_err());
    }

    #[test]
    fn a_code_table_value_that_is_no_state_is_reported_at_the_table() {
        let yaml = BASE
            .replace("done: paid", "done: settled")
            .replace("STATES", "states: { machine: sales_order }");
        let problems = load_str(Path::new("ferry.yaml"), &yaml)
            .unwrap_err()
            .problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(
                "code_tables.tryton_sale.done: flow `orders` maps `status` \
                 through this table: `settled` is not a state of the sales_order machine"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn misplaced_machines_and_fields_are_refused() {
        let problems = check("states: { machine: invoice }").unwrap_err();
        assert!(
            problems[0].contains("states.machine: the invoice machine is for invoice flows"),
            "{problems:?}"
        );
        let problems = check("states: { field: total }").unwrap_err();
        assert!(
            problems[0].contains("states.field: `total` is a decimal field"),
            "{problems:?}"
        );
        let problems = check("states: { field: salesperson }").unwrap_err();
        assert!(
            problems[0].contains("the mapping must produce `salesperson`"),
            "{problems:?}"
        );
        let problems =
            check("states: { machine: sales_order, transitions: { a: [] } }").unwrap_err();
        assert!(
            problems[0].contains("give either `machine`"),
            "{problems:?}"
        );
        let problems = check("states: { transitions: { draft: [] } }").unwrap_err();
        assert!(problems[0].contains("needs `initial`"), "{problems:?}");
        let problems = check("states: { colour: blue }").unwrap_err();
        assert!(problems[0].contains("colour"), "{problems:?}");
    }
}
