//! The path of one batch of records: diff against xref → map → validate → upsert → record.
//!
//! Used by scans and by the queue alike; the caller commits what [`process`] returns.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::Utc;
use ferry_kit::{Outgoing, Removal};
use ferry_model::{ConnectorError, ErrorKind, Record, content_hash};
use ferry_store::{
    Commit, LedgerEntry, NewDeadLetter, Outcome, QueueItem, RunStats, Store, Xref, XrefUpdate,
};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::assemble::Flow;
use crate::error::EngineError;
use crate::retry::{Retried, retry};
use crate::states;
use ferry_model::config::{OnDelete, RetrySettings};
use ferry_model::config::{RefSide, ResolvedDependency};

/// Where the records of a batch came from.
pub(crate) struct BatchContext<'a> {
    /// What triggered the work (`poll`, `manual`, `replay`…), for the ledger.
    pub trigger: &'a str,
    /// The run, for the ledger.
    pub run_id: Option<i64>,
    /// Queue items by source id, when the batch came from the queue.
    pub items: HashMap<String, QueueItem>,
    /// Process records even when their source hash says nothing changed.
    pub force: bool,
    /// xref rows of the batches processed before this one whose commits the store's answer
    /// may not show yet.
    pub overlay: Overlay,
    /// The run's claim on the flow ([`crate::run::Engine`] claims before it reads the cursor
    /// or leases queue items): the batch's commit is refused if the flow was claimed since.
    pub epoch: u64,
}

/// xref rows of recently processed batches, newest batch first, whose commits may not be
/// visible in what the store returned for this batch (not committed yet, or committed after
/// the lookup): for the records they hold they are newer than the store's rows.
#[derive(Default)]
pub(crate) struct Overlay(VecDeque<HashMap<String, Xref>>);

impl Overlay {
    /// Adds the rows of the batch processed last, keeping the newest `depth` batches.
    pub fn push(&mut self, rows: HashMap<String, Xref>, depth: usize) {
        self.0.push_front(rows);
        self.0.truncate(depth);
    }

    /// The xref row a record is processed against: the newest batch's row when one holds it,
    /// else the store's; its state is the newest one recorded (see [`states::before`]).
    fn before(&self, id: &str, stored: Option<&Xref>) -> Option<Xref> {
        let mut rows = self.0.iter().filter_map(|batch| batch.get(id));
        let newest = rows.next();
        let mut row = states::before(newest, stored)?;
        if newest.is_some_and(|x| x.state.is_none())
            && let Some(state) = rows.find_map(|x| x.state.as_ref())
        {
            row.state = Some(state.clone());
        }
        Some(row)
    }
}

/// The part of a batch's work that needs neither the target nor the outcome of the batches
/// before it: each record's read hash, its xref row as the store holds it now, and the mapping
/// of each record whose read hash differs from that row's. A scan does this on the task that
/// reads ahead, so it overlaps the writing of the batch before; [`process`] does it itself for
/// batches that come without it.
pub(crate) struct Prework {
    /// Per record, in order: the hash of the record as read.
    read_hashes: Vec<String>,
    /// The store's xref rows of the batch's records, by source id.
    xrefs: HashMap<String, Xref>,
    /// Per record, in order: the mapping, when it was worth doing before the batch's xref
    /// rows are final (`process` maps the others if it needs them).
    mapped: Vec<Option<Mapped>>,
}

/// A mapped record, or why it could not be mapped (the message, and the business key when
/// the failure knows it).
type Mapped = Result<Map<String, Value>, (String, Option<String>)>;

/// Does the [`Prework`] of a batch: the records come back with one version per source id.
pub(crate) async fn prework(
    flow: &Flow,
    store: &dyn Store,
    retry_settings: &RetrySettings,
    cancel: &CancellationToken,
    records: Vec<Record>,
) -> Result<(Vec<Record>, Prework), EngineError> {
    let records = last_version_per_id(records);
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let xrefs = retry(retry_settings, cancel, "store.xrefs", || {
        store.xrefs(&flow.name, &ids)
    })
    .await
    .map_err(store_failure)?;
    let read_hashes: Vec<String> = records.iter().map(Record::hash).collect();
    let mapped = records
        .iter()
        .zip(&read_hashes)
        .map(|(record, hash)| {
            let stored = xrefs.get(&record.id).and_then(|x| x.read_hash.as_deref());
            (!record.deleted && stored != Some(hash.as_str())).then(|| map_record(flow, record))
        })
        .collect();
    Ok((
        records,
        Prework {
            read_hashes,
            xrefs,
            mapped,
        },
    ))
}

/// The flow's mapping of one record; a record the source could not read (`_error`) fails.
fn map_record(flow: &Flow, record: &Record) -> Mapped {
    match record.fields.get("_error") {
        Some(reason) => Err((
            format!(
                "flow `{}`, record `{}`: {}",
                flow.name,
                record.id,
                text(reason)
            ),
            None,
        )),
        None => flow
            .mapping
            .apply(record)
            .map_err(|e| (e.to_string(), e.key)),
    }
}

/// What became of a batch, for the caller to commit and act on.
#[derive(Default)]
pub(crate) struct BatchResult {
    pub commit: Commit,
    pub stats: RunStats,
    /// Records that failed transiently, to be tried again later. Not in `stats.failed`: the
    /// run counts those still left for another try when it ends.
    pub transient: Vec<TransientFailure>,
}

/// A record the target refused for now (a lock, a timeout of its own): tried again later,
/// and dead-lettered with its payload if it keeps failing.
pub(crate) struct TransientFailure {
    pub source_id: String,
    pub key: String,
    pub attempt: u32,
    pub error: String,
    /// The source record as read, so a dead letter made of it loses nothing.
    pub payload: Value,
    /// The record waits for another flow to sync a record it refers to (that flow's name).
    pub waiting_on: Option<String>,
}

/// A record deleted at the source whose target record the flow's policy acts on.
struct Removing {
    record: Record,
    read_hash: String,
    before: Xref,
}

pub(crate) struct Pending {
    pub record: Record,
    pub key: String,
    pub hash: String,
    pub read_hash: String,
    pub before: Option<Xref>,
    pub fields: Map<String, Value>,
    /// Two-way pairs: the agreed values to commit once the write succeeds.
    pub baseline: Option<ferry_store::BaselineUpdate>,
    /// The document state to record once written (flows with `states:`).
    pub state: Option<String>,
}

/// Runs the records of one batch through the flow and writes the changed ones. `done` is
/// the batch's [`Prework`] when the caller did it, with the records it returned.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn process(
    flow: &Flow,
    store: &dyn Store,
    retry_settings: &RetrySettings,
    parallel: Parallelism,
    cancel: &CancellationToken,
    records: Vec<Record>,
    done: Option<Prework>,
    ctx: &BatchContext<'_>,
) -> Result<BatchResult, EngineError> {
    let mut out = BatchResult::default();
    out.commit.epoch = Some(ctx.epoch);
    let (records, prework) = match done {
        Some(prework) if prework.read_hashes.len() == records.len() => (records, prework),
        _ => prework(flow, store, retry_settings, cancel, records).await?,
    };
    let Prework {
        read_hashes,
        xrefs,
        mapped: premapped,
    } = prework;

    let mut mapped: Vec<Pending> = Vec::with_capacity(records.len());
    let mut removing: Vec<Removing> = Vec::new();
    for ((record, read_hash), premapped) in records.into_iter().zip(read_hashes).zip(premapped) {
        out.stats.read += 1;
        let before = ctx.overlay.before(&record.id, xrefs.get(&record.id));
        if !ctx.force
            && before.as_ref().and_then(|x| x.read_hash.as_deref()) == Some(read_hash.as_str())
        {
            out.stats.unchanged += 1;
            ack(&mut out.commit, ctx, &record.id);
            continue;
        }
        if record.deleted {
            match before {
                // Something was written for it and the flow's policy says to act on it.
                Some(x)
                    if flow.config.on_delete != OnDelete::Ignore
                        && (x.target_id.is_some() || x.written_hash.is_some()) =>
                {
                    removing.push(Removing {
                        record,
                        read_hash,
                        before: x,
                    });
                }
                // Recorded, not propagated: the read hash remembers the delete so that it is
                // reported once.
                Some(x) => {
                    out.stats.deleted += 1;
                    out.commit.ledger.push(ledger_deleted(
                        flow,
                        ctx,
                        &record,
                        &x,
                        x.target_id.clone(),
                        x.written_hash.clone(),
                    ));
                    out.commit.xrefs.push(XrefUpdate {
                        source_id: record.id.clone(),
                        key: x.key.clone(),
                        target_id: x.target_id.clone(),
                        read_hash: Some(read_hash),
                        written_hash: x.written_hash.clone(),
                        source_version: record.version(),
                        new: false,
                    });
                    out.commit.gone.push(record.id.clone());
                    ack(&mut out.commit, ctx, &record.id);
                }
                // Asked for by id, but neither the source nor Ferry knows it: say so, in
                // the ledger too, so `ferry sync --id` and `POST /sync` can answer it.
                None if ctx.items.contains_key(&record.id) => {
                    out.stats.not_found += 1;
                    let message = format!(
                        "flow `{}`, record `{}`: the source has no such record, and Ferry \
                         never wrote one",
                        flow.name, record.id
                    );
                    let attempt = attempt_of(ctx, &record.id);
                    out.commit.ledger.push(ledger_failure(
                        flow,
                        ctx,
                        &record,
                        None,
                        None,
                        attempt,
                        Outcome::NotFound,
                        ErrorKind::NotFound,
                        &message,
                    ));
                    ack(&mut out.commit, ctx, &record.id);
                }
                // A delete seen by a scan of a record Ferry never knew: nothing to do.
                None => {
                    out.stats.unchanged += 1;
                    ack(&mut out.commit, ctx, &record.id);
                }
            }
            continue;
        }
        let attempt = attempt_of(ctx, &record.id);
        // A failure keeps the business key when it is known (a validation failure), so the
        // dead letter and the ledger can be found by key.
        let outcome = premapped.unwrap_or_else(|| map_record(flow, &record));
        let outcome = outcome.and_then(|fields| match business_key(&fields, &flow.key_field) {
            Some(key) => Ok((key, fields)),
            None => Err((
                format!(
                    "flow `{}`, record `{}`, field `{}`: the business key is empty",
                    flow.name, record.id, flow.key_field
                ),
                None,
            )),
        });
        // The state machine: a status change it does not allow is refused like a bad value.
        let outcome = outcome.and_then(|(key, fields)| {
            match states::check(flow, &record.id, &fields, before.as_ref()) {
                Ok(state) => Ok((key, fields, state)),
                Err(message) => Err((message, Some(key))),
            }
        });
        let (key, fields, state) = match outcome {
            Ok(ok) => ok,
            Err((message, key)) => {
                dead_letter(
                    &mut out,
                    flow,
                    ctx,
                    &record,
                    key.as_deref(),
                    &read_hash,
                    before.as_ref(),
                    attempt,
                    ErrorKind::Validation,
                    message,
                );
                continue;
            }
        };
        mapped.push(Pending {
            record,
            key,
            hash: String::new(),
            read_hash,
            before,
            fields,
            state,
            baseline: None,
        });
    }

    // Deletes go first: a key deleted and re-used by a new record in the same batch must end
    // up written, not deleted.
    if !removing.is_empty() {
        remove(flow, retry_settings, cancel, ctx, removing, &mut out).await?;
    }

    // References to other flows' records become the target's ids; a record whose reference
    // is not synced yet waits (the hash below must cover the resolved ids).
    let mapped = if flow.dependencies.is_empty() {
        mapped
    } else {
        resolve_dependencies(flow, store, retry_settings, cancel, ctx, mapped, &mut out).await?
    };

    // Two-way pairs: only the changes this side owns (or shares and wins) are written; the
    // pair's baseline, not the written hash, says what changed.
    let mapped = match &flow.two_way {
        None => mapped,
        Some(tw) => {
            crate::ownership::apply(
                flow,
                tw,
                store,
                retry_settings,
                cancel,
                ctx,
                mapped,
                &mut out,
            )
            .await?
        }
    };

    let mut pending: Vec<Pending> = Vec::with_capacity(mapped.len());
    for mut p in mapped {
        p.hash = content_hash(&p.fields);
        // A reconcile repair rewrites the record even when the store says the target already
        // has it: the target was changed behind Ferry's back.
        let rewrite = ctx
            .items
            .get(&p.record.id)
            .is_some_and(|item| item.trigger == crate::reconcile::TRIGGER);
        if !rewrite
            && flow.two_way.is_none()
            && p.before.as_ref().and_then(|x| x.written_hash.as_deref()) == Some(p.hash.as_str())
        {
            out.stats.unchanged += 1;
            states::written(&mut out.commit, &p.record.id, p.before.as_ref(), p.state);
            out.commit.xrefs.push(XrefUpdate {
                source_id: p.record.id.clone(),
                key: Some(p.key),
                target_id: p.before.as_ref().and_then(|x| x.target_id.clone()),
                read_hash: Some(p.read_hash),
                written_hash: Some(p.hash),
                source_version: p.record.version(),
                new: false,
            });
            deliver(&mut out.commit, p.before.as_ref(), &p.record.id);
            ack(&mut out.commit, ctx, &p.record.id);
            continue;
        }
        pending.push(p);
    }

    // Two source records may carry the same business key; a multi-row upsert must not touch
    // one key twice, so such records go in successive rounds, in read order.
    for mut round in rounds_by_key(pending) {
        let outgoing: Vec<Outgoing> = round
            .iter_mut()
            .map(|p| Outgoing {
                key: p.key.clone(),
                target_id: p.before.as_ref().and_then(|x| x.target_id.clone()),
                fields: std::mem::take(&mut p.fields),
            })
            .collect();
        let results = upsert_in_parallel(flow, retry_settings, parallel, cancel, &outgoing).await?;
        if results.len() != round.len() {
            return Err(EngineError::Target {
                flow: flow.name.clone(),
                error: ConnectorError::fatal(format!(
                    "the target answered {} results for {} records",
                    results.len(),
                    round.len()
                )),
            });
        }
        for (p, result) in round.into_iter().zip(results) {
            let attempt = attempt_of(ctx, &p.record.id);
            match result {
                Ok(written) => {
                    let created = p.before.as_ref().is_none_or(|x| x.written_hash.is_none());
                    let outcome = if created {
                        Outcome::Created
                    } else {
                        Outcome::Updated
                    };
                    if created {
                        out.stats.created += 1
                    } else {
                        out.stats.updated += 1
                    }
                    states::written(&mut out.commit, &p.record.id, p.before.as_ref(), p.state);
                    let version = p.record.version();
                    out.commit.ledger.push(LedgerEntry {
                        id: 0,
                        flow: flow.name.clone(),
                        source_id: p.record.id.clone(),
                        key: Some(p.key.clone()),
                        run_id: ctx.run_id,
                        at: Utc::now(),
                        trigger: ctx.trigger.to_owned(),
                        outcome,
                        attempt,
                        target_id: Some(written.target_id.clone()),
                        before_hash: p.before.as_ref().and_then(|x| x.written_hash.clone()),
                        after_hash: Some(p.hash.clone()),
                        source_version: version.clone(),
                        error_kind: None,
                        error: None,
                    });
                    out.commit.xrefs.push(XrefUpdate {
                        source_id: p.record.id.clone(),
                        key: Some(p.key),
                        target_id: Some(written.target_id),
                        read_hash: Some(p.read_hash),
                        written_hash: Some(p.hash),
                        source_version: version,
                        new: p.before.is_none(),
                    });
                    if let Some(baseline) = p.baseline {
                        out.commit.baselines.push(baseline);
                    }
                    deliver(&mut out.commit, p.before.as_ref(), &p.record.id);
                    ack(&mut out.commit, ctx, &p.record.id);
                }
                Err(error) if error.kind().is_transient() => {
                    // Counted as failed by the run if it ends with the record still waiting
                    // for its next try (see `run::Tally`).
                    out.commit.ledger.push(ledger_failure(
                        flow,
                        ctx,
                        &p.record,
                        Some(&p.key),
                        p.before.as_ref(),
                        attempt,
                        Outcome::Failed,
                        error.kind(),
                        error.message(),
                    ));
                    out.transient.push(TransientFailure {
                        source_id: p.record.id.clone(),
                        key: p.key.clone(),
                        attempt,
                        error: error.message().to_owned(),
                        payload: serde_json::to_value(&p.record).unwrap_or(Value::Null),
                        waiting_on: None,
                    });
                }
                Err(error) => {
                    let message = format!(
                        "flow `{}`, record `{}`: {}",
                        flow.name,
                        p.record.id,
                        error.message()
                    );
                    dead_letter(
                        &mut out,
                        flow,
                        ctx,
                        &p.record,
                        Some(&p.key),
                        &p.read_hash,
                        p.before.as_ref(),
                        attempt,
                        error.kind(),
                        message,
                    );
                }
            }
        }
    }
    Ok(out)
}

/// Applies the flow's delete policy (`on_delete`) to records deleted at the source: deletes
/// their target records, or writes the archive fields to them. Each success is a `deleted`
/// ledger entry with the target id; the xref forgets what was written for a deleted record,
/// so a record that re-appears is created again. Every record leaves the snapshot candidates
/// (`gone`), failed ones included: their queue item or dead letter carries them on.
async fn remove(
    flow: &Flow,
    retry_settings: &RetrySettings,
    cancel: &CancellationToken,
    ctx: &BatchContext<'_>,
    removing: Vec<Removing>,
    out: &mut BatchResult,
) -> Result<(), EngineError> {
    if matches!(flow.config.on_delete, OnDelete::Ignore) {
        return Ok(());
    }
    let targets: Vec<(String, Option<String>)> = removing
        .iter()
        .map(|r| {
            (
                r.before.key.clone().unwrap_or_default(),
                r.before.target_id.clone(),
            )
        })
        .collect();
    let results = apply_on_delete(flow, retry_settings, cancel, &targets).await?;
    for (r, result) in removing.into_iter().zip(results) {
        let attempt = attempt_of(ctx, &r.record.id);
        out.commit.gone.push(r.record.id.clone());
        match result {
            Ok((target_id, written_hash)) => {
                out.stats.deleted += 1;
                // The ledger names the record the policy acted on.
                let acted_on = target_id.clone().or_else(|| r.before.target_id.clone());
                out.commit.ledger.push(ledger_deleted(
                    flow,
                    ctx,
                    &r.record,
                    &r.before,
                    acted_on,
                    written_hash.clone(),
                ));
                out.commit.xrefs.push(XrefUpdate {
                    source_id: r.record.id.clone(),
                    key: r.before.key.clone(),
                    target_id,
                    read_hash: Some(r.read_hash),
                    written_hash,
                    source_version: r.record.version(),
                    new: false,
                });
                deliver(&mut out.commit, Some(&r.before), &r.record.id);
                ack(&mut out.commit, ctx, &r.record.id);
            }
            Err(error) if error.kind().is_transient() => {
                // Counted by the run if still left for another try at its end.
                out.commit.ledger.push(ledger_failure(
                    flow,
                    ctx,
                    &r.record,
                    None,
                    Some(&r.before),
                    attempt,
                    Outcome::Failed,
                    error.kind(),
                    error.message(),
                ));
                out.transient.push(TransientFailure {
                    source_id: r.record.id.clone(),
                    key: r.before.key.clone().unwrap_or_default(),
                    attempt,
                    error: error.message().to_owned(),
                    payload: serde_json::to_value(&r.record).unwrap_or(Value::Null),
                    waiting_on: None,
                });
            }
            Err(error) => {
                let message = format!(
                    "flow `{}`, record `{}`: on_delete {}: {}",
                    flow.name,
                    r.record.id,
                    flow.config.on_delete.name(),
                    error.message()
                );
                dead_letter(
                    out,
                    flow,
                    ctx,
                    &r.record,
                    None,
                    &r.read_hash,
                    Some(&r.before),
                    attempt,
                    error.kind(),
                    message,
                );
            }
        }
    }
    Ok(())
}

/// What the xref keeps of a record after the delete policy ran: its target id and the hash
/// of what the target holds for it.
/// What the target holds for a record after its removal: the target id and written hash an
/// archive leaves, or `(None, None)` after a delete.
pub(crate) type AfterRemoval = (Option<String>, Option<String>);

/// Carries out the flow's `on_delete` on these target records — (business key, target id
/// when known) — in one sink call with the engine's retries: a delete, or an archive (an
/// update of the archive fields, never a create). Per record, in order, what the target now
/// holds or why it refused. `ignore` touches nothing and answers nothing. Used for deletes
/// found at the source and for `ferry reconcile --repair-deletes`.
pub(crate) async fn apply_on_delete(
    flow: &Flow,
    retry_settings: &RetrySettings,
    cancel: &CancellationToken,
    targets: &[(String, Option<String>)],
) -> Result<Vec<Result<AfterRemoval, ConnectorError>>, EngineError> {
    let results: Vec<Result<AfterRemoval, ConnectorError>> = match &flow.config.on_delete {
        OnDelete::Ignore => return Ok(Vec::new()),
        OnDelete::Delete => {
            let batch: Vec<Removal> = targets
                .iter()
                .map(|(key, target_id)| Removal {
                    key: key.clone(),
                    target_id: target_id.clone(),
                })
                .collect();
            retry(retry_settings, cancel, "target.delete", || {
                flow.sink.delete(&batch)
            })
            .await
            .map_err(target_failure(flow))?
            .into_iter()
            .map(|r| r.map(|()| (None, None)))
            .collect()
        }
        OnDelete::Archive(fields) => {
            let hash = content_hash(fields);
            let batch: Vec<Outgoing> = targets
                .iter()
                .map(|(key, target_id)| Outgoing {
                    key: key.clone(),
                    target_id: target_id.clone(),
                    fields: fields.clone(),
                })
                .collect();
            retry(retry_settings, cancel, "target.update", || {
                flow.sink.update(&batch)
            })
            .await
            .map_err(target_failure(flow))?
            .into_iter()
            .map(|r| r.map(|w| (Some(w.target_id), Some(hash.clone()))))
            .collect()
        }
    };
    if results.len() != targets.len() {
        return Err(EngineError::Target {
            flow: flow.name.clone(),
            error: ConnectorError::fatal(format!(
                "the target answered {} results for {} deletes",
                results.len(),
                targets.len()
            )),
        });
    }
    Ok(results)
}

/// A failed call to the flow's target, as the engine reports it.
pub(crate) fn target_failure(flow: &Flow) -> impl Fn(Retried<ConnectorError>) -> EngineError {
    move |e| match e {
        Retried::Cancelled => EngineError::Cancelled,
        Retried::Failed(error) => EngineError::Target {
            flow: flow.name.clone(),
            error,
        },
    }
}

/// The ledger entry of a record deleted at the source: `target_id` is the target record the
/// delete policy acted on (or kept), `after_hash` what the target holds for it now.
fn ledger_deleted(
    flow: &Flow,
    ctx: &BatchContext<'_>,
    record: &Record,
    before: &Xref,
    target_id: Option<String>,
    after_hash: Option<String>,
) -> LedgerEntry {
    LedgerEntry {
        id: 0,
        flow: flow.name.clone(),
        source_id: record.id.clone(),
        key: before.key.clone(),
        run_id: ctx.run_id,
        at: Utc::now(),
        trigger: ctx.trigger.to_owned(),
        outcome: Outcome::Deleted,
        attempt: attempt_of(ctx, &record.id),
        target_id,
        before_hash: before.written_hash.clone(),
        after_hash,
        source_version: record.version(),
        error_kind: None,
        error: None,
    }
}

/// Puts the target's id of every record a mapped record refers to (`depends_on`) beside the
/// reference, looking the keys up in the other flows' xref, one query per flow and batch.
/// Records with a reference not synced yet leave the batch as transient failures that name
/// what they wait for; the caller syncs that flow and tries them again.
async fn resolve_dependencies(
    flow: &Flow,
    store: &dyn Store,
    retry_settings: &RetrySettings,
    cancel: &CancellationToken,
    ctx: &BatchContext<'_>,
    mut mapped: Vec<Pending>,
    out: &mut BatchResult,
) -> Result<Vec<Pending>, EngineError> {
    // Missing references per record index: (field path, key, flow).
    let mut missing: HashMap<usize, (String, String, String)> = HashMap::new();
    for dep in &flow.dependencies {
        let mut keys: Vec<String> = mapped
            .iter_mut()
            .flat_map(|p| reference_slots(&mut p.fields, dep))
            .filter_map(|(_, slot)| key_text(slot.get(&dep.field)?))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            continue;
        }
        let found = retry(retry_settings, cancel, "store.xrefs_by_keys", || {
            store.xrefs_by_keys(&dep.flow, &keys)
        })
        .await
        .map_err(store_failure)?;
        for (i, p) in mapped.iter_mut().enumerate() {
            let path = |line: Option<usize>| match line {
                Some(n) => format!("lines[{n}].{}", dep.field),
                None => dep.field.clone(),
            };
            let mut slots = reference_slots(&mut p.fields, dep);
            for (line, slot) in slots.iter_mut() {
                let Some(key) = slot.get(&dep.field).and_then(key_text) else {
                    continue;
                };
                let id = found.get(&key).and_then(|x| match dep.side {
                    RefSide::Target => x.target_id.clone(),
                    RefSide::Source => Some(x.source_id.clone()),
                });
                match id {
                    Some(id) => {
                        slot.insert(dep.into.clone(), Value::String(id));
                    }
                    None => {
                        missing
                            .entry(i)
                            .or_insert_with(|| (path(*line), key, dep.flow.clone()));
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(mapped);
    }
    let mut ready = Vec::with_capacity(mapped.len());
    for (i, p) in mapped.into_iter().enumerate() {
        let Some((field, key, other)) = missing.remove(&i) else {
            ready.push(p);
            continue;
        };
        let attempt = attempt_of(ctx, &p.record.id);
        let message = format!(
            "flow `{}`, record `{}`, field `{field}`: waiting for `{key}`, which flow `{other}` \
             has not synced yet",
            flow.name, p.record.id
        );
        // Not counted as failed here: the run counts it only if it is still waiting when
        // the run ends (the run usually syncs what it waits for and writes it).
        let mut entry = ledger_failure(
            flow,
            ctx,
            &p.record,
            Some(&p.key),
            p.before.as_ref(),
            attempt,
            Outcome::Failed,
            ErrorKind::NotFound,
            &message,
        );
        entry.error_kind = Some(WAITING.to_owned());
        out.commit.ledger.push(entry);
        // The queue item retries it; the read hash keeps scans that re-read the unchanged
        // record from queueing it again.
        out.commit.xrefs.push(XrefUpdate {
            source_id: p.record.id.clone(),
            key: Some(p.key.clone()),
            target_id: p.before.as_ref().and_then(|x| x.target_id.clone()),
            read_hash: Some(p.read_hash.clone()),
            written_hash: p.before.as_ref().and_then(|x| x.written_hash.clone()),
            source_version: p.record.version(),
            new: false,
        });
        out.transient.push(TransientFailure {
            source_id: p.record.id.clone(),
            key: p.key.clone(),
            attempt,
            error: message,
            payload: serde_json::to_value(&p.record).unwrap_or(Value::Null),
            waiting_on: Some(other),
        });
    }
    Ok(ready)
}

/// The ledger's error kind for a record waiting on another flow.
pub(crate) const WAITING: &str = "waiting";

/// The maps a reference lives in: the record itself, or each of its lines (with its index).
fn reference_slots<'a>(
    fields: &'a mut Map<String, Value>,
    dep: &ResolvedDependency,
) -> Vec<(Option<usize>, &'a mut Map<String, Value>)> {
    if !dep.in_lines {
        return vec![(None, fields)];
    }
    match fields.get_mut("lines") {
        Some(Value::Array(lines)) => lines
            .iter_mut()
            .enumerate()
            .filter_map(|(n, l)| l.as_object_mut().map(|m| (Some(n), m)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A key as text: trimmed text or a number (empty means none).
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The xref rows a commit will write, as the store would return them afterwards.
pub(crate) fn overlay_of(flow: &str, commit: &Commit) -> HashMap<String, Xref> {
    let now = Utc::now();
    let states = states::recorded(commit);
    commit
        .xrefs
        .iter()
        .map(|x| {
            let xref = Xref {
                flow: flow.to_owned(),
                source_id: x.source_id.clone(),
                key: x.key.clone(),
                target_id: x.target_id.clone(),
                read_hash: x.read_hash.clone(),
                written_hash: x.written_hash.clone(),
                source_version: x.source_version.clone(),
                updated_at: now,
                state: states.get(x.source_id.as_str()).map(|s| (*s).to_owned()),
            };
            (x.source_id.clone(), xref)
        })
        .collect()
}

/// How a round of distinct keys may be split for concurrent writing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parallelism {
    /// Parts in flight at once.
    pub workers: usize,
    /// Smallest part.
    pub min_chunk: usize,
}

/// Upserts one round (distinct keys) as up to `workers` concurrent parts, each retried on its
/// own; results come back in the round's order.
async fn upsert_in_parallel(
    flow: &Flow,
    retry_settings: &RetrySettings,
    parallel: Parallelism,
    cancel: &CancellationToken,
    outgoing: &[Outgoing],
) -> Result<Vec<Result<ferry_kit::Written, ConnectorError>>, EngineError> {
    let parts = (outgoing.len() / parallel.min_chunk.max(1)).clamp(1, parallel.workers.max(1));
    let size = outgoing.len().div_ceil(parts).max(1);
    let writes = outgoing.chunks(size).map(|part| async move {
        retry(retry_settings, cancel, "target.upsert", || {
            flow.sink.upsert(part)
        })
        .await
        .map_err(target_failure(flow))
    });
    let results = futures::future::try_join_all(writes).await?;
    Ok(results.into_iter().flatten().collect())
}

pub(crate) fn store_failure(e: Retried<ferry_store::StoreError>) -> EngineError {
    match e {
        Retried::Cancelled => EngineError::Cancelled,
        Retried::Failed(e) => EngineError::Store(e),
    }
}

/// Keeps the last version of each source id, in the order of those last versions.
fn last_version_per_id(records: Vec<Record>) -> Vec<Record> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        last.insert(r.id.as_str(), i);
    }
    if last.len() == records.len() {
        return records;
    }
    let keep: HashSet<usize> = last.into_values().collect();
    records
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, r)| r)
        .collect()
}

fn rounds_by_key(pending: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut rounds: Vec<Vec<Pending>> = Vec::new();
    let mut seen: Vec<HashSet<String>> = Vec::new();
    for p in pending {
        // The record goes in the round after the last one that holds its key.
        let after = seen
            .iter()
            .rposition(|keys| keys.contains(&p.key))
            .map_or(0, |i| i + 1);
        if after == rounds.len() {
            rounds.push(Vec::new());
            seen.push(HashSet::new());
        }
        seen[after].insert(p.key.clone());
        rounds[after].push(p);
    }
    rounds
}

pub(crate) fn business_key(fields: &Map<String, Value>, key_field: &str) -> Option<String> {
    fields.get(key_field).and_then(key_text)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn attempt_of(ctx: &BatchContext<'_>, source_id: &str) -> u32 {
    ctx.items.get(source_id).map_or(1, |item| item.attempts + 1)
}

/// Marks a record delivered so its dead letters resolve. A record with no xref row yet has
/// none (every dead letter writes one), which spares first loads a lookup per record.
pub(crate) fn deliver(commit: &mut Commit, before: Option<&Xref>, source_id: &str) {
    if before.is_some() {
        commit.delivered.push(source_id.to_owned());
    }
}

pub(crate) fn ack(commit: &mut Commit, ctx: &BatchContext<'_>, source_id: &str) {
    if let Some(item) = ctx.items.get(source_id) {
        commit.acked.push(item.id);
    }
}

#[allow(clippy::too_many_arguments)]
fn ledger_failure(
    flow: &Flow,
    ctx: &BatchContext<'_>,
    record: &Record,
    key: Option<&str>,
    before: Option<&Xref>,
    attempt: u32,
    outcome: Outcome,
    kind: ErrorKind,
    message: &str,
) -> LedgerEntry {
    LedgerEntry {
        id: 0,
        flow: flow.name.clone(),
        source_id: record.id.clone(),
        key: key
            .map(str::to_owned)
            .or_else(|| before.and_then(|x| x.key.clone())),
        run_id: ctx.run_id,
        at: Utc::now(),
        trigger: ctx.trigger.to_owned(),
        outcome,
        attempt,
        target_id: before.and_then(|x| x.target_id.clone()),
        before_hash: before.and_then(|x| x.written_hash.clone()),
        after_hash: before.and_then(|x| x.written_hash.clone()),
        source_version: record.version(),
        error_kind: Some(kind.as_str().to_owned()),
        error: Some(message.to_owned()),
    }
}

/// Dead-letters a record: the payload is kept whole, the ledger says why, and the xref
/// remembers the read hash so that polling the unchanged record does not fail it again.
#[allow(clippy::too_many_arguments)]
fn dead_letter(
    out: &mut BatchResult,
    flow: &Flow,
    ctx: &BatchContext<'_>,
    record: &Record,
    key: Option<&str>,
    read_hash: &str,
    before: Option<&Xref>,
    attempt: u32,
    kind: ErrorKind,
    message: String,
) {
    let message = located(record, message);
    out.stats.failed += 1;
    out.commit.ledger.push(ledger_failure(
        flow,
        ctx,
        record,
        key,
        before,
        attempt,
        Outcome::DeadLettered,
        kind,
        &message,
    ));
    out.commit.dead_letters.push(NewDeadLetter {
        source_id: record.id.clone(),
        key: key
            .map(str::to_owned)
            .or_else(|| before.and_then(|x| x.key.clone())),
        payload: serde_json::to_value(record).unwrap_or(Value::Null),
        error_kind: kind.as_str().to_owned(),
        error: message,
        attempts: attempt,
    });
    out.commit.xrefs.push(XrefUpdate {
        source_id: record.id.clone(),
        key: key
            .map(str::to_owned)
            .or_else(|| before.and_then(|x| x.key.clone())),
        target_id: before.and_then(|x| x.target_id.clone()),
        read_hash: Some(read_hash.to_owned()),
        written_hash: before.and_then(|x| x.written_hash.clone()),
        source_version: record.version(),
        new: false,
    });
    ack(&mut out.commit, ctx, &record.id);
}

/// The message led by where the source read the record (`orders.csv line 17: …`), when the
/// source says and the message does not already.
fn located(record: &Record, message: String) -> String {
    match &record.origin {
        Some(origin) if !message.contains(origin.as_str()) => format!("{origin}: {message}"),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str, key: &str) -> Pending {
        Pending {
            record: Record::new(id, Map::new()),
            key: key.into(),
            hash: String::new(),
            read_hash: String::new(),
            before: None,
            fields: Map::new(),
            state: None,
            baseline: None,
        }
    }

    #[test]
    fn a_dead_letter_names_where_the_source_read_the_record_once() {
        let mut record = Record::new("C1", Map::new());
        assert_eq!(located(&record, "flow `f`: bad".into()), "flow `f`: bad");
        record.origin = Some("orders.csv line 17".into());
        assert_eq!(
            located(&record, "flow `f`, record `C1`, field `email`: bad".into()),
            "orders.csv line 17: flow `f`, record `C1`, field `email`: bad"
        );
        let already = "flow `f`, record `C1`: orders.csv line 17, column \"x\": bad";
        assert_eq!(located(&record, already.into()), already);
    }

    #[test]
    fn records_sharing_a_key_go_in_successive_rounds_in_read_order() {
        let rounds = rounds_by_key(vec![
            pending("1", "A"),
            pending("2", "B"),
            pending("3", "A"),
            pending("4", "C"),
            pending("5", "A"),
            pending("6", "B"),
        ]);
        let ids: Vec<Vec<&str>> = rounds
            .iter()
            .map(|r| r.iter().map(|p| p.record.id.as_str()).collect())
            .collect();
        assert_eq!(ids, vec![vec!["1", "2", "4"], vec!["3", "6"], vec!["5"]]);
    }

    #[test]
    fn only_the_last_version_of_an_id_in_a_page_is_kept() {
        let mut a1 = Record::new("a", Map::new());
        a1.fields.insert("v".into(), 1.into());
        let mut a2 = a1.clone();
        a2.fields.insert("v".into(), 2.into());
        let b = Record::new("b", Map::new());
        let kept = last_version_per_id(vec![a1, b, a2]);
        assert_eq!(
            kept.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(kept[1].fields["v"], 2);
    }

    fn xref_row(read_hash: &str, state: Option<&str>) -> Xref {
        Xref {
            flow: "f".into(),
            source_id: "7".into(),
            key: Some("K7".into()),
            target_id: Some("t7".into()),
            read_hash: Some(read_hash.into()),
            written_hash: Some("w".into()),
            source_version: None,
            updated_at: Utc::now(),
            state: state.map(str::to_owned),
        }
    }

    fn batch(row: Xref) -> HashMap<String, Xref> {
        HashMap::from([(row.source_id.clone(), row)])
    }

    /// The overlay stands for commits the store's answer may not show yet: the newest batch's
    /// row wins over older batches and the store, the newest recorded state wins, and only the
    /// last `depth` batches are kept.
    #[test]
    fn the_overlay_answers_with_the_newest_row_and_state() {
        let stored = xref_row("stored", Some("confirmed"));
        let mut overlay = Overlay::default();
        assert_eq!(
            overlay
                .before("7", Some(&stored))
                .unwrap()
                .read_hash
                .as_deref(),
            Some("stored")
        );
        assert!(overlay.before("7", None).is_none());

        overlay.push(batch(xref_row("older", Some("shipped"))), 3);
        overlay.push(batch(xref_row("newer", None)), 3);
        let row = overlay.before("7", Some(&stored)).unwrap();
        assert_eq!(row.read_hash.as_deref(), Some("newer"));
        assert_eq!(
            row.state.as_deref(),
            Some("shipped"),
            "an older batch's state is newer than the store's"
        );
        assert!(
            overlay.before("8", None).is_none(),
            "other records: the store"
        );

        // Two more batches without record 7 push the older row out (depth 3): its state
        // goes with it, and the store's shows through the newer row, which holds none.
        overlay.push(HashMap::new(), 3);
        overlay.push(HashMap::new(), 3);
        let row = overlay.before("7", Some(&stored)).unwrap();
        assert_eq!(row.read_hash.as_deref(), Some("newer"));
        assert_eq!(row.state.as_deref(), Some("confirmed"));
        // One more, and the store answers alone.
        overlay.push(HashMap::new(), 3);
        let row = overlay.before("7", Some(&stored)).unwrap();
        assert_eq!(row.read_hash.as_deref(), Some("stored"));
        assert_eq!(row.state.as_deref(), Some("confirmed"));
    }

    #[test]
    fn business_keys_are_trimmed_text_or_numbers() {
        let fields: Map<String, Value> =
            serde_json::from_str(r#"{"a": " C1 ", "b": 42, "c": "", "d": null}"#).unwrap();
        assert_eq!(business_key(&fields, "a").as_deref(), Some("C1"));
        assert_eq!(business_key(&fields, "b").as_deref(), Some("42"));
        assert_eq!(business_key(&fields, "c"), None);
        assert_eq!(business_key(&fields, "d"), None);
        assert_eq!(business_key(&fields, "missing"), None);
    }
}
