//! Reconciliation: compares what a flow's source holds with what its target holds, after
//! mapping, and reports (and on request repairs) the drift.
//!
//! Memory does not grow with the data. The source is read from the beginning, page by page
//! (`Source::read(None)`, the flow's batch size): each record is mapped with the flow's
//! compiled mapping and stored — source id, business key, the target id its xref names, the
//! compared fields as JSON — in a scratch SQLite file in the data dir ([`scratch`]), then
//! indexed by key and target id. The target is then read back page by page in canonical field
//! names (`Sink::scan`); each target record is joined to its source row by target id (xref),
//! else by business key, with one indexed lookup, and compared field by field after
//! normalising both values ([`compare`]). What no target record matched is missing in the
//! target; what matched no source row is missing in the source. Duplicate keys on either side
//! come from `GROUP BY` on the scratch tables. The scratch file is removed at the end.
//!
//! With `repair`, the source ids of differing records and of records missing in the target are
//! queued (trigger `reconcile`) and the flow's queue is worked off: the normal pipeline
//! rewrites them, recording each in the ledger with trigger `reconcile`; a `reconcile` queue
//! item rewrites its record even when the store believes the target already has it.
//!
//! Every reconciliation Ferry starts itself (the CLI, the API, the console, the schedule of
//! `ferry run`) is recorded in the store: [`start`] claims the flow (one reconciliation per
//! flow at a time in a process) and records the start with its trigger; [`Started::finish`]
//! runs it and records the counts, the verdict and the report (or the error).

mod compare;
mod repair;
mod report;
mod scratch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ferry_model::Record;
use ferry_model::config::OnDelete;
use ferry_store::{NewQueueItem, ReconciliationEnd};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::pipeline::{store_failure, target_failure};
use crate::retry::retry;
use crate::run::{Engine, NoProgress, source_failure};
use scratch::{DIFFERS, DeadLetterRef, EQUAL, NewSource, Scratch};

pub use compare::same;
pub use report::{
    Counts, DeadLettered, Difference, DuplicateKey, FieldDifference, Finding, Missing, Repair,
    Report, Side, Unmapped, shown,
};

/// The trigger of queue items and ledger entries made by `reconcile --repair`.
pub const TRIGGER: &str = "reconcile";

/// How to reconcile.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the scratch file goes (the data dir).
    pub scratch_dir: PathBuf,
    /// Most entries kept in each detail list of the report.
    pub details_limit: usize,
    /// Queue the differing and missing records and work the queue off.
    pub repair: bool,
    /// Apply the flow's delete policy (`on_delete`) to target records with no source record.
    pub repair_deletes: bool,
}

/// Receives the number of records read so far on each side.
pub trait ReconcileProgress: Send + Sync {
    /// Called after each page.
    fn read(&self, side: Side, records: u64);
}

impl ReconcileProgress for NoProgress {
    fn read(&self, _side: Side, _records: u64) {}
}

/// Why a reconciliation could not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// Reading a side, the store, or the repair run failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The flow's target cannot be read back.
    #[error(
        "flow `{flow}`: the target system `{system}` (kind {kind}) cannot be read back for reconciliation yet"
    )]
    Unsupported {
        /// The flow.
        flow: String,
        /// The target system's name.
        system: String,
        /// Its connector kind.
        kind: String,
    },
    /// `repair_deletes` was asked of a flow whose delete policy is `ignore`.
    #[error(
        "flow `{0}`: --repair-deletes applies the flow's `on_delete` policy, which is `ignore`; set `on_delete: delete` or `{{ archive: {{…}} }}` first"
    )]
    NoDeletePolicy(String),
    /// A reconciliation of the flow is already running in this process.
    #[error(
        "flow `{flow}`: a reconciliation is already running{}; wait for it to finish",
        match .id { Some(id) => format!(" (#{id})"), None => String::new() }
    )]
    Busy {
        /// The flow.
        flow: String,
        /// The running reconciliation, once recorded.
        id: Option<i64>,
    },
    /// The scratch file failed (disk full, permissions).
    #[error("reconcile scratch file {path}: {error}")]
    Scratch {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        error: rusqlite::Error,
    },
}

/// The flows being reconciled in this process, each with its reconciliation's id once
/// recorded.
#[derive(Debug, Default, Clone)]
pub(crate) struct Slots(Arc<Mutex<HashMap<String, Option<i64>>>>);

/// A flow's claim to be reconciled, given back when dropped (finished, failed or abandoned).
#[derive(Debug)]
struct Slot {
    slots: Slots,
    flow: String,
}

impl Slots {
    fn claim(&self, flow: &str) -> Result<Slot, ReconcileError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = map.get(flow) {
            return Err(ReconcileError::Busy {
                flow: flow.to_owned(),
                id: *id,
            });
        }
        map.insert(flow.to_owned(), None);
        Ok(Slot {
            slots: self.clone(),
            flow: flow.to_owned(),
        })
    }
}

impl Slot {
    fn recorded(&self, id: i64) {
        let mut map = self.slots.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(self.flow.clone(), Some(id));
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.slots.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&self.flow);
    }
}

/// A reconciliation claimed and recorded as started; [`Started::finish`] runs it.
#[derive(Debug)]
pub struct Started {
    /// Its id in the store.
    pub id: i64,
    flow: String,
    _slot: Slot,
}

/// Starts a recorded reconciliation of `flow`: checks that it can run with `options` (known
/// flow, a target that can be read back, a delete policy for `repair_deletes`), claims the
/// flow ([`ReconcileError::Busy`] while another reconciliation of it runs in this process)
/// and records the start with `trigger` (`cli`, `api`, `console`, `schedule`).
pub async fn start(
    engine: &Engine,
    flow_name: &str,
    options: &Options,
    trigger: &str,
) -> Result<Started, ReconcileError> {
    let flow = engine.flow(flow_name)?;
    check(flow, options)?;
    let slot = engine.reconciling.claim(&flow.name)?;
    let id = engine
        .store
        .start_reconciliation(&flow.name, trigger)
        .await
        .map_err(EngineError::Store)?;
    slot.recorded(id);
    Ok(Started {
        id,
        flow: flow.name.clone(),
        _slot: slot,
    })
}

impl Started {
    /// Runs the reconciliation ([`run`]) and records how it ended: the counts, the verdict and
    /// the report, or the error. A failure to record is logged; the report is still returned.
    pub async fn finish(
        self,
        engine: &Engine,
        options: &Options,
        progress: &dyn ReconcileProgress,
        cancel: &CancellationToken,
    ) -> Result<Report, ReconcileError> {
        let result = run(engine, &self.flow, options, progress, cancel).await;
        let end = match &result {
            Ok(report) => ReconciliationEnd::Finished {
                counts: report.counts,
                report: serde_json::to_value(report).unwrap_or(Value::Null),
            },
            Err(ReconcileError::Engine(EngineError::Cancelled)) => ReconciliationEnd::Failed(
                "cancelled: Ferry was shutting down before it finished".into(),
            ),
            Err(e) => ReconciliationEnd::Failed(e.to_string()),
        };
        if let Err(e) = engine.store.finish_reconciliation(self.id, &end).await {
            tracing::error!(flow = %self.flow, reconciliation = self.id, error = %e,
                "Could not record the end of the reconciliation.");
        }
        result
    }
}

/// What makes a flow impossible to reconcile with these options, checked before anything is
/// read or recorded.
fn check(flow: &crate::Flow, options: &Options) -> Result<(), ReconcileError> {
    if !flow.sink.capabilities().scan {
        return Err(ReconcileError::Unsupported {
            flow: flow.name.clone(),
            system: flow.config.target.system.clone(),
            kind: flow.target_kind.clone(),
        });
    }
    if options.repair_deletes && flow.config.on_delete == OnDelete::Ignore {
        return Err(ReconcileError::NoDeletePolicy(flow.name.clone()));
    }
    Ok(())
}

/// The fields of a flow's records that reconciliation compares: its mapping's top-level
/// fields (lines and dotted `extra.` paths are not compared). Sinks learn them too
/// ([`ferry_kit::SinkContext::fields`]), to read back no more than this.
pub(crate) fn compared_fields(flow: &ferry_model::config::FlowConfig) -> Vec<String> {
    flow.mapping
        .fields
        .keys()
        .filter(|f| *f != "lines" && !f.contains('.'))
        .cloned()
        .collect()
}

/// A detail list that keeps its first `limit` entries and notes what it dropped.
struct Capped<T> {
    items: Vec<T>,
    limit: usize,
    dropped: bool,
}

impl<T> Capped<T> {
    fn new(limit: usize) -> Self {
        Self {
            items: Vec::new(),
            limit,
            dropped: false,
        }
    }
    fn push(&mut self, item: T) {
        if self.items.len() < self.limit {
            self.items.push(item);
        } else {
            self.dropped = true;
        }
    }
}

/// Reconciles one flow (see the module docs).
pub async fn run(
    engine: &Engine,
    flow_name: &str,
    options: &Options,
    progress: &dyn ReconcileProgress,
    cancel: &CancellationToken,
) -> Result<Report, ReconcileError> {
    let flow = engine.flow(flow_name)?.clone();
    check(&flow, options)?;
    let started = Instant::now();
    let retry_settings = &engine.settings.retry;
    let limit = options.details_limit;
    let mut scratch = Scratch::create(&options.scratch_dir, &flow.name).map_err(|error| {
        ReconcileError::Scratch {
            path: options.scratch_dir.clone(),
            error,
        }
    })?;
    let path = scratch.path().to_path_buf();
    let sq = |error: rusqlite::Error| ReconcileError::Scratch {
        path: path.clone(),
        error,
    };
    let mapped_fields = compared_fields(&flow.config);
    let mut counts = Counts::default();
    let mut unmapped = Capped::new(limit);
    let mut known = Capped::new(limit);

    // 1. The source, mapped, into the scratch file.
    let mut cursor: Option<String> = None;
    loop {
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled.into());
        }
        let page = retry(retry_settings, cancel, "source.read", || {
            flow.source.read(cursor.as_deref(), flow.batch_size)
        })
        .await
        .map_err(|e| source_failure(&flow.name, e))?;
        let ids: Vec<String> = page.records.iter().map(|r| r.id.clone()).collect();
        let xrefs = retry(retry_settings, cancel, "store.xrefs", || {
            engine.store.xrefs(&flow.name, &ids)
        })
        .await
        .map_err(store_failure)?;
        let dead = retry(retry_settings, cancel, "store.live_dead_letters", || {
            engine.store.live_dead_letters(&flow.name, &ids)
        })
        .await
        .map_err(store_failure)?;
        let mut rows = Vec::with_capacity(page.records.len());
        for record in page.records.iter().filter(|r| !r.deleted) {
            counts.source += 1;
            let xref = xrefs.get(&record.id);
            let target_id = xref.and_then(|x| x.target_id.clone());
            let dead_letter = dead.get(&record.id).map(DeadLetterRef::of);
            match map_record(&flow, &mapped_fields, record) {
                Ok((key, fields)) => {
                    let json = serde_json::to_string(&fields).unwrap_or_default();
                    rows.push(NewSource {
                        source_id: record.id.clone(),
                        key: Some(key),
                        target_id,
                        fields: Some(json),
                        dead_letter,
                    });
                }
                Err(error) => {
                    let key = xref.and_then(|x| x.key.clone());
                    let row = NewSource {
                        source_id: record.id.clone(),
                        key,
                        target_id,
                        fields: None,
                        dead_letter,
                    };
                    if let Some(known_failure) = row.known(Finding::Unmapped) {
                        counts.dead_lettered += 1;
                        known.push(known_failure);
                    } else {
                        counts.unmapped += 1;
                        unmapped.push(Unmapped {
                            source_id: record.id.clone(),
                            error,
                        });
                    }
                    rows.push(row);
                }
            }
        }
        scratch.add_sources(&rows).map_err(sq)?;
        progress.read(Side::Source, counts.source);
        if !page.more {
            break;
        }
        cursor = Some(page.cursor);
    }
    scratch.index_sources().map_err(sq)?;
    let mut duplicates = Capped::new(limit);
    scratch
        .duplicate_source_keys(|key, count| {
            counts.duplicate_keys_source += 1;
            duplicates.push(DuplicateKey {
                side: Side::Source,
                key,
                count,
            });
        })
        .map_err(sq)?;

    // 2. The target, joined row by row.
    let mut compared_fields: Option<Vec<String>> = None;
    let mut differing = Capped::new(limit);
    let mut missing_in_source = Capped::new(limit);
    let mut cursor: Option<String> = None;
    loop {
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled.into());
        }
        let page = retry(retry_settings, cancel, "target.scan", || {
            flow.sink.scan(cursor.as_deref(), flow.batch_size)
        })
        .await
        .map_err(target_failure(&flow))?;
        let compared = compared_fields.get_or_insert_with(|| {
            mapped_fields
                .iter()
                .filter(|f| page.fields.contains(f))
                .cloned()
                .collect()
        });
        scratch.begin().map_err(sq)?;
        for t in &page.records {
            counts.target += 1;
            if let Some(key) = &t.key {
                scratch.add_target_key(key).map_err(sq)?;
            }
            let Some((row, _)) = scratch
                .find_source(&t.target_id, t.key.as_deref())
                .map_err(sq)?
            else {
                counts.missing_in_source += 1;
                if options.repair_deletes {
                    scratch
                        .add_orphan(&t.target_id, t.key.as_deref())
                        .map_err(sq)?;
                }
                missing_in_source.push(Missing {
                    key: t.key.clone(),
                    source_id: None,
                    target_id: Some(t.target_id.clone()),
                });
                continue;
            };
            counts.matched += 1;
            // A record the mapping refused is matched but cannot be compared.
            let Some(json) = &row.fields else {
                scratch.set_state(row.n, EQUAL).map_err(sq)?;
                continue;
            };
            let source: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
            let fields: Vec<FieldDifference> = compared
                .iter()
                .filter_map(|f| {
                    let s = source.get(f).unwrap_or(&Value::Null);
                    let v = t.fields.get(f).unwrap_or(&Value::Null);
                    (!same(s, v)).then(|| FieldDifference {
                        field: f.clone(),
                        source: s.clone(),
                        target: v.clone(),
                    })
                })
                .collect();
            if fields.is_empty() {
                counts.equal += 1;
                scratch.set_state(row.n, EQUAL).map_err(sq)?;
            } else if let Some(known_failure) = row.known(Finding::Differing) {
                counts.dead_lettered += 1;
                scratch.set_state(row.n, DIFFERS).map_err(sq)?;
                known.push(DeadLettered {
                    target_id: Some(t.target_id.clone()),
                    ..known_failure
                });
            } else {
                counts.differing += 1;
                scratch.set_state(row.n, DIFFERS).map_err(sq)?;
                differing.push(Difference {
                    key: row.key.clone(),
                    source_id: row.source_id.clone(),
                    target_id: t.target_id.clone(),
                    fields,
                });
            }
        }
        scratch.commit().map_err(sq)?;
        progress.read(Side::Target, counts.target);
        if !page.more {
            break;
        }
        cursor = Some(page.cursor);
    }
    scratch
        .duplicate_target_keys(|key, count| {
            counts.duplicate_keys_target += 1;
            duplicates.push(DuplicateKey {
                side: Side::Target,
                key,
                count,
            });
        })
        .map_err(sq)?;

    // 3. What the target never showed.
    let mut missing_in_target = Capped::new(limit);
    scratch
        .unmatched_sources(|row| {
            if let Some(known_failure) = row.known(Finding::MissingInTarget) {
                counts.dead_lettered += 1;
                known.push(known_failure);
                return;
            }
            counts.missing_in_target += 1;
            missing_in_target.push(Missing {
                key: row.key,
                source_id: Some(row.source_id),
                target_id: row.target_id,
            });
        })
        .map_err(sq)?;
    let seconds = started.elapsed().as_secs_f64();

    // 4. Repairs: target records with no source record per the delete policy, then the
    // source ids to rewrite queued in pages and worked off by the normal pipeline.
    let repair = if options.repair || options.repair_deletes {
        let mut repair = Repair::default();
        let mut after = 0i64;
        if options.repair_deletes {
            loop {
                let page = scratch.orphans(after, flow.batch_size).map_err(sq)?;
                let Some((last, _, _)) = page.last() else {
                    break;
                };
                after = *last;
                let orphans: Vec<(String, Option<String>)> =
                    page.into_iter().map(|(_, id, key)| (id, key)).collect();
                let removed = repair::remove_orphans(engine, &flow, &orphans, cancel).await?;
                repair.deleted += removed.done;
                for e in removed.errors {
                    repair.delete_errors += 1;
                    if repair.errors.len() < limit {
                        repair.errors.push(e);
                    }
                }
            }
        }
        let mut after = 0i64;
        if options.repair {
            loop {
                let page = scratch.to_repair(after, flow.batch_size).map_err(sq)?;
                let Some((last, _)) = page.last() else { break };
                after = *last;
                let items: Vec<NewQueueItem> = page
                    .into_iter()
                    .map(|(_, source_id)| NewQueueItem {
                        flow: flow.name.clone(),
                        source_id,
                        trigger: TRIGGER.to_owned(),
                        payload: None,
                        dead_letter_id: None,
                    })
                    .collect();
                engine
                    .store
                    .enqueue(&items)
                    .await
                    .map_err(EngineError::Store)?;
                repair.queued += items.len() as u64;
            }
        }
        drop(scratch);
        if repair.queued > 0 {
            repair.run = Some(
                engine
                    .drain_queue(&flow.name, TRIGGER, &NoProgress, cancel)
                    .await?,
            );
        }
        Some(repair)
    } else {
        None
    };

    let truncated = unmapped.dropped
        || duplicates.dropped
        || differing.dropped
        || missing_in_source.dropped
        || missing_in_target.dropped
        || known.dropped;
    Ok(Report {
        flow: flow.name.clone(),
        key_field: flow.key_field.clone(),
        compared_fields: compared_fields.unwrap_or_default(),
        clean: counts.clean(),
        counts,
        differing: differing.items,
        missing_in_target: missing_in_target.items,
        missing_in_source: missing_in_source.items,
        duplicate_keys: duplicates.items,
        unmapped: unmapped.items,
        dead_lettered: known.items,
        details_limit: limit,
        truncated,
        repair,
        records_per_second: if seconds > 0.0 {
            (counts.source + counts.target) as f64 / seconds
        } else {
            0.0
        },
        seconds,
    })
}

/// The record's business key and its compared fields after mapping, or why it cannot be
/// compared (naming flow, record and field, like the pipeline's errors).
fn map_record(
    flow: &crate::Flow,
    mapped_fields: &[String],
    record: &Record,
) -> Result<(String, Map<String, Value>), String> {
    if let Some(reason) = record.fields.get("_error") {
        return Err(format!(
            "flow `{}`, record `{}`: {}",
            flow.name,
            record.id,
            reason
                .as_str()
                .map_or_else(|| reason.to_string(), str::to_owned)
        ));
    }
    let mut fields = flow.mapping.apply(record).map_err(|e| e.to_string())?;
    let key = crate::pipeline::business_key(&fields, &flow.key_field).ok_or_else(|| {
        format!(
            "flow `{}`, record `{}`, field `{}`: the business key is empty",
            flow.name, record.id, flow.key_field
        )
    })?;
    fields.retain(|k, _| mapped_fields.contains(k));
    Ok((key, fields))
}
