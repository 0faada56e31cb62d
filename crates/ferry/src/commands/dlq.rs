//! `ferry dlq list|show|replay|skip`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ferry_engine::NoProgress;
use ferry_store::{DeadLetterFilter, DeadLetterState};

use crate::cli::DlqAction;
use crate::output::{print_json, table, truncate};
use crate::workspace;

pub async fn dlq(config: &Path, action: DlqAction) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(config).await?;
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
                println!("No dead letters.");
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
                            truncate(&ws.loaded.redact(&d.error), 90),
                        ]
                    })
                    .collect();
                print!(
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
                println!("dead letter {}  ({})", d.id, d.state.as_str());
                println!("flow:      {}", d.flow);
                println!("source id: {}", d.source_id);
                println!("key:       {}", d.key.as_deref().unwrap_or("-"));
                println!("attempts:  {}", d.attempts);
                println!("since:     {}", d.created_at.to_rfc3339());
                println!(
                    "error:     [{}] {}",
                    d.error_kind,
                    ws.loaded.redact(&d.error)
                );
                println!("payload:\n{}", serde_json::to_string_pretty(&d.payload)?);
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
                println!("Nothing to replay.");
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
                println!("Replayed {} dead letter(s):", ids.len());
                print!("{}", super::sync::summary_table(&reports));
                if reports.iter().any(|r| r.stats.failed > 0) {
                    println!("\nSome failed again: see `ferry dlq list`.");
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
            println!("Skipped {} dead letter(s).", ids.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
