//! `ferry ledger --key KEY`.

use std::path::Path;
use std::process::ExitCode;

use ferry_store::{LedgerEntry, Outcome};
use serde::Serialize;

use crate::output::{out, outln, print_json, table, truncate};
use crate::workspace;

/// One flow's view of a key in `ferry ledger --json` (documented in docs/cli.md).
#[derive(Debug, Serialize)]
pub struct KeyHistory {
    pub flow: String,
    pub source_id: String,
    pub key: Option<String>,
    pub target_id: Option<String>,
    pub last_source_version: Option<String>,
    pub last_written_hash: Option<String>,
    /// `synced`, `dead_letter`, `queued`, `skipped`, `deleted` or `never_written`, from the
    /// last attempt.
    pub state: String,
    pub attempts: usize,
    pub last_error: Option<String>,
    pub entries: Vec<LedgerEntry>,
}

pub async fn ledger(
    config: &Path,
    key: &str,
    flow: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(config).await?;
    if let Some(flow) = flow {
        ws.check_flow(flow)?;
    }
    let store = ws.engine.store().clone();
    let mut entries = store.ledger(flow, key).await?;
    let mut xrefs = store.xrefs_by_key(flow, key).await?;
    // Attempts made before the key was known (a record that failed to map) are found
    // through the source id the xref links the key to.
    for x in &xrefs {
        for e in store.ledger(Some(&x.flow), &x.source_id).await? {
            if e.flow == x.flow && !entries.iter().any(|known| known.id == e.id) {
                entries.push(e);
            }
        }
    }
    entries.sort_by_key(|e| e.id);
    // A source id given instead of a key: find its xref in each flow.
    for f in ws
        .engine
        .flows()
        .filter(|f| flow.is_none_or(|name| name == f.name))
    {
        let found = store.xrefs(&f.name, &[key.to_owned()]).await?.remove(key);
        if let Some(x) = found.filter(|x| {
            !xrefs
                .iter()
                .any(|y| y.flow == x.flow && y.source_id == x.source_id)
        }) {
            xrefs.push(x);
        }
    }
    let mut pairs: Vec<(String, String)> = xrefs
        .iter()
        .map(|x| (x.flow.clone(), x.source_id.clone()))
        .collect();
    for e in &entries {
        if !pairs.contains(&(e.flow.clone(), e.source_id.clone())) {
            pairs.push((e.flow.clone(), e.source_id.clone()));
        }
    }
    let mut histories = Vec::new();
    for (flow_name, source_id) in pairs {
        let xref = xrefs
            .iter()
            .find(|x| x.flow == flow_name && x.source_id == source_id);
        let mine: Vec<LedgerEntry> = entries
            .iter()
            .filter(|e| e.flow == flow_name && e.source_id == source_id)
            .cloned()
            .collect();
        // The state follows from the last attempt; a record never attempted is synced if its
        // xref says something was written (an unchanged re-read leaves no entry).
        let state = match mine.last().map(|e| e.outcome) {
            Some(Outcome::DeadLettered) => "dead_letter",
            Some(Outcome::Failed) => "queued",
            Some(Outcome::Skipped) => "skipped",
            Some(Outcome::Deleted) => "deleted",
            Some(Outcome::NotFound) => "not_found",
            _ if xref.is_some_and(|x| x.written_hash.is_some()) => "synced",
            _ => "never_written",
        };
        histories.push(KeyHistory {
            flow: flow_name,
            source_id,
            key: xref
                .and_then(|x| x.key.clone())
                .or_else(|| mine.iter().rev().find_map(|e| e.key.clone())),
            target_id: xref.and_then(|x| x.target_id.clone()),
            last_source_version: xref.and_then(|x| x.source_version.clone()),
            last_written_hash: xref.and_then(|x| x.written_hash.clone()),
            state: state.into(),
            attempts: mine.len(),
            last_error: mine
                .iter()
                .rev()
                .find_map(|e| e.error.clone())
                .map(|e| ws.loaded.redact(&e)),
            entries: mine,
        });
    }
    if json {
        print_json(&histories)?;
        return Ok(ExitCode::SUCCESS);
    }
    if histories.is_empty() {
        outln!("Nothing is known of `{key}`.");
        return Ok(ExitCode::FAILURE);
    }
    for h in &histories {
        outln!(
            "flow {}  source id {}  key {}",
            h.flow,
            h.source_id,
            h.key.as_deref().unwrap_or("-")
        );
        outln!("  state:               {}", h.state);
        outln!(
            "  target id:           {}",
            h.target_id.as_deref().unwrap_or("-")
        );
        outln!(
            "  last source version: {}",
            h.last_source_version.as_deref().unwrap_or("-")
        );
        outln!(
            "  last written hash:   {}",
            h.last_written_hash.as_deref().unwrap_or("-")
        );
        outln!("  attempts:            {}", h.attempts);
        if let Some(e) = &h.last_error {
            outln!("  last error:          {e}");
        }
        let rows: Vec<Vec<String>> = h
            .entries
            .iter()
            .map(|e| {
                vec![
                    format!("  {}", ws.times.show_ms(e.at)),
                    e.trigger.clone(),
                    e.outcome.as_str().into(),
                    e.attempt.to_string(),
                    e.after_hash.clone().unwrap_or_default(),
                    truncate(&ws.loaded.redact(e.error.as_deref().unwrap_or("")), 70),
                ]
            })
            .collect();
        out!(
            "{}",
            table(
                &["  at", "trigger", "outcome", "try", "hash", "error"],
                &rows
            )
        );
        outln!();
    }
    Ok(ExitCode::SUCCESS)
}
