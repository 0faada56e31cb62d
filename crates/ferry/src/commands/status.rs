//! `ferry status`.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use crate::output::{out, outln, print_json, table};
use crate::workspace;

/// One flow in `ferry status --json` (documented in docs/cli.md; fields are only ever added).
#[derive(Debug, Serialize)]
pub struct FlowStatus {
    pub flow: String,
    pub entity: String,
    pub source: String,
    pub target: String,
    pub trigger: String,
    pub disabled: bool,
    pub records: u64,
    pub queued: u64,
    pub dead_letters: u64,
    /// Two-way pairs: the pair, open conflicts, and `not_owner` reports of the last 24 h.
    pub pair: Option<String>,
    pub conflicts: u64,
    pub not_owner: u64,
    pub cursor: Option<String>,
    pub last_run: Option<ferry_store::Run>,
}

pub async fn status(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(config).await?;
    let states = ws.engine.store().flow_states().await?;
    let mut out = Vec::new();
    for flow in ws.engine.flows() {
        let state = states.iter().find(|s| s.flow == flow.name);
        out.push(FlowStatus {
            flow: flow.name.clone(),
            entity: flow.config.entity.to_string(),
            source: flow.config.source.system.clone(),
            target: flow.config.target.system.clone(),
            trigger: match &flow.config.trigger {
                ferry_model::config::Trigger::Manual => "manual".into(),
                ferry_model::config::Trigger::Poll(d) => format!("poll {}", String::from(*d)),
                ferry_model::config::Trigger::Cron(c) => format!("cron {c}"),
            },
            disabled: flow.config.disabled,
            records: state.map_or(0, |s| s.records),
            queued: state.map_or(0, |s| s.queued),
            dead_letters: state.map_or(0, |s| s.dead_letters),
            pair: flow.pair().map(str::to_owned),
            conflicts: state.map_or(0, |s| s.conflicts),
            not_owner: state.map_or(0, |s| s.not_owner),
            cursor: state.and_then(|s| s.cursor.clone()),
            last_run: state.and_then(|s| s.last_run.clone()),
        });
    }
    if json {
        print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|s| {
            let last = s.last_run.as_ref().map_or("never".to_owned(), |r| {
                if let (Some(end), n @ 1..) = (r.finished_at, r.idle_runs) {
                    return format!(
                        "{} idle (nothing new in {n} run(s) since {})",
                        end.format("%Y-%m-%d %H:%M:%S"),
                        r.started_at.format("%Y-%m-%d %H:%M:%S")
                    );
                }
                let state = match (&r.error, r.finished_at) {
                    (Some(_), _) => "stopped early",
                    (None, None) => "running or interrupted",
                    (None, Some(_)) => "ok",
                };
                format!(
                    "{} {} (read {}, +{} ~{} ={} !{})",
                    r.started_at.format("%Y-%m-%d %H:%M:%S"),
                    state,
                    r.stats.read,
                    r.stats.created,
                    r.stats.updated,
                    r.stats.unchanged,
                    r.stats.failed
                )
            });
            vec![
                s.flow.clone(),
                s.entity.clone(),
                format!("{} → {}", s.source, s.target),
                if s.disabled {
                    "disabled".into()
                } else {
                    s.trigger.clone()
                },
                s.records.to_string(),
                s.queued.to_string(),
                s.dead_letters.to_string(),
                last,
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "flow", "entity", "route", "trigger", "records", "queued", "dead", "last run"
            ],
            &rows
        )
    );
    // Two-way pairs: what needs a person.
    for s in out.iter().filter(|s| s.pair.is_some()) {
        let pair = s.pair.as_deref().unwrap_or_default();
        if s.not_owner > 0 {
            outln!(
                "{} (pair {pair}): {} change(s) in {} to fields {} owns were not propagated in \
                 the last 24 h (ledger outcome `not_owner`; `ferry ledger --key KEY` names the \
                 fields)",
                s.flow,
                s.not_owner,
                s.source,
                s.target
            );
        }
        if s.conflicts > 0 {
            outln!(
                "{} (pair {pair}): {} conflict(s) wait for review (`ferry conflicts list`)",
                s.flow,
                s.conflicts
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
