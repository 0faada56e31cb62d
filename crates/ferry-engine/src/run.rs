//! Running flows: scans after a cursor, queue drains, and the reports they produce.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::Utc;
use ferry_kit::Page;
use ferry_model::Record;
use ferry_model::config::EngineSettings;
use ferry_store::{NewDeadLetter, NewQueueItem, RunStats, SeenInPass, Store};
use indexmap::IndexMap;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::assemble::{Assembly, Flow};
use crate::error::EngineError;
use crate::pipeline::{
    BatchContext, BatchResult, Overlay, Parallelism, Prework, overlay_of, prework, process,
};
use crate::retry::{Retried, queue_backoff, retry};

/// How long a queue item stays leased to this process before another may take it.
const LEASE: Duration = Duration::from_secs(120);

/// Receives progress while a flow runs (a progress bar, a log line, metrics).
pub trait Progress: Send + Sync {
    /// Called after each committed batch with the run's totals so far.
    fn batch(&self, flow: &str, totals: &RunStats);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn batch(&self, _flow: &str, _totals: &RunStats) {}
}

/// Options of one scan.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Read from the beginning instead of after the stored cursor.
    pub full: bool,
    /// What started the run, for the ledger (`manual`, `poll`, `cron`).
    pub trigger: String,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            full: false,
            trigger: "manual".into(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunReport {
    /// The flow.
    pub flow: String,
    /// The run's id in the store.
    pub run_id: i64,
    /// Counts.
    #[serde(flatten)]
    pub stats: RunStats,
    /// The run stopped because of a shutdown request (what was committed stays committed).
    pub cancelled: bool,
    /// The run stopped early because of this error.
    pub error: Option<String>,
    /// The run stopped because a system asked for a long pause (its request quota is spent):
    /// the flow resumes at the same cursor from this time on.
    pub paused_until: Option<chrono::DateTime<Utc>>,
}

/// The engine: flows plus the store that remembers them.
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) flows: IndexMap<String, Arc<Flow>>,
    pub(crate) settings: EngineSettings,
    /// `ferry run` watches the flows and announces problems (see [`crate::alerts`]).
    pub(crate) alerts: Option<(ferry_model::config::AlertsConfig, crate::alerts::Sender)>,
    /// One bell per flow, rung when [`Engine::request_sync`] has committed items to the
    /// flow's queue, so `ferry run` works them off at once instead of at its next tick.
    pub(crate) queue_bells: HashMap<String, Arc<tokio::sync::Notify>>,
    /// The data dir (reconciliation scratch files).
    pub(crate) data_dir: std::path::PathBuf,
    /// The flows being reconciled by this process, with the reconciliation's id once
    /// recorded: one at a time per flow (see [`crate::reconcile::start`]).
    pub(crate) reconciling: crate::reconcile::Slots,
    /// Work started in the background (a reconciliation asked for through the API):
    /// `Engine::run` waits for it before it returns, and cancels it on shutdown.
    pub(crate) background: tokio_util::task::TaskTracker,
    pub(crate) background_cancel: CancellationToken,
    /// This process's claim on each flow it has run ([`Store::claim_flow`]), taken once
    /// and shared by all its runs of the flow; forgotten when a commit finds it overtaken.
    pub(crate) claims: tokio::sync::Mutex<HashMap<String, u64>>,
    /// The first run this engine started of each flow: an earlier run left unfinished
    /// belongs to a process that died (or to another process still at work).
    pub(crate) first_runs: std::sync::Mutex<HashMap<String, i64>>,
    /// How long the store keeps history ([`crate::retention`]).
    pub(crate) retention: ferry_model::config::Retention,
    /// The systems whose connector takes their own webhook format, by system name.
    pub(crate) inbound: HashMap<String, Arc<dyn ferry_kit::inbound::Inbound>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("flows", &self.flows.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over assembled flows and an opened (migrated) store.
    pub fn new(assembly: Assembly, store: Arc<dyn Store>) -> Self {
        let queue_bells = assembly
            .flows
            .keys()
            .map(|name| (name.clone(), Arc::new(tokio::sync::Notify::new())))
            .collect();
        let inbound = assembly
            .systems
            .iter()
            .filter_map(|(name, connector)| Some((name.clone(), connector.inbound()?)))
            .collect();
        Self {
            store,
            inbound,
            flows: assembly.flows,
            settings: assembly.settings,
            alerts: assembly.alerts,
            queue_bells,
            data_dir: assembly.data_dir,
            reconciling: crate::reconcile::Slots::default(),
            background: tokio_util::task::TaskTracker::new(),
            background_cancel: CancellationToken::new(),
            retention: assembly.retention,
            claims: tokio::sync::Mutex::default(),
            first_runs: std::sync::Mutex::default(),
        }
    }

    /// The system's own webhook format, when its connector offers one
    /// ([`ferry_kit::inbound`]); `POST /hooks/{system}` then takes the system's notices as
    /// the system sends them.
    pub fn inbound(&self, system: &str) -> Option<&Arc<dyn ferry_kit::inbound::Inbound>> {
        self.inbound.get(system)
    }

    /// This process's claim on `flow`, taken on first use. A run takes it before it reads
    /// the cursor or leases queue items, and its commits carry it: so a process that died
    /// with a commit in flight (PostgreSQL may finish it after the restart) or another
    /// process working the same flow cannot record a batch twice or move the cursor back —
    /// whichever commit comes after the other's claim is refused whole.
    pub(crate) async fn claim(&self, flow: &str) -> Result<u64, EngineError> {
        let mut claims = self.claims.lock().await;
        if let Some(epoch) = claims.get(flow) {
            return Ok(*epoch);
        }
        self.settle_after_crash(flow).await?;
        let epoch = self.store.claim_flow(flow).await?;
        claims.insert(flow.to_owned(), epoch);
        Ok(epoch)
    }

    /// Starts a run of `flow`, remembering this engine's first one.
    async fn start_run(&self, flow: &str, trigger: &str) -> Result<i64, EngineError> {
        let id = self.store.start_run(flow, trigger).await?;
        self.first_runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(flow.to_owned())
            .or_insert(id);
        Ok(id)
    }

    /// Waits out the time the flow's target may go on saving what a dead process had sent
    /// ([`ferry_kit::SinkCapabilities::settle_after_crash`]), when the flow's last run
    /// before this process started did not finish. Reading sooner could miss records the
    /// target is still saving and write them again.
    async fn settle_after_crash(&self, flow: &str) -> Result<(), EngineError> {
        let Some(settle) = self
            .flows
            .get(flow)
            .and_then(|f| f.sink.capabilities().settle_after_crash)
        else {
            return Ok(());
        };
        let runs = self.store.runs(Some(flow), 5).await?;
        let first = self
            .first_runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(flow)
            .copied()
            .unwrap_or(i64::MAX);
        let died = runs
            .iter()
            .filter(|r| r.id < first)
            .max_by_key(|r| r.id)
            .is_some_and(|r| r.finished_at.is_none());
        if died {
            tracing::warn!(
                flow,
                settle = %humantime::format_duration(settle),
                "The flow's last run did not finish (its process died?): waiting for the target \
                 to finish saving what it was sent before reading again."
            );
            tokio::time::sleep(settle).await;
        }
        Ok(())
    }

    /// Forgets a claim a commit found overtaken, so the flow's next run claims it again
    /// (and reads the cursor the other claimant left).
    async fn forget_claim(&self, flow: &str, epoch: u64) {
        let mut claims = self.claims.lock().await;
        if claims.get(flow) == Some(&epoch) {
            claims.remove(flow);
        }
    }

    /// The data dir (where reconciliation scratch files go).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Runs `task` in the background with a token that is cancelled when `ferry run` shuts
    /// down ([`Engine::run`] waits for the task before it returns, so what the task records
    /// is recorded). Used for reconciliations started through the API and the console.
    pub fn spawn_background<F, Fut>(&self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.background
            .spawn(task(self.background_cancel.child_token()));
    }

    fn parallelism(&self) -> Parallelism {
        Parallelism {
            workers: self.settings.workers,
            min_chunk: self.settings.min_parallel_chunk,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Every flow, in config order.
    pub fn flows(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.values()
    }

    /// The flow called `name`.
    pub fn flow(&self, name: &str) -> Result<&Arc<Flow>, EngineError> {
        self.flows
            .get(name)
            .ok_or_else(|| EngineError::UnknownFlow(name.to_owned()))
    }

    /// Accepts requests to sync single records (flow, source id) into the durable queue,
    /// tracked, for `ferry run` to work off: the API's sync trigger and inbound webhooks.
    /// A webhook's `delivery` is remembered so that a repeat is recognised: a delivery id seen
    /// before queues nothing ([`ferry_store::Accepted::Duplicate`]); a signature seen before
    /// makes each record join its waiting read, or queues it again when none waits (see
    /// [`ferry_store::Store::request_sync`]). Returns once the items are committed.
    pub async fn request_sync(
        &self,
        requests: &[(String, String)],
        trigger: &str,
        delivery: Option<&ferry_store::SeenDelivery>,
    ) -> Result<ferry_store::Accepted, EngineError> {
        let mut items = Vec::with_capacity(requests.len());
        for (flow, id) in requests {
            let flow = self.flow(flow)?;
            items.push(NewQueueItem {
                flow: flow.name.clone(),
                source_id: id.clone(),
                trigger: trigger.to_owned(),
                payload: None,
                dead_letter_id: None,
            });
        }
        let accepted = self.store.request_sync(&items, delivery).await?;
        if matches!(accepted, ferry_store::Accepted::Queued(_)) {
            // `notify_one` keeps a permit when the flow's worker is busy, so a request that
            // arrives mid-batch is picked up right after that batch.
            for item in &items {
                if let Some(bell) = self.queue_bells.get(&item.flow) {
                    bell.notify_one();
                }
            }
        }
        Ok(accepted)
    }

    /// Reads what changed since the flow's cursor (or everything, with `full`), brings it to
    /// the target, then works off the flow's queue. Each batch commits with its cursor.
    ///
    /// Records waiting for a record of another flow (`depends_on`) make that flow run once
    /// (an incremental sync), after which they are tried again.
    pub async fn sync(
        &self,
        flow_name: &str,
        options: &SyncOptions,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<RunReport, EngineError> {
        self.sync_with(flow_name, options, progress, cancel, Dependencies::Sync)
            .await
    }

    /// [`Engine::sync`], saying whether waiting records may sync the flows they wait for
    /// (not inside such a sync: one level, so two flows can never sync each other in turn).
    fn sync_with<'a>(
        &'a self,
        flow_name: &'a str,
        options: &'a SyncOptions,
        progress: &'a dyn Progress,
        cancel: &'a CancellationToken,
        dependencies: Dependencies,
    ) -> Pin<Box<dyn Future<Output = Result<RunReport, EngineError>> + Send + 'a>> {
        Box::pin(async move {
            let flow = self.flow(flow_name)?.clone();
            let run_id = self.start_run(&flow.name, &options.trigger).await?;
            let mut totals = Tally::default();
            let result = self
                .scan(&flow, options, run_id, &mut totals, progress, cancel)
                .await;
            let mut deps = DependencySyncs::new(dependencies);
            // Records of the scan that wait for other flows are queued: sync those flows
            // first, so the queue drain below finds their records.
            let result = match result {
                Ok(waiting) => {
                    self.sync_dependencies(&flow, &waiting, &mut deps, cancel)
                        .await
                }
                Err(e) => Err(e),
            };
            let result = match result {
                Ok(_) => {
                    self.drain_flow_queue(
                        &flow,
                        Some(run_id),
                        &mut totals,
                        progress,
                        cancel,
                        &mut deps,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            self.finish_run(&flow, run_id, totals, result).await
        })
    }

    /// Records the end of a run and turns its outcome into a report. A run that stopped on a
    /// transient failure (a system stayed down) is a report with `error` set, since the next
    /// run resumes where it stopped; anything else that stopped it is returned as an error.
    async fn finish_run(
        &self,
        flow: &Flow,
        run_id: i64,
        totals: Tally,
        result: Result<(), EngineError>,
    ) -> Result<RunReport, EngineError> {
        let totals = totals.finish(&flow.name);
        let (cancelled, error) = match &result {
            Ok(()) => (false, None),
            Err(EngineError::Cancelled) => (true, None),
            Err(e) => (false, Some(e.to_string())),
        };
        let fenced = match &result {
            Err(EngineError::Store(ferry_store::StoreError::Fenced { ours, .. })) => Some(*ours),
            _ => None,
        };
        if let Some(epoch) = fenced {
            self.forget_claim(&flow.name, epoch).await;
        }
        self.store
            .finish_run(run_id, &totals, error.as_deref())
            .await?;
        let paused_until = match &result {
            Err(e) => match e.kind() {
                ferry_model::ErrorKind::RateLimited {
                    retry_after: Some(wait),
                } if crate::retry::pauses(e.kind(), &self.settings.retry) => {
                    chrono::Duration::from_std(wait)
                        .ok()
                        .map(|d| Utc::now() + d)
                }
                _ => None,
            },
            Ok(()) => None,
        };
        match (&error, &paused_until) {
            (Some(message), Some(until)) => {
                tracing::warn!(flow = %flow.name, run_id, until = %until, error = %message, "Run paused: the system asked to be left alone until then.");
            }
            (Some(message), None) => {
                tracing::error!(flow = %flow.name, run_id, error = %message, "Run stopped early.");
            }
            (None, _) => {}
        }
        let report = RunReport {
            flow: flow.name.clone(),
            run_id,
            stats: totals,
            cancelled,
            error,
            paused_until,
        };
        match result {
            Ok(()) | Err(EngineError::Cancelled) => Ok(report),
            // Overtaken: the next run claims the flow again and resumes from its cursor.
            Err(_) if fenced.is_some() => Ok(report),
            Err(e) if e.kind().is_transient() => Ok(report),
            Err(e) => Err(e),
        }
    }

    /// Reads pages after the cursor and brings them to the target, one commit per page;
    /// after a complete snapshot pass, looks for deletes. Returns the flows whose records some
    /// of the records read wait for (`depends_on`).
    async fn scan(
        &self,
        flow: &Arc<Flow>,
        options: &SyncOptions,
        run_id: i64,
        totals: &mut Tally,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<BTreeSet<String>, EngineError> {
        // The two flows of a two-way pair never scan at once (see `ownership`).
        let _pair = match &flow.two_way {
            Some(tw) => Some(tw.lock.lock().await),
            None => None,
        };
        let mut waiting = BTreeSet::new();
        // Claimed before the cursor is read, so a commit another claimant had in flight is
        // either in what we read or refused.
        let epoch = self.claim(&flow.name).await?;
        let start = if options.full {
            None
        } else {
            self.store.cursor(&flow.name).await?
        };
        // The reader runs one page ahead so that reading overlaps mapping and writing, and it
        // does the page's prework (read hashes, xref lookup, mapping) there too; a page is
        // committed (with its cursor) only after its records are safe.
        let (tx, mut rx) = mpsc::channel::<Result<(Page, Prework), EngineError>>(1);
        let reader_cancel = cancel.child_token();
        let reader = {
            let flow = flow.clone();
            let store = self.store.clone();
            let retry_settings = self.settings.retry.clone();
            let cancel = reader_cancel.clone();
            tokio::spawn(async move {
                let mut cursor = start;
                loop {
                    let page = retry(&retry_settings, &cancel, "source.read", || {
                        flow.source.read(cursor.as_deref(), flow.batch_size)
                    })
                    .await
                    .map_err(|e| source_failure(&flow.name, e));
                    let page = match page {
                        Ok(mut page) => {
                            let records = std::mem::take(&mut page.records);
                            prework(&flow, store.as_ref(), &retry_settings, &cancel, records)
                                .await
                                .map(|(records, prework)| {
                                    page.records = records;
                                    (page, prework)
                                })
                        }
                        Err(e) => Err(e),
                    };
                    let (more, next) = match &page {
                        Ok((p, _)) => (p.more, Some(p.cursor.clone())),
                        Err(_) => (false, None),
                    };
                    if tx.send(page).await.is_err() || !more {
                        break;
                    }
                    cursor = next;
                }
            })
        };
        // Batch N commits while batch N+1 is written: commits stay in order, and batch N+1
        // sees the xref rows of the batches whose commits its prework's lookup may have missed
        // through the overlay, so pipelining changes nothing but the time it takes. That
        // lookup ran as early as when batch N-1 was taken from the channel, while N-2 was
        // still committing: the overlay holds N, N-1 and N-2.
        const OVERLAY_DEPTH: usize = 3;
        let mut ctx = BatchContext {
            trigger: &options.trigger,
            run_id: Some(run_id),
            items: HashMap::new(),
            force: false,
            overlay: Overlay::default(),
            epoch,
        };
        let mut pending: Option<(BatchResult, String)> = None;
        let mut completed_pass: Option<u64> = None;
        let mut outcome = Ok(());
        while let Some(page) = rx.recv().await {
            let (page, prework) = match page {
                Ok(page) => page,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            let cursor = page.cursor.clone();
            let seen = page.pass.map(|pass| {
                if pass.complete {
                    completed_pass = Some(pass.number);
                }
                SeenInPass {
                    pass: pass.number,
                    ids: page.records.iter().map(|r| r.id.clone()).collect(),
                }
            });
            if let Some((r, _)) = &pending {
                ctx.overlay
                    .push(overlay_of(&flow.name, &r.commit), OVERLAY_DEPTH);
            }
            let previous = pending.take();
            let track = totals.tracking();
            let commit_previous = async {
                match previous {
                    Some((result, cursor)) => self
                        .finish_batch(flow, result, Some(cursor), track, cancel)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            };
            let process_this = process(
                flow,
                self.store.as_ref(),
                &self.settings.retry,
                self.parallelism(),
                cancel,
                page.records,
                Some(prework),
                &ctx,
            );
            let (committed, processed) = tokio::join!(commit_previous, process_this);
            match committed {
                Ok(Some(batch)) => {
                    totals.add(batch);
                    progress.batch(&flow.name, &totals.so_far());
                }
                Ok(None) => {}
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
            match processed {
                Ok(mut result) => {
                    result.commit.seen = seen;
                    waiting.extend(result.transient.iter().filter_map(|t| t.waiting_on.clone()));
                    pending = Some((result, cursor));
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
            if cancel.is_cancelled() {
                outcome = Err(EngineError::Cancelled);
                break;
            }
        }
        // The batch in hand is finished: commit it, even on shutdown.
        if let Some((result, cursor)) = pending.take() {
            let track = totals.tracking();
            match self
                .finish_batch(flow, result, Some(cursor), track, cancel)
                .await
            {
                Ok(batch) => {
                    totals.add(batch);
                    progress.batch(&flow.name, &totals.so_far());
                }
                Err(e) => outcome = outcome.and(Err(e)),
            }
        }
        reader_cancel.cancel();
        drop(rx);
        let _ = reader.await;
        match (outcome, completed_pass) {
            (Ok(()), Some(pass)) => self
                .sweep_pass(flow, pass, &ctx, totals, progress, cancel)
                .await
                .map(|()| waiting),
            (outcome, _) => outcome.map(|()| waiting),
        }
    }

    /// The current state of these source records, retried like any source call.
    async fn fetch(
        &self,
        flow: &Flow,
        ids: &[String],
        cancel: &CancellationToken,
    ) -> Result<Vec<Record>, EngineError> {
        retry(&self.settings.retry, cancel, "source.fetch", || {
            flow.source.fetch(ids)
        })
        .await
        .map_err(|e| source_failure(&flow.name, e))
    }

    /// After a complete snapshot pass: asks the source about every record an earlier pass saw
    /// and this one did not. Those gone are recorded as deletes; those still there (a page
    /// boundary shifted under the pass) are processed like any record and marked seen.
    async fn sweep_pass(
        &self,
        flow: &Arc<Flow>,
        pass: u64,
        ctx: &BatchContext<'_>,
        totals: &mut Tally,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        let ctx = BatchContext {
            trigger: ctx.trigger,
            run_id: ctx.run_id,
            items: HashMap::new(),
            force: false,
            overlay: Overlay::default(),
            epoch: ctx.epoch,
        };
        loop {
            let ids = self.store.unseen(&flow.name, pass, flow.batch_size).await?;
            if ids.is_empty() {
                return Ok(());
            }
            let records = self.fetch(flow, &ids, cancel).await?;
            // Every candidate leaves the candidates: gone (marked by the pipeline) or seen.
            // An id the source did not answer for at all is taken as still there, so a
            // source that breaks the `fetch` contract can never make the sweep loop.
            let deleted: HashSet<&str> = records
                .iter()
                .filter(|r| r.deleted)
                .map(|r| r.id.as_str())
                .collect();
            let still_there: Vec<String> = ids
                .iter()
                .filter(|id| !deleted.contains(id.as_str()))
                .cloned()
                .collect();
            let mut result = process(
                flow,
                self.store.as_ref(),
                &self.settings.retry,
                self.parallelism(),
                cancel,
                records,
                None,
                &ctx,
            )
            .await?;
            result.commit.seen = Some(SeenInPass {
                pass,
                ids: still_there,
            });
            let track = totals.tracking();
            let batch = self.finish_batch(flow, result, None, track, cancel).await?;
            totals.add(batch);
            progress.batch(&flow.name, &totals.so_far());
        }
    }

    /// Commits a processed batch and schedules its transient failures for another try. With
    /// `track`, says which records the batch tried (see [`Tally`]).
    async fn finish_batch(
        &self,
        flow: &Flow,
        result: BatchResult,
        cursor: Option<String>,
        track: bool,
        cancel: &CancellationToken,
    ) -> Result<Committed, EngineError> {
        let BatchResult {
            mut commit,
            stats,
            transient,
        } = result;
        commit.cursor = cursor;
        // The records the batch tried (each attempt leaves a ledger entry), when the run has
        // records left for another try that this batch may have written; and those it left
        // for another try.
        let tried: HashSet<String> = if track {
            commit.ledger.iter().map(|e| e.source_id.clone()).collect()
        } else {
            HashSet::new()
        };
        let retrying: Vec<String> = transient.iter().map(|t| t.source_id.clone()).collect();
        // Records from a scan that failed transiently get a queue item before the cursor
        // moves past them, so they cannot be forgotten (if the commit then fails, the page is
        // read again as well, and the queued retry finds the record already written).
        if !transient.is_empty() {
            let items: Vec<NewQueueItem> = transient
                .iter()
                .map(|t| NewQueueItem {
                    flow: flow.name.clone(),
                    source_id: t.source_id.clone(),
                    trigger: "retry".into(),
                    payload: None,
                    dead_letter_id: None,
                })
                .collect();
            self.store.enqueue(&items).await?;
        }
        // On a task of its own, so the runtime's other worker thread runs it while this
        // task maps and writes the next batch (a `join!` in one task would interleave the
        // two on one thread: the commit's encoding waits for the mapping and the other way
        // round).
        let store = self.store.clone();
        let settings = self.settings.retry.clone();
        let commit_cancel = cancel.clone();
        let name = flow.name.clone();
        let committed = tokio::spawn(async move {
            retry(&settings, &commit_cancel, "store.commit", || {
                store.commit(&name, &commit)
            })
            .await
        })
        .await;
        match committed {
            Ok(Ok(())) => {}
            Ok(Err(Retried::Cancelled)) => return Err(EngineError::Cancelled),
            Ok(Err(Retried::Failed(e))) => return Err(EngineError::Store(e)),
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
        crate::telemetry::batch_committed(&flow.name, &stats);
        Ok(Committed {
            stats,
            tried,
            retrying,
        })
    }

    /// Puts these source ids on the flow's queue and works them off now (`ferry sync --id`).
    pub async fn sync_ids(
        &self,
        flow_name: &str,
        ids: &[String],
        trigger: &str,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<RunReport, EngineError> {
        let flow = self.flow(flow_name)?.clone();
        let items: Vec<NewQueueItem> = ids
            .iter()
            .map(|id| NewQueueItem {
                flow: flow.name.clone(),
                source_id: id.clone(),
                trigger: trigger.to_owned(),
                payload: None,
                dead_letter_id: None,
            })
            .collect();
        self.store.enqueue(&items).await?;
        self.drain_queue(flow_name, trigger, progress, cancel).await
    }

    /// Works off every available item of the flow's queue (replays, `--id` requests, retries).
    pub async fn drain_queue(
        &self,
        flow_name: &str,
        trigger: &str,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<RunReport, EngineError> {
        let flow = self.flow(flow_name)?.clone();
        let run_id = self.start_run(&flow.name, trigger).await?;
        let mut totals = Tally::default();
        let mut deps = DependencySyncs::new(Dependencies::Sync);
        let result = self
            .drain_flow_queue(
                &flow,
                Some(run_id),
                &mut totals,
                progress,
                cancel,
                &mut deps,
            )
            .await;
        self.finish_run(&flow, run_id, totals, result).await
    }

    async fn drain_flow_queue(
        &self,
        flow: &Arc<Flow>,
        run_id: Option<i64>,
        totals: &mut Tally,
        progress: &dyn Progress,
        cancel: &CancellationToken,
        deps: &mut DependencySyncs,
    ) -> Result<(), EngineError> {
        // Claimed before anything is leased (see `scan`).
        let epoch = self.claim(&flow.name).await?;
        loop {
            if cancel.is_cancelled() {
                self.store.release_leases(&flow.name).await?;
                return Err(EngineError::Cancelled);
            }
            let items = self.store.lease(&flow.name, flow.batch_size, LEASE).await?;
            if items.is_empty() {
                return Ok(());
            }
            let outcome = self
                .work_items(flow, run_id, epoch, items, totals, cancel, deps)
                .await;
            if let Err(e) = outcome {
                // Give the leases back so another attempt (or process) can take the items.
                self.store.release_leases(&flow.name).await?;
                return Err(e);
            }
            progress.batch(&flow.name, &totals.so_far());
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn work_items(
        &self,
        flow: &Arc<Flow>,
        run_id: Option<i64>,
        epoch: u64,
        items: Vec<ferry_store::QueueItem>,
        totals: &mut Tally,
        cancel: &CancellationToken,
        deps: &mut DependencySyncs,
    ) -> Result<(), EngineError> {
        let pair = match &flow.two_way {
            Some(tw) => Some(tw.lock.lock().await),
            None => None,
        };
        // The worker reads the latest state from the source rather than trusting an event, so
        // late or duplicated requests are harmless; an operator's edited payload wins.
        let to_fetch: Vec<String> = items
            .iter()
            .filter(|i| i.payload.is_none())
            .map(|i| i.source_id.clone())
            .collect();
        let mut fetched: HashMap<String, Record> = HashMap::new();
        if !to_fetch.is_empty() {
            let records = self.fetch(flow, &to_fetch, cancel).await?;
            fetched = records.into_iter().map(|r| (r.id.clone(), r)).collect();
        }
        let mut records = Vec::with_capacity(items.len());
        let mut broken = Vec::new();
        for item in &items {
            let record = match &item.payload {
                Some(payload) => {
                    serde_json::from_value::<Record>(payload.clone()).map_err(|e| e.to_string())
                }
                None => fetched.remove(&item.source_id).ok_or_else(|| {
                    format!("the source returned no record for id `{}`", item.source_id)
                }),
            };
            match record {
                Ok(r) => records.push(r),
                Err(reason) => broken.push((item.clone(), reason)),
            }
        }
        let trigger = items
            .first()
            .map(|i| i.trigger.clone())
            .unwrap_or_else(|| "queue".into());
        let ctx = BatchContext {
            trigger: &trigger,
            run_id,
            items: items
                .iter()
                .map(|i| (i.source_id.clone(), i.clone()))
                .collect(),
            force: true,
            overlay: Overlay::default(),
            epoch,
        };
        let mut result = process(
            flow,
            self.store.as_ref(),
            &self.settings.retry,
            self.parallelism(),
            cancel,
            records,
            None,
            &ctx,
        )
        .await?;
        for (item, reason) in broken {
            result.stats.failed += 1;
            result.commit.dead_letters.push(NewDeadLetter {
                source_id: item.source_id.clone(),
                key: None,
                payload: item.payload.clone().unwrap_or(serde_json::Value::Null),
                error_kind: "validation".into(),
                error: format!(
                    "flow `{}`, record `{}`: {reason}",
                    flow.name, item.source_id
                ),
                attempts: item.attempts + 1,
            });
            result.commit.acked.push(item.id);
        }
        // Transient per-record failures: try again later, or dead-letter after max attempts.
        let transient = std::mem::take(&mut result.transient);
        let mut later = Vec::new();
        let mut retrying = Vec::new();
        for t in transient {
            let item = &ctx.items[&t.source_id];
            if t.attempt >= self.settings.retry.max_attempts {
                result.stats.failed += 1;
                result.commit.dead_letters.push(NewDeadLetter {
                    error: format!(
                        "flow `{}`, record `{}`: gave up after {} attempts: {}",
                        flow.name, t.source_id, t.attempt, t.error
                    ),
                    source_id: t.source_id,
                    key: Some(t.key),
                    payload: t.payload,
                    error_kind: if t.waiting_on.is_some() {
                        crate::pipeline::WAITING.into()
                    } else {
                        "retryable".into()
                    },
                    attempts: t.attempt,
                });
                result.commit.acked.push(item.id);
            } else {
                retrying.push(t.source_id);
                later.push((item.id, t.attempt, t.error, t.waiting_on));
            }
        }
        let acked: HashSet<i64> = result.commit.acked.iter().copied().collect();
        let mut batch = self.finish_batch(flow, result, None, false, cancel).await?;
        drop(pair);
        for item in items.iter().filter(|i| acked.contains(&i.id)) {
            crate::telemetry::queue_item_done(&flow.name, item.available_at);
        }
        // Every item was worked on; those in `later` are left for another try.
        batch.tried = items.iter().map(|i| i.source_id.clone()).collect();
        batch.retrying = retrying;
        totals.add(batch);
        // Records waiting for another flow: sync it now (once per run), then try them again
        // at once; if they still wait, they back off like any transient failure.
        let waiting: BTreeSet<String> = later.iter().filter_map(|l| l.3.clone()).collect();
        let synced_now = self.sync_dependencies(flow, &waiting, deps, cancel).await?;
        for (item_id, attempt, error, waiting_on) in later {
            let now = waiting_on.is_some_and(|other| synced_now.contains(&other));
            let at = if now {
                Utc::now()
            } else {
                Utc::now() + queue_backoff(&self.settings.retry, attempt)
            };
            self.store.retry_later(item_id, at, &error).await?;
        }
        Ok(())
    }
}

impl Engine {
    /// Runs an incremental sync of each flow in `waiting` that this run has not synced yet
    /// (and may); returns those it ran.
    async fn sync_dependencies(
        &self,
        flow: &Flow,
        waiting: &BTreeSet<String>,
        deps: &mut DependencySyncs,
        cancel: &CancellationToken,
    ) -> Result<HashSet<String>, EngineError> {
        let mut synced = HashSet::new();
        for other in waiting {
            if !deps.first_time(other) {
                continue;
            }
            let options = SyncOptions {
                full: false,
                trigger: "dependency".into(),
            };
            tracing::info!(flow = %flow.name, dependency = %other, "Records wait for another flow: syncing it.");
            self.sync_with(other, &options, &NoProgress, cancel, Dependencies::Wait)
                .await?;
            synced.insert(other.clone());
        }
        Ok(synced)
    }
}

/// A source call that failed for good (or was cut short by shutdown).
pub(crate) fn source_failure(flow: &str, e: Retried<ferry_model::ConnectorError>) -> EngineError {
    match e {
        Retried::Cancelled => EngineError::Cancelled,
        Retried::Failed(error) => EngineError::Source {
            flow: flow.to_owned(),
            error,
        },
    }
}

/// Whether records waiting for another flow may sync it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dependencies {
    /// Yes, once per run and flow.
    Sync,
    /// No: this run is itself such a sync; its waiting records back off.
    Wait,
}

/// The flows a run has synced for its waiting records.
struct DependencySyncs {
    mode: Dependencies,
    synced: HashSet<String>,
}

impl DependencySyncs {
    fn new(mode: Dependencies) -> Self {
        Self {
            mode,
            synced: HashSet::new(),
        }
    }

    /// Whether `flow` should be synced now (allowed, and not done yet in this run).
    fn first_time(&mut self, flow: &str) -> bool {
        self.mode == Dependencies::Sync && self.synced.insert(flow.to_owned())
    }
}

/// A committed batch, as a run counts it.
pub(crate) struct Committed {
    stats: RunStats,
    /// The source ids the batch worked on.
    tried: HashSet<String>,
    /// Those it left for another try (a transient failure, or waiting for another flow).
    retrying: Vec<String>,
}

/// A run's counts while it runs. A record left for another try counts as failed only if the
/// run ends without a later outcome for it: an order that waited for its customer and was
/// written once the run had synced that customer counts once, as written.
#[derive(Default)]
pub(crate) struct Tally {
    stats: RunStats,
    /// Records whose last attempt in this run left them for another try.
    retrying: HashSet<String>,
}

impl Tally {
    /// Whether a batch must say which records it tried: some are left for another try.
    fn tracking(&self) -> bool {
        !self.retrying.is_empty()
    }

    fn add(&mut self, batch: Committed) {
        self.stats.add(&batch.stats);
        if !batch.tried.is_empty() {
            self.retrying.retain(|id| !batch.tried.contains(id));
        }
        self.retrying.extend(batch.retrying);
    }

    /// The counts so far, the records still left for another try counted as failed.
    fn so_far(&self) -> RunStats {
        let mut stats = self.stats;
        stats.failed += self.retrying.len() as u64;
        stats
    }

    /// The run's final counts.
    fn finish(self, flow: &str) -> RunStats {
        let left = RunStats {
            failed: self.retrying.len() as u64,
            ..RunStats::default()
        };
        crate::telemetry::batch_committed(flow, &left);
        self.so_far()
    }
}
