//! Bulk operations (dossier §2): `bulkOperationRunQuery(query:)` runs the inner query over
//! every record (connections unbounded) into a JSONL file served by the double at
//! `/bulk-results/<n>.jsonl` (no token, like Shopify's signed download URL). Each node is a
//! line; nodes of nested connections are lines of their own with `__parentId`. One bulk
//! query at a time. `currentBulkOperation` answers `RUNNING` on its first read after a run
//! and `COMPLETED` (with `url`, `objectCount`) from then on — a guess that keeps polling
//! deterministic.

use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value, json};

use super::cost::is_connection;
use super::graphql::{self, Field};
use super::resolve;
use super::{Ctx, gid};
use crate::harness::Harness;
use crate::store::stamp;

#[derive(Debug, Default)]
struct Run {
    n: u64,
    created_at: String,
    completed_at: Option<String>,
    lines: Vec<String>,
    polls: u32,
    query: String,
}

/// The shop's bulk operations.
#[derive(Debug, Default)]
pub struct Bulk {
    runs: Mutex<Vec<Run>>,
}

impl Bulk {
    pub fn clear(&self) {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn json(run: &Run, base: &str) -> Value {
        let done = run.completed_at.is_some();
        json!({
            "id": gid("BulkOperation", run.n),
            "status": if done { "COMPLETED" } else { "RUNNING" },
            "errorCode": null,
            "createdAt": run.created_at,
            "completedAt": run.completed_at,
            "objectCount": if done { run.lines.len().to_string() } else { "0".to_owned() },
            "rootObjectCount": if done { run.lines.iter().filter(|l| !l.contains("__parentId")).count().to_string() } else { "0".to_owned() },
            "fileSize": if done { Value::from(run.lines.iter().map(|l| l.len() + 1).sum::<usize>().to_string()) } else { Value::Null },
            "url": if done { Value::from(format!("{base}/bulk-results/{}.jsonl", run.n)) } else { Value::Null },
            "partialDataUrl": null,
            "query": run.query,
            "type": "QUERY",
        })
    }

    /// `currentBulkOperation`: the latest run, moved on by this read.
    pub fn current(&self, harness: &Harness) -> Option<Value> {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let run = runs.last_mut()?;
        let answer = Self::json(run, harness.base_url());
        run.polls += 1;
        if run.polls >= 1 && run.completed_at.is_none() {
            run.completed_at = Some(stamp(harness.clock().now()));
        }
        Some(answer)
    }

    /// The JSONL of run `n`, once completed.
    pub fn result(&self, n: u64) -> Option<String> {
        let runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let run = runs.iter().find(|r| r.n == n && r.completed_at.is_some())?;
        Some(run.lines.iter().map(|l| format!("{l}\n")).collect())
    }

    /// `bulkOperationRunQuery`: the mutation's payload.
    pub fn run(&self, ctx: &Ctx, f: &Field) -> Result<Value, String> {
        let user_error = |m: &str| json!({"bulkOperation": null, "userErrors": [{"field": ["query"], "message": m, "code": null}]});
        let text = f.args.get("query").and_then(Value::as_str).unwrap_or("");
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        if runs.last().is_some_and(|r| r.completed_at.is_none()) {
            let m = "A bulk query operation for this app and shop is already in progress";
            return Ok(super::writes::payload(&user_error(m), f));
        }
        let op = match graphql::parse(text, &Map::new()) {
            Ok(op) => op,
            Err(e) => {
                return Ok(super::writes::payload(
                    &user_error(&format!("Invalid bulk query: {e}")),
                    f,
                ));
            }
        };
        let mut lines = Vec::new();
        for top in &op.fields {
            if !matches!(top.name.as_str(), "customers" | "products" | "orders")
                || !is_connection(top)
            {
                let m = format!(
                    "Bulk queries must contain a top-level connection (customers, products, orders), found `{}`",
                    top.name
                );
                return Ok(super::writes::payload(&user_error(&m), f));
            }
            let kind = super::kind_of(&top.name);
            for (_, node) in resolve::collection(ctx, kind, top)? {
                emit(&node, &node_fields(top), None, &mut lines)?;
            }
        }
        let n = runs.last().map_or(1, |r| r.n + 1);
        runs.push(Run {
            n,
            created_at: stamp(ctx.harness.clock().now()),
            completed_at: None,
            lines,
            polls: 0,
            query: text.to_owned(),
        });
        let answer = json!({"bulkOperation": Self::json(runs.last().expect("pushed"), ctx.harness.base_url()), "userErrors": []});
        Ok(super::writes::payload(&answer, f))
    }
}

fn node_fields(conn: &Field) -> Vec<Field> {
    conn.child("edges")
        .and_then(|e| e.child("node"))
        .or(conn.child("nodes"))
        .map(|n| n.selection.clone())
        .unwrap_or_default()
}

/// Writes `node` (its non-connection fields) as a line, then its nested connections' nodes.
fn emit(
    node: &Value,
    sel: &[Field],
    parent: Option<&Value>,
    lines: &mut Vec<String>,
) -> Result<(), String> {
    let flat: Vec<Field> = sel.iter().filter(|f| !is_connection(f)).cloned().collect();
    let mut line = resolve::select(node, &flat)?;
    if let Some(p) = parent {
        line["__parentId"] = p.clone();
    }
    lines.push(line.to_string());
    for conn in sel.iter().filter(|f| is_connection(f)) {
        for child in node
            .get(&conn.name)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            emit(child, &node_fields(conn), Some(&node["id"]), lines)?;
        }
    }
    Ok(())
}
