//! `ferry status`.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use ferry_engine::{Flow, Schedule};
use serde::Serialize;

use crate::output::{Times, out, outln, print_json, table};
use crate::workspace;

/// One flow in `ferry status --json` (documented in docs/cli.md; fields are only ever added).
#[derive(Debug, Serialize)]
pub struct FlowStatus {
    pub flow: String,
    pub entity: String,
    pub source: String,
    pub target: String,
    pub trigger: String,
    /// The IANA zone a cron trigger is read in (`None` for other triggers).
    pub timezone: Option<String>,
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
    /// When `ferry run` runs the flow next (a time not after now: due at once); `None` for
    /// a manual or disabled flow.
    pub next_run: Option<DateTime<Utc>>,
    /// When `ferry run` reconciles it next (`reconcile:`), if it does.
    pub next_reconcile: Option<DateTime<Utc>>,
}

pub async fn status(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(config).await?;
    let store = ws.engine.store();
    let states = store.flow_states().await?;
    let now = Utc::now();
    let mut out = Vec::new();
    for flow in ws.engine.flows() {
        let state = states.iter().find(|s| s.flow == flow.name);
        let last_run = state.and_then(|s| s.last_run.clone());
        let next_reconcile = match &flow.reconcile_schedule {
            Some(schedule) if !flow.config.disabled => {
                let last = store.reconciliations(Some(&flow.name), 1).await?;
                schedule.next_due(last.first().map(|r| r.started_at), now)
            }
            _ => None,
        };
        out.push(FlowStatus {
            flow: flow.name.clone(),
            entity: flow.config.entity.to_string(),
            source: flow.config.source.system.clone(),
            target: flow.config.target.system.clone(),
            trigger: flow.schedule.to_string(),
            timezone: match &flow.schedule {
                Schedule::Cron(cron) => Some(cron.zone().name().to_owned()),
                _ => None,
            },
            disabled: flow.config.disabled,
            records: state.map_or(0, |s| s.records),
            queued: state.map_or(0, |s| s.queued),
            dead_letters: state.map_or(0, |s| s.dead_letters),
            pair: flow.pair().map(str::to_owned),
            conflicts: state.map_or(0, |s| s.conflicts),
            not_owner: state.map_or(0, |s| s.not_owner),
            cursor: state.and_then(|s| s.cursor.clone()),
            next_run: next_run(flow, last_run.as_ref(), now),
            next_reconcile,
            last_run,
        });
    }
    if json {
        print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&out, ws.times, now);
    Ok(ExitCode::SUCCESS)
}

/// When the scheduler of `ferry run` runs the flow next: [`Schedule::next_due`] counted from
/// the last run's start (a row of idle polls stands for polls up to its end).
fn next_run(
    flow: &Flow,
    last: Option<&ferry_store::Run>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if flow.config.disabled {
        return None;
    }
    let last_start = last.map(|r| match (r.idle_runs, r.finished_at) {
        (1.., Some(end)) => end,
        _ => r.started_at,
    });
    flow.schedule.next_due(last_start, now)
}

fn print_table(flows: &[FlowStatus], times: Times, now: DateTime<Utc>) {
    let when = |t: DateTime<Utc>| {
        if t <= now {
            "now".to_owned()
        } else {
            times.show(t)
        }
    };
    let rows: Vec<Vec<String>> = flows
        .iter()
        .map(|s| {
            vec![
                s.flow.clone(),
                s.entity.clone(),
                format!("{} → {}", s.source, s.target),
                match (&s.timezone, s.disabled) {
                    (_, true) => "disabled".into(),
                    (Some(zone), false) => format!("{} ({zone})", s.trigger),
                    (None, false) => s.trigger.clone(),
                },
                s.records.to_string(),
                s.queued.to_string(),
                s.dead_letters.to_string(),
                last_run(s.last_run.as_ref(), times),
                match (s.next_run, s.disabled) {
                    (Some(t), _) => when(t),
                    (None, false) => "manual".into(),
                    (None, true) => "-".into(),
                },
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "flow", "entity", "route", "trigger", "records", "queued", "dead", "last run",
                "next run"
            ],
            &rows
        )
    );
    for s in flows {
        if let Some(t) = s.next_reconcile {
            outln!("{}: next reconciliation {}", s.flow, when(t));
        }
    }
    pair_notes(flows);
}

/// The last run: when, how it ended and its counts, or how many idle polls it stands for.
fn last_run(run: Option<&ferry_store::Run>, times: Times) -> String {
    let Some(r) = run else {
        return "never".to_owned();
    };
    if let (Some(end), n @ 1..) = (r.finished_at, r.idle_runs) {
        return format!(
            "{} idle (nothing new in {n} run(s) since {})",
            times.show(end),
            times.show(r.started_at)
        );
    }
    let state = match (&r.error, r.finished_at) {
        (Some(_), _) => "stopped early",
        (None, None) => "running or interrupted",
        (None, Some(_)) => "ok",
    };
    format!(
        "{} {} (read {}, +{} ~{} ={} !{})",
        times.show(r.started_at),
        state,
        r.stats.read,
        r.stats.created,
        r.stats.updated,
        r.stats.unchanged,
        r.stats.failed
    )
}

/// Two-way pairs: what needs a person.
fn pair_notes(flows: &[FlowStatus]) {
    for s in flows.iter().filter(|s| s.pair.is_some()) {
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
}
