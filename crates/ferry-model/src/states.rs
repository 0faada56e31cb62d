//! Document state machines: which status changes of a quotation, order, invoice, shipment…
//! or of a declared entity with `states:` Ferry may write.
//!
//! A machine is a set of states, the states a record may have when Ferry first writes it
//! (`initial`), and for each state the states it may move to. The engine asks
//! [`StateMachine::check`] with the state Ferry last wrote for the record and the state the
//! mapping produced now; a refusal ([`Refusal`]) says what was asked and what is allowed, and
//! the record is dead-lettered instead of written.
//!
//! The built-in machines ([`Builtin`]) follow the canonical statuses of `docs/model.md`. They
//! allow skipping ahead (a poll sees snapshots, so an order confirmed and shipped between two
//! polls arrives as `confirmed` → `shipped`… or straight as `draft` → `shipped`), never going
//! back, and cancelling only where the business allows it. A flow that needs other rules
//! writes its own machine as `transitions:` (see `ferry_model::config::states`).

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::entity::Entity;

/// A built-in machine, named after the document entity it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// open → won or lost; a lost deal may open again.
    Opportunity,
    /// draft → sent → accepted, rejected or expired; cancelled before an answer.
    Quotation,
    /// draft → confirmed → shipped → invoiced → paid; cancelled from draft or confirmed.
    SalesOrder,
    /// draft → active → (suspended) → expired or terminated.
    Contract,
    /// draft → posted → (overdue) → paid; cancelled from draft, posted or overdue.
    Invoice,
    /// waiting → shipped → delivered; cancelled while waiting.
    Shipment,
    /// draft → confirmed → received → invoiced → paid; cancelled from draft or confirmed.
    PurchaseOrder,
}

impl Builtin {
    /// Every built-in machine, in documentation order.
    pub const ALL: [Builtin; 7] = [
        Builtin::Opportunity,
        Builtin::Quotation,
        Builtin::SalesOrder,
        Builtin::Contract,
        Builtin::Invoice,
        Builtin::Shipment,
        Builtin::PurchaseOrder,
    ];

    /// The name written in config (`sales_order`).
    pub fn as_str(self) -> &'static str {
        self.entity().as_str()
    }

    /// The entity whose `status` it governs.
    pub fn entity(self) -> Entity {
        match self {
            Builtin::Opportunity => Entity::OPPORTUNITY,
            Builtin::Quotation => Entity::QUOTATION,
            Builtin::SalesOrder => Entity::SALES_ORDER,
            Builtin::Contract => Entity::CONTRACT,
            Builtin::Invoice => Entity::INVOICE,
            Builtin::Shipment => Entity::SHIPMENT,
            Builtin::PurchaseOrder => Entity::PURCHASE_ORDER,
        }
    }

    /// The built-in machine of an entity, if it has one.
    pub fn for_entity(entity: Entity) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.entity() == entity)
    }

    /// The machine, ready to check transitions.
    pub fn machine(self) -> StateMachine {
        StateMachine::of(self.entity()).expect("every built-in machine's entity has one")
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state machine: its states (the keys of `transitions`, in order), where a record may
/// start, and where each state may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachine {
    /// The entity's name (`sales_order`, a declared `visit_report`) or `custom`: for messages.
    name: String,
    initial: Vec<String>,
    transitions: IndexMap<String, Vec<String>>,
}

/// What Ferry knows of a record's state before this write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Previous<'a> {
    /// Nothing was ever written for the record (or what was written was deleted): it starts.
    New,
    /// Something was written, but its state was not recorded (written before the flow had a
    /// machine, or in a state the machine no longer has).
    Unrecorded,
    /// The state Ferry last wrote.
    State(&'a str),
}

/// Why a state may not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The value is not a state of the machine.
    #[error("`{value}` is not a state of the {machine} machine (states: {})", .states.join(", "))]
    Unknown {
        /// The machine's name.
        machine: String,
        /// The value found.
        value: String,
        /// Every state.
        states: Vec<String>,
    },
    /// A new record in a state it may not start in.
    #[error(
        "a new record cannot start as `{to}` (the {machine} machine starts in: {})",
        .initial.join(", ")
    )]
    NotInitial {
        /// The machine's name.
        machine: String,
        /// The state asked for.
        to: String,
        /// Where a record may start.
        initial: Vec<String>,
    },
    /// A move the machine does not allow.
    #[error("illegal transition `{from}` → `{to}` (the {machine} machine {})", allowed_text(.from, .allowed))]
    Illegal {
        /// The machine's name.
        machine: String,
        /// The state Ferry last wrote.
        from: String,
        /// The state asked for.
        to: String,
        /// Where `from` may go.
        allowed: Vec<String>,
    },
}

fn allowed_text(from: &str, allowed: &[String]) -> String {
    if allowed.is_empty() {
        format!("allows nothing after `{from}`: it is final")
    } else {
        format!("allows from `{from}`: {}", allowed.join(", "))
    }
}

impl StateMachine {
    /// The machine of an entity's `status`: a built-in one, or the one its declaration gives
    /// (named after the entity either way).
    pub fn of(entity: Entity) -> Option<StateMachine> {
        let def = entity.machine_def()?;
        Some(StateMachine {
            name: entity.as_str().to_owned(),
            initial: def.initial.iter().map(|s| (*s).to_owned()).collect(),
            transitions: def
                .transitions
                .iter()
                .map(|(from, to)| {
                    (
                        (*from).to_owned(),
                        to.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect(),
        })
    }

    /// A custom machine. The caller (the config check) has made sure that `initial` and every
    /// transition's target are keys of `transitions`.
    pub fn custom(initial: Vec<String>, transitions: IndexMap<String, Vec<String>>) -> Self {
        Self {
            name: "custom".to_owned(),
            initial,
            transitions,
        }
    }

    /// The same machine starting in other states (each a state of the machine).
    pub fn with_initial(mut self, initial: Vec<String>) -> Self {
        self.initial = initial;
        self
    }

    /// The entity's name or `custom`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every state, in the order they were declared.
    pub fn states(&self) -> impl Iterator<Item = &str> {
        self.transitions.keys().map(String::as_str)
    }

    /// Whether `state` is one of the machine's states.
    pub fn has(&self, state: &str) -> bool {
        self.transitions.contains_key(state)
    }

    /// Where a record may start.
    pub fn initial(&self) -> &[String] {
        &self.initial
    }

    /// Where `state` may go (empty for a final state or an unknown one).
    pub fn allowed(&self, state: &str) -> &[String] {
        self.transitions.get(state).map_or(&[], Vec::as_slice)
    }

    /// Whether a record may be written in state `to` after `previous`. The same state again is
    /// no transition and always allowed; a record whose previous state is not recorded may
    /// take any state of the machine.
    pub fn check(&self, previous: Previous<'_>, to: &str) -> Result<(), Refusal> {
        if !self.has(to) {
            return Err(Refusal::Unknown {
                machine: self.name.clone(),
                value: to.to_owned(),
                states: self.states().map(str::to_owned).collect(),
            });
        }
        match previous {
            Previous::New if self.initial.iter().any(|s| s == to) => Ok(()),
            Previous::New => Err(Refusal::NotInitial {
                machine: self.name.clone(),
                to: to.to_owned(),
                initial: self.initial.clone(),
            }),
            Previous::Unrecorded => Ok(()),
            Previous::State(from) if from == to => Ok(()),
            // A state the machine no longer has (the config changed): nothing to check against.
            Previous::State(from) if !self.has(from) => Ok(()),
            Previous::State(from) => {
                let allowed = self.allowed(from);
                if allowed.iter().any(|s| s == to) {
                    Ok(())
                } else {
                    Err(Refusal::Illegal {
                        machine: self.name.clone(),
                        from: from.to_owned(),
                        to: to.to_owned(),
                        allowed: allowed.to_vec(),
                    })
                }
            }
        }
    }
}

/// The built-in machines as Markdown, for `docs/model.md`.
pub fn machines_markdown() -> String {
    let mut out = String::from(
        "\n## document state machines\n\n\
         A flow with `states:` refuses a status change its machine does not allow: the record \
         is\ndead-lettered (error kind `validation`) and the target keeps what it had. These \
         are the\nbuilt-in machines (`states: { machine: sales_order }`, or just `states: {}` \
         on a flow of\nthe entity); the same state again is never a transition. A flow can \
         name other starting\nstates (`initial:`) or write its own machine (`transitions:`).\n",
    );
    for builtin in Builtin::ALL {
        let m = builtin.machine();
        out.push_str(&format!(
            "\n### {builtin}\n\nA new {builtin} starts as {}.\n\n| state | may become |\n|---|---|\n",
            m.initial()
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
        for state in m.states() {
            let next = m.allowed(state);
            let next = if next.is_empty() {
                "— (final)".to_owned()
            } else {
                next.iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!("| `{state}` | {next} |\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> StateMachine {
        Builtin::SalesOrder.machine()
    }

    #[test]
    fn an_order_walks_forward_and_may_skip_states_a_poll_did_not_see() {
        let m = order();
        assert_eq!(m.check(Previous::New, "draft"), Ok(()));
        for (from, to) in [
            ("draft", "confirmed"),
            ("confirmed", "shipped"),
            ("shipped", "invoiced"),
            ("invoiced", "paid"),
            ("confirmed", "invoiced"),
            ("draft", "shipped"),
            ("shipped", "paid"),
        ] {
            assert_eq!(m.check(Previous::State(from), to), Ok(()), "{from} → {to}");
        }
    }

    #[test]
    fn going_back_is_refused_naming_both_states_and_what_is_allowed() {
        let err = order()
            .check(Previous::State("shipped"), "draft")
            .unwrap_err();
        assert_eq!(
            err,
            Refusal::Illegal {
                machine: "sales_order".into(),
                from: "shipped".into(),
                to: "draft".into(),
                allowed: vec!["invoiced".into(), "paid".into()],
            }
        );
        assert_eq!(
            err.to_string(),
            "illegal transition `shipped` → `draft` (the sales_order machine allows from \
             `shipped`: invoiced, paid)"
        );
    }

    #[test]
    fn cancelling_is_allowed_from_draft_and_confirmed_only() {
        let m = order();
        assert_eq!(m.check(Previous::State("draft"), "cancelled"), Ok(()));
        assert_eq!(m.check(Previous::State("confirmed"), "cancelled"), Ok(()));
        for from in ["shipped", "invoiced", "paid"] {
            assert!(
                matches!(
                    m.check(Previous::State(from), "cancelled"),
                    Err(Refusal::Illegal { .. })
                ),
                "{from}"
            );
        }
    }

    #[test]
    fn final_states_allow_nothing_and_say_so() {
        let err = order()
            .check(Previous::State("cancelled"), "confirmed")
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("allows nothing after `cancelled`: it is final)"),
            "{err}"
        );
    }

    #[test]
    fn the_same_state_again_is_no_transition() {
        let m = order();
        for state in m.states().collect::<Vec<_>>() {
            assert_eq!(m.check(Previous::State(state), state), Ok(()), "{state}");
        }
    }

    #[test]
    fn a_new_record_must_start_in_an_initial_state() {
        let m = order();
        assert_eq!(m.check(Previous::New, "confirmed"), Ok(()));
        let err = m.check(Previous::New, "shipped").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a new record cannot start as `shipped` (the sales_order machine starts in: draft, \
             confirmed)"
        );
        // An initial load of history names more starting states.
        let loading = order().with_initial(vec!["draft".into(), "shipped".into()]);
        assert_eq!(loading.check(Previous::New, "shipped"), Ok(()));
        assert!(loading.check(Previous::New, "confirmed").is_err());
    }

    #[test]
    fn an_unknown_value_is_refused_whatever_came_before() {
        let m = order();
        for previous in [
            Previous::New,
            Previous::Unrecorded,
            Previous::State("draft"),
        ] {
            let err = m.check(previous, "Confirmed").unwrap_err();
            assert!(matches!(err, Refusal::Unknown { .. }), "{previous:?}");
            assert_eq!(
                err.to_string(),
                "`Confirmed` is not a state of the sales_order machine (states: draft, \
                 confirmed, shipped, invoiced, paid, cancelled)"
            );
        }
    }

    #[test]
    fn an_unrecorded_or_forgotten_previous_state_accepts_any_state() {
        let m = order();
        assert_eq!(m.check(Previous::Unrecorded, "paid"), Ok(()));
        assert_eq!(m.check(Previous::State("quotation"), "draft"), Ok(()));
    }

    #[test]
    fn invoice_and_shipment_machines() {
        let inv = Builtin::Invoice.machine();
        assert_eq!(inv.check(Previous::New, "posted"), Ok(()));
        assert_eq!(inv.check(Previous::State("posted"), "overdue"), Ok(()));
        assert_eq!(inv.check(Previous::State("overdue"), "posted"), Ok(()));
        assert_eq!(inv.check(Previous::State("overdue"), "paid"), Ok(()));
        assert!(inv.check(Previous::State("paid"), "posted").is_err());
        assert!(inv.check(Previous::State("cancelled"), "paid").is_err());
        assert!(inv.check(Previous::New, "paid").is_err());

        let ship = Builtin::Shipment.machine();
        assert_eq!(ship.check(Previous::New, "shipped"), Ok(()));
        assert_eq!(ship.check(Previous::State("waiting"), "cancelled"), Ok(()));
        assert!(ship.check(Previous::State("shipped"), "cancelled").is_err());
        assert!(ship.check(Previous::State("delivered"), "shipped").is_err());
    }

    #[test]
    fn built_in_machines_know_exactly_their_entity_statuses() {
        // The machines and the canonical model's status docs must list the same states.
        for builtin in Builtin::ALL {
            let m = builtin.machine();
            assert_eq!(Builtin::for_entity(builtin.entity()), Some(builtin));
            let doc = builtin.entity().field("status").unwrap().doc;
            for state in m.states() {
                assert!(doc.contains(state), "{builtin}: `{state}` not in `{doc}`");
                for next in m.allowed(state) {
                    assert!(m.has(next), "{builtin}: {state} → unknown {next}");
                }
            }
            for s in m.initial() {
                assert!(m.has(s), "{builtin}: unknown initial {s}");
            }
        }
        assert_eq!(Builtin::for_entity(Entity::CUSTOMER), None);
    }

    #[test]
    fn a_custom_machine_checks_like_a_built_in_one() {
        let mut t = IndexMap::new();
        t.insert("prospect".to_owned(), vec!["active".to_owned()]);
        t.insert(
            "active".to_owned(),
            vec!["blocked".to_owned(), "prospect".to_owned()],
        );
        t.insert("blocked".to_owned(), vec!["active".to_owned()]);
        let m = StateMachine::custom(vec!["prospect".into()], t);
        assert_eq!(m.name(), "custom");
        assert_eq!(m.check(Previous::State("blocked"), "active"), Ok(()));
        let err = m.check(Previous::State("blocked"), "prospect").unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal transition `blocked` → `prospect` (the custom machine allows from \
             `blocked`: active)"
        );
    }
}
