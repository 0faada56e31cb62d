//! `ferry conflicts list|show|resolve`: the review queue of two-way pairs.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ferry_engine::Pick;
use ferry_server::audit;
use ferry_store::{Conflict, ConflictFilter, ConflictState};
use serde_json::Value;

use crate::cli::{ConflictsAction, PickArg};
use crate::output::{out, outln, print_json, table, truncate};
use crate::workspace;

pub async fn conflicts(config: &Path, action: ConflictsAction) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(config).await?;
    let store = ws.engine.store().clone();
    match action {
        ConflictsAction::List {
            pair,
            all,
            limit,
            json,
        } => {
            let found = store
                .conflicts(&ConflictFilter {
                    pair,
                    state: (!all).then_some(ConflictState::Open),
                    limit: Some(limit),
                })
                .await?;
            if json {
                print_json(&found)?;
            } else if found.is_empty() {
                outln!("No conflicts.");
            } else {
                let rows: Vec<Vec<String>> = found
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.found.pair.clone(),
                            c.found.key.clone(),
                            c.found.fields.join(", "),
                            c.state.as_str().into(),
                            ws.times.show(c.updated_at),
                            truncate(&versions(&ws, c), 60),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &["id", "pair", "key", "fields", "state", "since", "versions"],
                        &rows
                    )
                );
            }
        }
        ConflictsAction::Show { id, json } => {
            let c = store
                .conflict(id)
                .await?
                .with_context(|| format!("no conflict {id}"))?;
            if json {
                print_json(&c)?;
            } else {
                show(&ws, &c);
            }
        }
        ConflictsAction::Resolve { id, pick, json } => {
            let pick = match pick {
                PickArg::Source => Pick::Source,
                PickArg::Target => Pick::Target,
            };
            let cancel = workspace::shutdown_token();
            let result = ws.engine.resolve_conflict(id, pick, "cli", &cancel).await;
            // Writing an operator's pick is an operator action: audited like the API's.
            let target = audit::target::conflict(id, pick.as_str());
            ws.audit(audit::action::CONFLICT_RESOLVE, &target, &result)
                .await;
            let c = result.map_err(|e| anyhow::anyhow!("{}", ws.loaded.redact(&e.to_string())))?;
            if json {
                print_json(&c)?;
            } else {
                let (system, other) = systems(&ws, &c);
                let (kept, written_to) = match pick {
                    Pick::Source => (system, other),
                    Pick::Target => (other, system),
                };
                outln!(
                    "Conflict {id} resolved: {kept}'s {} written to {written_to}.",
                    c.found.fields.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The source and target systems of the conflict's flow.
fn systems(ws: &workspace::Workspace, c: &Conflict) -> (String, String) {
    ws.engine.flow(&c.found.flow).map_or_else(
        |_| ("source".into(), "target".into()),
        |f| {
            (
                f.config.source.system.clone(),
                f.config.target.system.clone(),
            )
        },
    )
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(empty)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

fn versions(ws: &workspace::Workspace, c: &Conflict) -> String {
    let (source, target) = systems(ws, c);
    c.found
        .fields
        .iter()
        .map(|f| {
            format!(
                "{f}: {source} {} / {target} {}",
                text(c.found.source_values.get(f)),
                text(c.found.target_values.get(f))
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn show(ws: &workspace::Workspace, c: &Conflict) {
    let (source, target) = systems(ws, c);
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or("-".into(), |t| ws.times.show(t));
    outln!("conflict {}  ({})", c.id, c.state.as_str());
    outln!("pair:      {}", c.found.pair);
    outln!("key:       {}", c.found.key);
    outln!(
        "flow:      {} ({source} → {target}: `--pick source` keeps {source}'s version, \
         `--pick target` {target}'s)",
        c.found.flow
    );
    outln!(
        "ids:       {source} {}, {target} {}",
        c.found.source_id.as_deref().unwrap_or("-"),
        c.found.target_id.as_deref().unwrap_or("-")
    );
    outln!(
        "updated:   {source} {}, {target} {}",
        at(c.found.source_at),
        at(c.found.target_at)
    );
    outln!("found:     {}", ws.times.show(c.created_at));
    if let Some(pick) = &c.pick {
        outln!(
            "resolved:  {pick} picked by {} at {}",
            c.resolved_by.as_deref().unwrap_or("-"),
            ws.times.show(c.updated_at)
        );
    }
    let rows: Vec<Vec<String>> = c
        .found
        .fields
        .iter()
        .map(|f| {
            vec![
                f.clone(),
                text(c.found.base_values.get(f)),
                text(c.found.source_values.get(f)),
                text(c.found.target_values.get(f)),
            ]
        })
        .collect();
    let source_head = format!("source ({source})");
    let target_head = format!("target ({target})");
    out!(
        "{}",
        table(&["field", "last agreed", &source_head, &target_head], &rows)
    );
}
