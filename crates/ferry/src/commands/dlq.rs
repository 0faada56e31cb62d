//! `ferry dlq list|show|replay|skip`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ferry_engine::NoProgress;
use ferry_store::{DeadLetter, DeadLetterFilter, DeadLetterState};

use crate::cli::DlqAction;
use crate::output::{out, outln, print_json, table, truncate};
use crate::workspace;

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
                            d.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
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
                outln!("since:     {}", d.created_at.to_rfc3339());
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
            let ids: Vec<i64> = if all {
                let filter = DeadLetterFilter {
                    flow,
                    states: vec![DeadLetterState::Open],
                    limit: Some(u32::MAX),
                };
                store
                    .dead_letters(&filter)
                    .await?
                    .into_iter()
                    .map(|d| d.id)
                    .collect()
            } else {
                ids
            };
            if ids.is_empty() {
                outln!("Nothing to replay.");
                return Ok(ExitCode::SUCCESS);
            }
            let mut flows = BTreeSet::new();
            for id in &ids {
                let d = store
                    .dead_letter(*id)
                    .await?
                    .with_context(|| format!("no dead letter {id}"))?;
                store
                    .replay_dead_letter(*id, "replay", None)
                    .await
                    .with_context(|| format!("replaying dead letter {id}"))?;
                flows.insert(d.flow);
            }
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
            for id in &ids {
                store
                    .skip_dead_letter(*id, "skip")
                    .await
                    .with_context(|| format!("skipping dead letter {id}"))?;
            }
            outln!("Skipped {} dead letter(s).", ids.len());
        }
    }
    Ok(ExitCode::SUCCESS)
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
