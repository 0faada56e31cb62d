//! `repair_deletes`: the flow's delete policy applied to target records no source record
//! matched, each recorded in the ledger with trigger `reconcile`.

use chrono::Utc;
use ferry_model::config::OnDelete;
use ferry_store::{Commit, LedgerEntry, Outcome, XrefUpdate};
use tokio_util::sync::CancellationToken;

use super::TRIGGER;
use crate::assemble::Flow;
use crate::error::EngineError;
use crate::pipeline::apply_on_delete;
use crate::run::Engine;

/// What became of one page of orphans.
#[derive(Debug, Default)]
pub(super) struct Removed {
    pub done: u64,
    pub errors: Vec<String>,
}

/// Deletes (or archives, per `on_delete`) these target records — (target id, key) — and
/// commits one ledger entry per record. A source record that once wrote the target record
/// (found by key in the xref) forgets the write, so it is created again if it comes back.
pub(super) async fn remove_orphans(
    engine: &Engine,
    flow: &Flow,
    orphans: &[(String, Option<String>)],
    cancel: &CancellationToken,
) -> Result<Removed, EngineError> {
    if matches!(flow.config.on_delete, OnDelete::Ignore) {
        return Ok(Removed::default());
    }
    // A target record no source record matched: its key, else its id, names it.
    let targets: Vec<(String, Option<String>)> = orphans
        .iter()
        .map(|(id, key)| (key.clone().unwrap_or_else(|| id.clone()), Some(id.clone())))
        .collect();
    let results = apply_on_delete(flow, &engine.settings.retry, cancel, &targets).await?;
    // Claimed before the xref rows are read, so what they say still holds at the commit.
    let epoch = engine.claim(&flow.name).await?;
    let keys: Vec<String> = orphans.iter().filter_map(|(_, k)| k.clone()).collect();
    let xrefs = engine.store.xrefs_by_keys(&flow.name, &keys).await?;
    let mut commit = Commit {
        epoch: Some(epoch),
        ..Commit::default()
    };
    let mut removed = Removed::default();
    for ((target_id, key), result) in orphans.iter().zip(results) {
        // The xref row of a source record that wrote this target record, if any.
        let xref = key
            .as_ref()
            .and_then(|k| xrefs.get(k))
            .filter(|x| x.target_id.as_deref().is_none_or(|t| t == target_id));
        let (outcome, error_kind, error) = match &result {
            Ok(_) => (Outcome::Deleted, None, None),
            Err(e) => (
                Outcome::Failed,
                Some(e.kind().as_str().to_owned()),
                Some(format!(
                    "flow `{}`, target record `{target_id}`: on_delete {}: {}",
                    flow.name,
                    flow.config.on_delete.name(),
                    e.message()
                )),
            ),
        };
        commit.ledger.push(LedgerEntry {
            id: 0,
            flow: flow.name.clone(),
            source_id: xref.map(|x| x.source_id.clone()).unwrap_or_default(),
            key: key.clone(),
            run_id: None,
            at: Utc::now(),
            trigger: TRIGGER.to_owned(),
            outcome,
            attempt: 1,
            target_id: Some(target_id.clone()),
            before_hash: xref.and_then(|x| x.written_hash.clone()),
            after_hash: match &result {
                Ok((_, archived)) => archived.clone(),
                Err(_) => xref.and_then(|x| x.written_hash.clone()),
            },
            source_version: None,
            error_kind,
            error: error.clone(),
        });
        match (result, xref) {
            (Ok((archived_id, archived)), Some(x)) => {
                removed.done += 1;
                commit.xrefs.push(XrefUpdate {
                    source_id: x.source_id.clone(),
                    key: x.key.clone(),
                    target_id: archived_id,
                    read_hash: x.read_hash.clone(),
                    written_hash: archived,
                    source_version: x.source_version.clone(),
                    new: false,
                });
            }
            (Ok(_), None) => removed.done += 1,
            (Err(_), _) => removed.errors.extend(error),
        }
    }
    engine.store.commit(&flow.name, &commit).await?;
    Ok(removed)
}
