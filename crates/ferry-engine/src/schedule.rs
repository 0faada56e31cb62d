//! `ferry run`: every enabled flow on its trigger, every queue worked off as items arrive,
//! each flow's scheduled reconciliation (`reconcile:`), its report kept in the store, and the
//! store's history pruned to `store.retention` ([`crate::retention`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::assemble::{Flow, Schedule};
use crate::reconcile::{self, ReconcileError};
use crate::run::{Engine, NoProgress, SyncOptions};

/// How often an idle flow looks at its queue (requests through [`Engine::request_sync`] wake it
/// at once; the tick finds items queued by other processes and retries that came due).
const QUEUE_TICK: Duration = Duration::from_secs(1);

impl Engine {
    /// Runs every enabled flow until `cancel` fires: scans on each flow's schedule, and queue
    /// items (replays, `--id` requests, retries) within a second of their arrival, and webhook and
    /// API requests at once. On
    /// cancellation each flow finishes and commits the batch in hand, gives back its queue
    /// leases, and returns.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        // A process killed mid-batch leaves its queue items leased: take them back now rather
        // than when the leases expire.
        match self.store.release_orphaned_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                items = n,
                "Queue items leased by a process that is gone were released."
            ),
            Err(e) => tracing::warn!(error = %e, "Could not look for orphaned queue leases."),
        }
        let mut tasks = JoinSet::new();
        for flow in self.flows.values().filter(|f| !f.config.disabled) {
            let engine = self.clone();
            let flow = flow.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move { engine.run_flow_forever(&flow, &cancel).await });
        }
        for flow in self.flows.values().filter(|f| !f.config.disabled) {
            if let Some(schedule) = flow.reconcile_schedule.clone() {
                let engine = self.clone();
                let flow = flow.clone();
                let cancel = cancel.clone();
                tasks.spawn(async move {
                    engine.reconcile_forever(&flow, &schedule, &cancel).await;
                });
            }
        }
        {
            let engine = self.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move { engine.prune_forever(&cancel).await });
        }
        if let Some((config, sender)) = self.alerts.clone() {
            tasks.spawn(crate::alerts::watch(
                self.clone(),
                config,
                sender,
                cancel.clone(),
            ));
        }
        // Work started in the background (API reconciliations) stops with the flows.
        let background = self.background_cancel.clone();
        let stopping = cancel.clone();
        tasks.spawn(async move {
            stopping.cancelled().await;
            background.cancel();
        });
        while tasks.join_next().await.is_some() {}
        self.background.close();
        self.background.wait().await;
    }

    /// Reconciles `flow` on its `reconcile:` schedule until `cancel`, recording each report
    /// (trigger `schedule`). With `every`, one is due that long after the flow's last
    /// reconciliation, however it was started; one already running is not doubled.
    async fn reconcile_forever(
        &self,
        flow: &Flow,
        schedule: &Schedule,
        cancel: &CancellationToken,
    ) {
        let details_limit = flow
            .config
            .reconcile
            .as_ref()
            .map_or(100, |r| r.details_limit());
        let mut last_due: Option<chrono::DateTime<Utc>> = None;
        loop {
            let now = Utc::now();
            let due = match schedule {
                Schedule::Manual => return,
                Schedule::Every(every) => {
                    let every = chrono::Duration::from_std(*every).unwrap_or(chrono::Duration::MAX);
                    let last = match self.store.reconciliations(Some(&flow.name), 1).await {
                        Ok(found) => found.first().map(|r| r.started_at),
                        Err(e) => {
                            tracing::warn!(flow = %flow.name, error = %e,
                                "Cannot read the last reconciliation; the next one waits a period.");
                            Some(now)
                        }
                    };
                    // Never twice in one period, even when nothing could be recorded.
                    [last, last_due]
                        .into_iter()
                        .flatten()
                        .max()
                        .map_or(now, |t| t.checked_add_signed(every).unwrap_or(t))
                }
                Schedule::Cron(cron) => {
                    let from = last_due.map_or(now, |d| d.max(now));
                    match cron.find_next_occurrence(&from, false) {
                        Ok(next) => next,
                        Err(_) => return,
                    }
                }
            };
            let wait = (due - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = cancel.cancelled() => return,
            }
            last_due = Some(due);
            self.reconcile_now(flow, details_limit, cancel).await;
        }
    }

    async fn reconcile_now(&self, flow: &Flow, details_limit: usize, cancel: &CancellationToken) {
        let options = reconcile::Options {
            scratch_dir: self.data_dir.clone(),
            details_limit,
            repair: false,
            repair_deletes: false,
        };
        let started = match reconcile::start(self, &flow.name, &options, "schedule").await {
            Ok(started) => started,
            Err(e @ ReconcileError::Busy { .. }) => {
                tracing::info!(flow = %flow.name, "Scheduled reconciliation skipped: {e}");
                return;
            }
            Err(e) => {
                tracing::error!(flow = %flow.name, error = %e, "Scheduled reconciliation failed.");
                return;
            }
        };
        let id = started.id;
        match started.finish(self, &options, &NoProgress, cancel).await {
            Ok(report) if report.clean => tracing::info!(
                flow = %flow.name, reconciliation = id, source = report.counts.source,
                target = report.counts.target, known_failures = report.counts.dead_lettered,
                "Reconciliation: no drift (known failures wait in the dead-letter ledger)."
            ),
            Ok(report) => {
                let c = report.counts;
                tracing::warn!(
                    flow = %flow.name, reconciliation = id, differing = c.differing,
                    missing_in_target = c.missing_in_target, missing_in_source = c.missing_in_source,
                    duplicate_keys = c.duplicate_keys_source + c.duplicate_keys_target,
                    unmapped = c.unmapped, known_failures = c.dead_lettered,
                    "Reconciliation found drift."
                );
            }
            Err(ReconcileError::Engine(crate::EngineError::Cancelled)) => {}
            Err(e) => tracing::error!(flow = %flow.name, reconciliation = id, error = %e,
                "Scheduled reconciliation failed."),
        }
    }

    async fn run_flow_forever(&self, flow: &Arc<Flow>, cancel: &CancellationToken) {
        let mut next_scan = first_due(&flow.schedule);
        // Until when the flow's systems asked to be left alone (scans and queue work wait).
        let mut paused: Option<chrono::DateTime<Utc>> = None;
        // Rung by `request_sync` when this flow's queue gets items (see `Engine::queue_bells`).
        let bell = self
            .queue_bells
            .get(&flow.name)
            .cloned()
            .unwrap_or_default();
        tracing::info!(flow = %flow.name, "Flow started.");
        while !cancel.is_cancelled() {
            let now = Utc::now();
            if let Some(due) = next_scan.filter(|due| *due <= now) {
                let trigger = match flow.schedule {
                    Schedule::Cron(_) => "cron",
                    _ => "poll",
                };
                let options = SyncOptions {
                    full: false,
                    trigger: trigger.into(),
                };
                let mut paused_until = None;
                match self.sync(&flow.name, &options, &NoProgress, cancel).await {
                    Ok(report) if report.stats.read > 0 || report.error.is_some() => {
                        tracing::info!(flow = %flow.name, read = report.stats.read, created = report.stats.created,
                            updated = report.stats.updated, unchanged = report.stats.unchanged,
                            failed = report.stats.failed, error = report.error.as_deref().unwrap_or(""), "Run finished.");
                        paused_until = report.paused_until;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(flow = %flow.name, error = %e, "Run failed."),
                }
                next_scan = next_due(&flow.schedule, due);
                // A system that asked for a long pause (quota spent) is left alone until then;
                // the next scan resumes at the cursor the run stopped at.
                if let Some(until) = paused_until {
                    tracing::warn!(flow = %flow.name, until = %until, "Paused: the system asked to be left alone until then.");
                    next_scan = next_scan.map(|next| next.max(until));
                    paused = Some(until);
                }
            } else if paused.is_none_or(|until| until <= now) {
                match self.drain_queue_quietly(flow, cancel).await {
                    Ok(until) => paused = until,
                    Err(e) => tracing::error!(flow = %flow.name, error = %e, "Queue work failed."),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(QUEUE_TICK) => {}
                () = bell.notified() => {}
                () = cancel.cancelled() => {}
            }
        }
        tracing::info!(flow = %flow.name, "Flow stopped.");
    }

    async fn drain_queue_quietly(
        &self,
        flow: &Flow,
        cancel: &CancellationToken,
    ) -> Result<Option<chrono::DateTime<Utc>>, crate::EngineError> {
        if self.store.queue_depth(Some(&flow.name)).await? == 0 {
            return Ok(None);
        }
        self.drain_queue(&flow.name, "queue", &NoProgress, cancel)
            .await
            .map(|report| report.paused_until)
    }
}

fn first_due(schedule: &Schedule) -> Option<chrono::DateTime<Utc>> {
    match schedule {
        Schedule::Manual => None,
        Schedule::Every(_) => Some(Utc::now()),
        Schedule::Cron(cron) => cron.find_next_occurrence(&Utc::now(), false).ok(),
    }
}

fn next_due(schedule: &Schedule, last: chrono::DateTime<Utc>) -> Option<chrono::DateTime<Utc>> {
    match schedule {
        Schedule::Manual => None,
        Schedule::Every(every) => {
            let next =
                last + chrono::Duration::from_std(*every).unwrap_or(chrono::Duration::seconds(60));
            Some(next.max(Utc::now()))
        }
        Schedule::Cron(cron) => cron.find_next_occurrence(&Utc::now(), false).ok(),
    }
}
