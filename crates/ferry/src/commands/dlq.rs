//! `ferry dlq list|show|replay|skip`. Replays and skips are audited like the API's
//! (`dead_letter.replay`, `dead_letter.skip`, source `cli (user …)`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ferry_engine::NoProgress;
use ferry_server::audit::{action, target};
use ferry_store::{DeadLetter, DeadLetterFilter, DeadLetterState};

use crate::cli::DlqAction;
use crate::output::{out, outln, print_json, table, truncate};
use crate::workspace::{self, Workspace};

pub async fn dlq(config: &Path, action: DlqAction) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(config).await?;
    if let DlqAction::List {
        flow: Some(flow), ..
    }
    | DlqAction::Replay {
        flow: Some(flow), ..
    } = &action
    {
        ws.check_flow(flow)?;
    }
    let store = ws.engine.store().clone();
    match action {
        DlqAction::List {
            flow,
            all,
            limit,
            json,
        } => {
            let states = if all {
                vec![
                    DeadLetterState::Open,
                    DeadLetterState::Replayed,
                    DeadLetterState::Skipped,
                    DeadLetterState::Resolved,
                ]
            } else {
                vec![DeadLetterState::Open]
            };
            let letters = store
                .dead_letters(&DeadLetterFilter {
                    flow,
                    states,
                    limit: Some(limit),
                })
                .await?;
            if json {
                print_json(&letters)?;
            } else if letters.is_empty() {
                outln!("No dead letters.");
            } else {
                let rows: Vec<Vec<String>> = letters
                    .iter()
                    .map(|d| {
                        vec![
                            d.id.to_string(),
                            d.flow.clone(),
                            d.source_id.clone(),
                            d.key.clone().unwrap_or_default(),
                            d.state.as_str().into(),
                            ws.times.show(d.created_at),
                            truncate(&reason(&ws.loaded.redact(&d.error), d), 90),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &["id", "flow", "source id", "key", "state", "since", "error"],
                        &rows
                    )
                );
            }
        }
        DlqAction::Show { id, json } => {
            let d = store
                .dead_letter(id)
                .await?
                .with_context(|| format!("no dead letter {id}"))?;
            if json {
                print_json(&d)?;
            } else {
                outln!("dead letter {}  ({})", d.id, d.state.as_str());
                outln!("flow:      {}", d.flow);
                outln!("source id: {}", d.source_id);
                outln!("key:       {}", d.key.as_deref().unwrap_or("-"));
                outln!("attempts:  {}", d.attempts);
                outln!("since:     {}", ws.times.show(d.created_at));
                outln!(
                    "error:     [{}] {}",
                    d.error_kind,
                    ws.loaded.redact(&d.error)
                );
                outln!("payload:\n{}", serde_json::to_string_pretty(&d.payload)?);
            }
        }
        DlqAction::Replay {
            ids,
            all,
            flow,
            json,
        } => {
            let (ids, everything) = if all {
                let filter = DeadLetterFilter {
                    flow: flow.clone(),
                    states: vec![DeadLetterState::Open],
                    limit: Some(u32::MAX),
                };
                let open: Vec<i64> = store
                    .dead_letters(&filter)
                    .await?
                    .into_iter()
                    .map(|d| d.id)
                    .collect();
                let target = all_open(flow.as_deref(), open.len());
                (open, Some(target))
            } else {
                (ids, None)
            };
            if ids.is_empty() {
                outln!("Nothing to replay.");
                return Ok(ExitCode::SUCCESS);
            }
            let replay = async |id: i64| -> anyhow::Result<String> {
                let d = store
                    .dead_letter(id)
                    .await?
                    .with_context(|| format!("no dead letter {id}"))?;
                store
                    .replay_dead_letter(id, "replay", None)
                    .await
                    .with_context(|| format!("replaying dead letter {id}"))?;
                Ok(d.flow)
            };
            let flows: BTreeSet<String> = audited(
                &ws,
                action::DEAD_LETTER_REPLAY,
                &ids,
                everything.as_deref(),
                replay,
            )
            .await?
            .into_iter()
            .collect();
            // Work the replayed items off now; `ferry run` would do it within a second too.
            let cancel = workspace::shutdown_token();
            let mut reports = Vec::new();
            for flow in flows {
                reports.push(
                    ws.engine
                        .drain_queue(&flow, "replay", &NoProgress, &cancel)
                        .await?,
                );
            }
            if json {
                print_json(&reports)?;
            } else {
                outln!("Replayed {} dead letter(s):", ids.len());
                out!("{}", super::sync::summary_table(&reports));
                if reports.iter().any(|r| r.stats.failed > 0) {
                    outln!("\nSome failed again: see `ferry dlq list`.");
                }
            }
        }
        DlqAction::Skip { ids } => {
            let skip = async |id: i64| -> anyhow::Result<()> {
                store
                    .skip_dead_letter(id, "skip")
                    .await
                    .with_context(|| format!("skipping dead letter {id}"))
            };
            audited(&ws, action::DEAD_LETTER_SKIP, &ids, None, skip).await?;
            outln!("Skipped {} dead letter(s).", ids.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `act` on each dead letter in turn, stopping at the first failure, and audits it
/// under `action`: one entry per id (`dead letter 12`, as the API writes it), or with
/// `--all` one entry for them all (`everything`, the target naming how many).
async fn audited<T>(
    ws: &Workspace,
    action: &str,
    ids: &[i64],
    everything: Option<&str>,
    act: impl AsyncFn(i64) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let mut done = Vec::with_capacity(ids.len());
    for &id in ids {
        let result = act(id).await;
        if everything.is_none() || result.is_err() {
            let one = target::dead_letter(id);
            let target = everything.map_or(one.clone(), |all| format!("{all}: stopped at {one}"));
            ws.audit(action, &target, &result).await;
        }
        done.push(result?);
    }
    if let Some(all) = everything {
        ws.audit(action, all, &Ok::<(), String>(())).await;
    }
    Ok(done)
}

/// The target of `--all`: `all open dead letters of flow customers (12)`.
fn all_open(flow: Option<&str>, count: usize) -> String {
    match flow {
        Some(flow) => format!("all open dead letters of flow {flow} ({count})"),
        None => format!("all open dead letters ({count})"),
    }
}

/// A dead letter's error without the `flow `…`, record `…`, key `…`` it starts with: the
/// table has columns for those, and repeating them pushed the reason past the cut.
fn reason(error: &str, d: &DeadLetter) -> String {
    strip_labels(error, &d.flow, &d.source_id, d.key.as_deref()).to_owned()
}

fn strip_labels<'a>(error: &'a str, flow: &str, record: &str, key: Option<&str>) -> &'a str {
    let labels = [
        Some(format!("flow `{flow}`")),
        Some(format!("record `{record}`")),
        key.map(|k| format!("key `{k}`")),
    ];
    let mut rest = error;
    for label in labels.iter().flatten() {
        if let Some(after) = rest.strip_prefix(label.as_str()) {
            rest = after.trim_start_matches([',', ':', ' ']);
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_drops_what_the_columns_show() {
        let strip = |error| strip_labels(error, "customers", "7", Some("C7"));
        assert_eq!(
            strip("flow `customers`, record `7`, field `code`: the business key is empty"),
            "field `code`: the business key is empty"
        );
        assert_eq!(
            strip("flow `customers`, record `7`, key `C7`: email changed in both"),
            "email changed in both"
        );
        // Text that does not start with the labels is kept whole.
        assert_eq!(strip("target refused: 500"), "target refused: 500");
    }
}
