//! `ferry run`: every enabled flow on its trigger, every queue worked off as items arrive,
//! each flow's scheduled reconciliation (`reconcile:`), its report kept in the store, and the
//! store's history pruned to `store.retention` ([`crate::retention`]).
//!
//! Also what a schedule is ([`Schedule`], [`CronSchedule`]) and when it is next due
//! ([`Schedule::next_due`]): the loops below and `ferry status` ask the same function.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::assemble::Flow;
use crate::reconcile::{self, ReconcileError};
use crate::run::{Engine, NoProgress, SyncOptions};

/// When a flow (or its reconciliation) runs by itself.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Only when asked.
    Manual,
    /// Every interval.
    Every(Duration),
    /// On a cron schedule, in its zone.
    Cron(Box<CronSchedule>),
}

impl Schedule {
    /// When the next run is due, given when the last one was due or started (`None`: none
    /// yet) and the time now: an interval after the last run, or now when that has passed
    /// (or there was none); a cron schedule's next time after both; never for `Manual`.
    /// The scheduler and `ferry status` both ask here, so status shows what `ferry run` does.
    pub fn next_due(
        &self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Manual => None,
            Schedule::Every(every) => Some(last.map_or(now, |last| {
                chrono::Duration::from_std(*every)
                    .ok()
                    .and_then(|every| last.checked_add_signed(every))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
                    .max(now)
            })),
            Schedule::Cron(cron) => cron.next_after(last.map_or(now, |last| last.max(now))),
        }
    }
}

/// `manual`, `poll 30s`, `cron 0 3 * * *`: how `ferry status` names a trigger (its zone is
/// [`CronSchedule::zone`]).
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Manual => write!(f, "manual"),
            Schedule::Every(every) => write!(f, "poll {}", humantime::format_duration(*every)),
            Schedule::Cron(cron) => write!(f, "cron {}", cron.pattern),
        }
    }
}

/// A cron schedule read in a time zone: `0 3 * * *` in Asia/Shanghai is due at 19:00 UTC.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: croner::Cron,
    pattern: String,
    zone: Tz,
}

impl CronSchedule {
    /// Parses the one cron form Ferry accepts: five fields (`minute hour day-of-month month
    /// day-of-week`) or six with seconds first, in croner's POSIX reading (day of week 0-7,
    /// 0 and 7 Sunday; `?` is `*`; `L`, `W`, `#` and a `+` in day-of-week as documented on
    /// `ferry_model::config::Trigger`). Years, `@daily`-style nicknames and `@every` are
    /// refused: one form is easier to read than several, and croner's wider forms are not
    /// what other cron users expect. The error is a sentence for `ferry check`.
    pub fn parse(pattern: &str, zone: Tz) -> Result<Self, String> {
        let fields = pattern.split_whitespace().count();
        let refused = |why: String| format!("`{pattern}` is not a cron schedule: {why}");
        if pattern.contains('@') {
            return Err(refused(
                "nicknames such as `@daily` and `@every` are not accepted; write the five \
                 fields, e.g. `0 0 * * *` for daily at midnight"
                    .into(),
            ));
        }
        if !(5..=6).contains(&fields) {
            return Err(refused(format!(
                "it has {fields} field(s); write five (minute hour day-of-month month \
                 day-of-week) or six with seconds first{}",
                if fields == 7 {
                    " (there is no year field)"
                } else {
                    ""
                }
            )));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| refused(e.to_string()))?;
        let schedule = Self {
            cron,
            pattern: pattern.trim().to_owned(),
            zone,
        };
        // A flow on a date that never comes would wait for ever without a word.
        match schedule.next_after(Utc::now()) {
            Some(_) => Ok(schedule),
            None => Err(refused(
                "no time matches it (a day the month never has, such as 30 February)".into(),
            )),
        }
    }

    /// The first time after `t` the schedule fires (`None`: never again).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.zone), false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }

    /// The zone it is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The pattern as written (trimmed).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

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
        let mut last_due: Option<DateTime<Utc>> = None;
        loop {
            let now = Utc::now();
            // With `every`, a period after the flow's last reconciliation, however started;
            // never twice in one period, even when nothing could be recorded.
            let last = match schedule {
                Schedule::Every(_) => match self.store.reconciliations(Some(&flow.name), 1).await {
                    Ok(found) => found.first().map(|r| r.started_at).max(last_due),
                    Err(e) => {
                        tracing::warn!(flow = %flow.name, error = %e,
                            "Cannot read the last reconciliation; the next one waits a period.");
                        Some(now)
                    }
                },
                _ => last_due,
            };
            let Some(due) = schedule.next_due(last, now) else {
                return;
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
        let mut next_scan = flow.schedule.next_due(None, Utc::now());
        // Until when the flow's systems asked to be left alone (scans and queue work wait).
        let mut paused: Option<DateTime<Utc>> = None;
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
                next_scan = flow.schedule.next_due(Some(due), Utc::now());
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
    ) -> Result<Option<DateTime<Utc>>, crate::EngineError> {
        if self.store.queue_depth(Some(&flow.name)).await? == 0 {
            return Ok(None);
        }
        self.drain_queue(&flow.name, "queue", &NoProgress, cancel)
            .await
            .map(|report| report.paused_until)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono_tz::{Asia, Europe};

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn cron(pattern: &str, zone: Tz) -> CronSchedule {
        CronSchedule::parse(pattern, zone).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The next `n` times after `from`, in RFC 3339 UTC.
    fn times(schedule: &CronSchedule, from: &str, n: usize) -> Vec<String> {
        let mut at = utc(from);
        (0..n)
            .map(|_| {
                at = schedule.next_after(at).expect("a next time");
                at.to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn five_fields_or_six_with_seconds_first_and_nothing_else() {
        assert_eq!(
            times(&cron("0 3 * * *", Tz::UTC), "2026-01-01T00:00:00Z", 1),
            ["2026-01-01T03:00:00+00:00"]
        );
        assert_eq!(
            times(&cron(" 30 0 3 * * * ", Tz::UTC), "2026-01-01T00:00:00Z", 1),
            ["2026-01-01T03:00:30+00:00"]
        );
        for (pattern, says) in [
            (
                "0 0 3 * * * 2027",
                "it has 7 field(s); write five (minute hour day-of-month month day-of-week) or six with seconds first (there is no year field)",
            ),
            ("0 3 * *", "it has 4 field(s)"),
            (
                "@daily",
                "nicknames such as `@daily` and `@every` are not accepted",
            ),
            (
                "@every 5m",
                "nicknames such as `@daily` and `@every` are not accepted",
            ),
            ("", "it has 0 field(s)"),
            ("0 25 * * *", "is not a cron schedule: "),
            ("0/10 * * * *", "is not a cron schedule: "),
            ("every tuesday * * *", "is not a cron schedule: "),
            ("0 0 30 2 *", "no time matches it"),
        ] {
            let err = CronSchedule::parse(pattern, Tz::UTC).unwrap_err();
            assert!(
                err.starts_with(&format!("`{pattern}` is not a cron schedule: "))
                    && err.contains(says),
                "{pattern}: {err}"
            );
        }
    }

    #[test]
    fn day_of_week_question_mark_and_last_day_read_as_documented() {
        // 2026-03-01 is a Sunday.
        let from = "2026-03-01T12:00:00Z";
        let sundays = ["2026-03-08T00:00:00+00:00", "2026-03-15T00:00:00+00:00"];
        assert_eq!(times(&cron("0 0 * * 0", Tz::UTC), from, 2), sundays);
        assert_eq!(times(&cron("0 0 * * 7", Tz::UTC), from, 2), sundays);
        assert_eq!(times(&cron("0 0 * * SUN", Tz::UTC), from, 2), sundays);
        assert_eq!(
            times(&cron("0 0 ? * 1", Tz::UTC), from, 1),
            ["2026-03-02T00:00:00+00:00"],
            "1 is Monday, `?` is `*`"
        );
        assert_eq!(
            times(&cron("0 0 * * MON-FRI", Tz::UTC), "2026-03-06T12:00:00Z", 1),
            ["2026-03-09T00:00:00+00:00"],
            "Friday noon → Monday"
        );
        assert_eq!(
            times(&cron("0 0 L * *", Tz::UTC), "2026-02-01T00:00:00Z", 2),
            ["2026-02-28T00:00:00+00:00", "2026-03-31T00:00:00+00:00"]
        );
        assert_eq!(
            times(&cron("0 0 * * 5#L", Tz::UTC), "2026-03-01T00:00:00Z", 1),
            ["2026-03-27T00:00:00+00:00"],
            "the last Friday of March 2026"
        );
        // Both day fields restricted: either one is enough (Vixie cron), `+` asks for both.
        assert_eq!(
            times(&cron("0 0 13 * 5", Tz::UTC), "2026-03-01T00:00:00Z", 2),
            ["2026-03-06T00:00:00+00:00", "2026-03-13T00:00:00+00:00"]
        );
        assert_eq!(
            times(&cron("0 0 13 * +5", Tz::UTC), "2026-01-01T00:00:00Z", 1),
            ["2026-02-13T00:00:00+00:00"],
            "the next Friday the 13th"
        );
    }

    #[test]
    fn three_in_the_morning_in_shanghai_is_seven_in_the_evening_utc_the_day_before() {
        let schedule = cron("0 3 * * *", Asia::Shanghai);
        assert_eq!(
            times(&schedule, "2026-12-07T00:00:00Z", 2),
            ["2026-12-07T19:00:00+00:00", "2026-12-08T19:00:00+00:00"]
        );
        let at = schedule.next_after(utc("2026-12-07T00:00:00Z")).unwrap();
        assert_eq!(
            at.with_timezone(&Asia::Shanghai).to_rfc3339(),
            "2026-12-08T03:00:00+08:00"
        );
    }

    #[test]
    fn daylight_saving_changes_neither_skip_nor_double_a_daily_run() {
        // Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
        assert_eq!(
            times(
                &cron("0 3 * * *", Europe::Berlin),
                "2026-03-27T12:00:00Z",
                3
            ),
            [
                "2026-03-28T02:00:00+00:00",
                "2026-03-29T01:00:00+00:00",
                "2026-03-30T01:00:00+00:00"
            ],
            "03:00 local, before and after the change"
        );
        assert_eq!(
            times(
                &cron("30 2 * * *", Europe::Berlin),
                "2026-03-27T12:00:00Z",
                3
            ),
            [
                "2026-03-28T01:30:00+00:00",
                "2026-03-29T01:00:00+00:00",
                "2026-03-30T00:30:00+00:00"
            ],
            "02:30 does not exist on the 29th: the first instant after the gap, 03:00 CEST"
        );
        assert_eq!(
            times(
                &cron("30 2 * * *", Europe::Berlin),
                "2026-10-24T12:00:00Z",
                2
            ),
            ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"],
            "02:30 happens twice on 25 October: once, the first"
        );
        assert_eq!(
            times(
                &cron("30 * * * *", Europe::Berlin),
                "2026-10-24T23:45:00Z",
                3
            ),
            [
                "2026-10-25T00:30:00+00:00",
                "2026-10-25T01:30:00+00:00",
                "2026-10-25T02:30:00+00:00"
            ],
            "an hourly schedule runs in both 02:30s"
        );
    }

    #[test]
    fn next_due_is_an_interval_after_the_last_run_or_now_and_the_next_cron_time() {
        let now = utc("2026-12-07T00:00:00Z");
        let every = Schedule::Every(Duration::from_secs(30));
        assert_eq!(every.next_due(None, now), Some(now), "never ran: now");
        assert_eq!(
            every.next_due(Some(utc("2026-12-06T23:59:50Z")), now),
            Some(utc("2026-12-07T00:00:20Z"))
        );
        assert_eq!(
            every.next_due(Some(utc("2026-12-06T20:00:00Z")), now),
            Some(now),
            "overdue: now"
        );
        assert_eq!(Schedule::Manual.next_due(Some(now), now), None);
        let daily = Schedule::Cron(Box::new(cron("0 3 * * *", Asia::Shanghai)));
        assert_eq!(
            daily.next_due(None, now),
            Some(Utc.with_ymd_and_hms(2026, 12, 7, 19, 0, 0).unwrap())
        );
        // The scheduler passes the time it just ran for; the next is the one after.
        let ran = utc("2026-12-07T19:00:00Z");
        assert_eq!(
            daily.next_due(Some(ran), ran),
            Some(utc("2026-12-08T19:00:00Z"))
        );
        assert_eq!(daily.to_string(), "cron 0 3 * * *");
        assert_eq!(every.to_string(), "poll 30s");
    }
}
