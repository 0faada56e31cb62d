//! Document state machines in the pipeline (`states:` of a flow).
//!
//! After mapping and validation, [`check`] compares the state a record asks for with the state
//! Ferry last *wrote* for it, kept on its xref row (`Xref::state`). A record that was never
//! written (or whose write was undone by `on_delete: delete`) must start in an initial state;
//! the same state again is no transition; anything else must be a move the machine allows.
//! A refusal is a validation error: the pipeline dead-letters the record with its payload and
//! the target is not touched, so the recorded state stays the last one really written. Once a
//! record is written, [`written`] records its state in the same commit.
//!
//! Why the last state written and not the source's previous state or the target's current
//! one: the source's history is not kept (a poll sees snapshots), and reading the target
//! costs a call per record and reports what someone else may have changed by hand; what Ferry
//! wrote is what it answers for, and it is in the row the pipeline already reads.

use std::collections::HashMap;

use ferry_model::config::FlowStates;
use ferry_model::states::Previous;
use ferry_store::{Commit, StateWritten, Xref};
use serde_json::{Map, Value};

use crate::assemble::Flow;

/// Checks the state of a mapped record against the flow's machine and the state last written
/// for it. `Ok(Some(state))`: the state to record once the record is written; `Ok(None)`: the
/// flow has no machine. `Err`: why the record may not be written, naming flow, record, field,
/// both states and what the machine allows.
pub(crate) fn check(
    flow: &Flow,
    record_id: &str,
    fields: &Map<String, Value>,
    before: Option<&Xref>,
) -> Result<Option<String>, String> {
    match &flow.states {
        Some(states) => check_with(&flow.name, states, record_id, fields, before).map(Some),
        None => Ok(None),
    }
}

fn check_with(
    flow: &str,
    states: &FlowStates,
    record_id: &str,
    fields: &Map<String, Value>,
    before: Option<&Xref>,
) -> Result<String, String> {
    let at = || {
        format!(
            "flow `{flow}`, record `{record_id}`, field `{}`",
            states.field
        )
    };
    let state = match fields.get(&states.field) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => {
            return Err(format!(
                "{}: empty; the {} machine needs a state ({})",
                at(),
                states.machine.name(),
                states.machine.states().collect::<Vec<_>>().join(", ")
            ));
        }
    };
    let previous = match before {
        // Something written that is still in the target.
        Some(x) if x.written_hash.is_some() => match x.state.as_deref() {
            Some(s) => Previous::State(s),
            None => Previous::Unrecorded,
        },
        _ => Previous::New,
    };
    states
        .machine
        .check(previous, &state)
        .map_err(|refusal| format!("{}: {refusal}", at()))?;
    Ok(state)
}

/// Records the state of a record now in the target, when it differs from the one recorded.
pub(crate) fn written(
    commit: &mut Commit,
    source_id: &str,
    before: Option<&Xref>,
    state: Option<String>,
) {
    let Some(state) = state else { return };
    if before.and_then(|x| x.state.as_deref()) != Some(state.as_str()) {
        commit.states.push(StateWritten {
            source_id: source_id.to_owned(),
            state,
        });
    }
}

/// The states a batch's commit records, by source id (the last of an id wins), for the
/// overlay the next batch reads.
pub(crate) fn recorded(commit: &Commit) -> HashMap<&str, &str> {
    commit
        .states
        .iter()
        .map(|s| (s.source_id.as_str(), s.state.as_str()))
        .collect()
}

/// The xref row a record is processed against: the previous batch's (processed, perhaps not
/// committed yet) when it has one, else the store's. The previous batch's row carries a state
/// only when that batch recorded one; otherwise the store's state is still the current one.
pub(crate) fn before(overlay: Option<&Xref>, stored: Option<&Xref>) -> Option<Xref> {
    let mut row = overlay.or(stored).cloned()?;
    if row.state.is_none() {
        row.state = stored.and_then(|x| x.state.clone());
    }
    Some(row)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ferry_model::states::Builtin;
    use serde_json::json;

    use super::*;

    fn orders() -> FlowStates {
        FlowStates {
            field: "status".into(),
            machine: Builtin::SalesOrder.machine(),
        }
    }

    fn xref(written: bool, state: Option<&str>) -> Xref {
        Xref {
            flow: "orders".into(),
            source_id: "7".into(),
            key: Some("SO7".into()),
            target_id: written.then(|| "t7".into()),
            read_hash: Some("r".into()),
            written_hash: written.then(|| "w".into()),
            source_version: None,
            updated_at: Utc::now(),
            state: state.map(str::to_owned),
        }
    }

    fn fields(status: serde_json::Value) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("number".into(), json!("SO7"));
        m.insert("status".into(), status);
        m
    }

    fn check(status: serde_json::Value, before: Option<&Xref>) -> Result<String, String> {
        check_with("orders", &orders(), "7", &fields(status), before)
    }

    #[test]
    fn the_previous_state_is_the_one_last_written() {
        let shipped = xref(true, Some("shipped"));
        assert_eq!(check(json!("paid"), Some(&shipped)), Ok("paid".into()));
        assert_eq!(
            check(json!("draft"), Some(&shipped)),
            Err(
                "flow `orders`, record `7`, field `status`: illegal transition `shipped` → \
                 `draft` (the sales_order machine allows from `shipped`: invoiced, paid)"
                    .into()
            )
        );
        // Surrounding blanks are not part of the state.
        assert_eq!(
            check(json!(" shipped "), Some(&shipped)),
            Ok("shipped".into())
        );
    }

    #[test]
    fn a_record_never_written_or_deleted_since_starts_again() {
        for before in [
            None,
            Some(xref(false, None)),
            Some(xref(false, Some("paid"))),
        ] {
            assert_eq!(check(json!("draft"), before.as_ref()), Ok("draft".into()));
            let err = check(json!("invoiced"), before.as_ref()).unwrap_err();
            assert!(
                err.contains("a new record cannot start as `invoiced`"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_record_written_before_the_machine_may_take_any_state() {
        let legacy = xref(true, None);
        assert_eq!(
            check(json!("invoiced"), Some(&legacy)),
            Ok("invoiced".into())
        );
        assert!(check(json!("lost"), Some(&legacy)).is_err());
    }

    #[test]
    fn an_empty_state_is_refused_naming_the_states() {
        for empty in [json!(null), json!(""), json!("  ")] {
            assert_eq!(
                check(empty, None),
                Err(
                    "flow `orders`, record `7`, field `status`: empty; the sales_order machine \
                     needs a state (draft, confirmed, shipped, invoiced, paid, cancelled)"
                        .into()
                )
            );
        }
    }

    #[test]
    fn only_a_changed_state_is_recorded_and_the_last_one_wins() {
        let mut commit = Commit::default();
        let confirmed = xref(true, Some("confirmed"));
        written(&mut commit, "7", Some(&confirmed), Some("confirmed".into()));
        written(&mut commit, "7", Some(&confirmed), None);
        assert!(commit.states.is_empty());
        written(&mut commit, "7", Some(&confirmed), Some("shipped".into()));
        written(&mut commit, "8", None, Some("draft".into()));
        written(&mut commit, "7", Some(&confirmed), Some("paid".into()));
        let recorded = recorded(&commit);
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded["7"], "paid");
        assert_eq!(recorded["8"], "draft");
    }

    #[test]
    fn the_previous_batch_row_keeps_the_stored_state_unless_it_recorded_one() {
        let stored = xref(true, Some("confirmed"));
        // The previous batch rewrote the row without recording a state: still `confirmed`.
        let mut overlay = xref(true, None);
        overlay.read_hash = Some("newer".into());
        let row = before(Some(&overlay), Some(&stored)).unwrap();
        assert_eq!(row.read_hash.as_deref(), Some("newer"));
        assert_eq!(row.state.as_deref(), Some("confirmed"));
        // It recorded one: that one.
        overlay.state = Some("shipped".into());
        let row = before(Some(&overlay), Some(&stored)).unwrap();
        assert_eq!(row.state.as_deref(), Some("shipped"));
        assert_eq!(before(None, Some(&stored)), Some(stored));
        assert_eq!(before(None, None), None);
    }
}
