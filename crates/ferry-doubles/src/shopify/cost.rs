//! The cost-based throttle (dossier §2): a leaky bucket per app and shop, driven by the
//! harness clock. Requested cost: scalar/enum 0, object 1, connection `first` × node cost
//! + 2, mutation 10. Actual cost: the same over what was answered (nodes returned).

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::graphql::{Field, OpKind, Operation};

/// A leaky bucket of query-cost points.
#[derive(Debug)]
pub struct Bucket {
    maximum: f64,
    restore_rate: f64,
    state: Mutex<(f64, Option<DateTime<Utc>>)>,
    throttled: Mutex<Vec<Throttled>>,
}

/// A `THROTTLED` answer as the double sent it: the figures of its `extensions.cost`, and
/// when (the harness clock, to the millisecond). Tests read these to check that a client
/// waited what the figures say, `(requested − available) / restore_rate`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Throttled {
    pub requested: u64,
    /// `currentlyAvailable` as answered (whole points).
    pub available: f64,
    pub restore_rate: f64,
    pub at: DateTime<Utc>,
}

impl Bucket {
    pub fn new(maximum: f64, restore_rate: f64) -> Self {
        Self {
            maximum,
            restore_rate,
            state: Mutex::new((maximum, None)),
            throttled: Mutex::default(),
        }
    }

    pub fn refill(&self) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (self.maximum, None);
        self.throttled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Notes a `THROTTLED` answer (see [`Throttled`]).
    pub fn note_throttled(&self, requested: u64, available: f64, at: DateTime<Utc>) {
        self.throttled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Throttled {
                requested,
                available: available.floor(),
                restore_rate: self.restore_rate,
                at,
            });
    }

    /// Every `THROTTLED` answer since the start or the last reset, oldest first.
    pub fn throttled(&self) -> Vec<Throttled> {
        self.throttled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Leaks points back up to `now`, then takes `cost` if that many are available. Answers
    /// whether it was taken and the points available after.
    pub fn take(&self, now: DateTime<Utc>, cost: f64) -> (bool, f64) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (available, last) = &mut *state;
        if let Some(then) = *last {
            let secs = (now - then).num_milliseconds().max(0) as f64 / 1000.0;
            *available = (*available + secs * self.restore_rate).min(self.maximum);
        }
        *last = Some(now);
        if cost <= *available {
            *available -= cost;
            (true, *available)
        } else {
            (false, *available)
        }
    }

    /// Gives back points taken but not spent.
    pub fn refund(&self, points: f64) -> f64 {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 = (state.0 + points).min(self.maximum);
        state.0
    }

    /// `extensions.cost` of an answer.
    pub fn extensions(&self, requested: u64, actual: Option<u64>, available: f64) -> Value {
        json!({"cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.maximum,
                "currentlyAvailable": available.floor(),
                "restoreRate": self.restore_rate,
            }
        }})
    }
}

/// Whether a field is a connection (selects `edges`, `nodes` or `pageInfo`).
pub fn is_connection(f: &Field) -> bool {
    f.selection
        .iter()
        .any(|c| matches!(c.name.as_str(), "edges" | "nodes" | "pageInfo"))
}

fn node_selection(f: &Field) -> Vec<&Field> {
    let mut sel: Vec<&Field> = Vec::new();
    if let Some(n) = f.child("nodes") {
        sel.extend(n.selection.iter());
    }
    if let Some(n) = f.child("edges").and_then(|e| e.child("node")) {
        sel.extend(n.selection.iter());
    }
    sel
}

fn object_cost(sel: &[&Field]) -> u64 {
    1 + sel.iter().map(|f| field_cost(f)).sum::<u64>()
}

fn field_cost(f: &Field) -> u64 {
    if is_connection(f) {
        let first = f
            .args
            .get("first")
            .or(f.args.get("last"))
            .and_then(Value::as_u64)
            .unwrap_or(1);
        first * object_cost(&node_selection(f)) + 2
    } else if f.selection.is_empty() {
        0
    } else {
        object_cost(&f.selection.iter().collect::<Vec<_>>())
    }
}

/// The requested cost of an operation.
pub fn requested(op: &Operation) -> u64 {
    match op.kind {
        OpKind::Mutation => 10 * op.fields.len() as u64,
        OpKind::Query => op.fields.iter().map(field_cost).sum(),
    }
}

fn answered_cost(f: &Field, value: &Value) -> u64 {
    if value.is_null() {
        return 0;
    }
    if is_connection(f) {
        let sel = node_selection(f);
        let nodes: Vec<&Value> = match value.get("nodes").and_then(Value::as_array) {
            Some(n) => n.iter().collect(),
            None => value
                .get("edges")
                .and_then(Value::as_array)
                .map(|e| e.iter().map(|e| &e["node"]).collect())
                .unwrap_or_default(),
        };
        let per: u64 = nodes.iter().map(|n| answered_object(&sel, n)).sum();
        return 2 + per;
    }
    if f.selection.is_empty() {
        return 0;
    }
    let sel: Vec<&Field> = f.selection.iter().collect();
    match value {
        Value::Array(items) => items.iter().map(|i| answered_object(&sel, i)).sum(),
        other => answered_object(&sel, other),
    }
}

fn answered_object(sel: &[&Field], value: &Value) -> u64 {
    1 + sel
        .iter()
        .map(|f| answered_cost(f, value.get(f.key()).unwrap_or(&Value::Null)))
        .sum::<u64>()
}

/// The actual cost of an answered operation (`data`).
pub fn actual(op: &Operation, data: &Value) -> u64 {
    match op.kind {
        OpKind::Mutation => 10 * op.fields.len() as u64,
        OpKind::Query => op
            .fields
            .iter()
            .map(|f| answered_cost(f, data.get(f.key()).unwrap_or(&Value::Null)))
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::graphql::parse;
    use super::*;
    use chrono::Duration;

    #[test]
    fn connection_cost_is_first_times_node_plus_two() {
        let op = parse("{ customers(first: 10) { pageInfo { hasNextPage } nodes { id defaultAddress { city } } } }", &serde_json::Map::new()).unwrap();
        // node: 1 + defaultAddress 1 = 2; 10 * 2 + 2; pageInfo is an object of the connection, counted by Shopify in the +2.
        assert_eq!(requested(&op), 22);
    }

    #[test]
    fn the_bucket_leaks_back_with_the_clock() {
        let b = Bucket::new(100.0, 10.0);
        let t = Utc::now();
        assert_eq!(b.take(t, 90.0), (true, 10.0));
        assert_eq!(b.take(t, 20.0), (false, 10.0));
        assert_eq!(b.take(t + Duration::seconds(1), 20.0), (true, 0.0));
        assert_eq!(b.take(t + Duration::seconds(100), 0.0), (true, 100.0));
    }
}
