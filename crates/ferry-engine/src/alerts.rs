//! Alerts: tell someone when a flow needs attention, once, and again when it has recovered.
//!
//! `ferry run` checks every flow each `alerts.every` against six conditions (thresholds in
//! the `alerts:` section, see [`ferry_model::config::AlertsConfig`]):
//!
//! - **failures**: the last finished run failed more than `error_rate` of what it read, or
//!   stopped with an error (the target was down past the retry budget, say);
//! - **dead letters**: the flow has at least `dead_letters` open dead letters;
//! - **lag**: the oldest item in the flow's queue has waited longer than `lag`;
//! - **silent**: a flow with a `poll` or `cron` trigger has had no successful run for
//!   `silent_after`: the failure nobody notices, because nothing fails, nothing runs;
//! - **missed notices**: a flow fed by webhooks had `missed_notices` polls in a row find
//!   changes no notice announced, with no notice since: the sender has stopped (a vendor
//!   disabling its push after failed deliveries, as Jiandaoyun does) and polling alone
//!   carries the flow;
//! - **drift**: the flow's latest reconciliation (scheduled with `reconcile:`, or started
//!   from the CLI, the API or the console) found the source and the target disagreeing; the
//!   next clean one announces the recovery. One running, or one that failed, says nothing.
//!
//! A condition that becomes true is announced (log at WARN, and a JSON POST to `alerts.url`
//! when set); while it stays true it is announced again at most every `alerts.repeat`, so a
//! broken flow does not flood anyone; when it becomes false a recovery is announced. The
//! decision is a pure function of what the store says ([`Watch::check`]), so it is tested
//! without clocks or servers. State lives in the process: a restart announces what is still
//! wrong once more, which is what an operator restarting Ferry wants to know.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_kit::http::{Call, HeaderName, HttpClient, HttpOptions, StaticAuth, Url};
use ferry_model::config::{AlertRules, AlertsConfig, ConfigIssue};
use ferry_store::{Reconciliation, Run, Store};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::run::Engine;
use crate::schedule::Schedule;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Too many records failed in the last run, or it stopped with an error.
    Failures,
    /// Open dead letters at or above the threshold.
    DeadLetters,
    /// Queued work waiting too long.
    Lag,
    /// A scheduled flow with no successful run for too long.
    Silent,
    /// The latest reconciliation found source and target disagreeing.
    Drift,
    /// Polls keep finding changes no webhook announced.
    MissedNotices,
}

impl Condition {
    const ALL: [Condition; 6] = [
        Condition::Failures,
        Condition::DeadLetters,
        Condition::Lag,
        Condition::Silent,
        Condition::Drift,
        Condition::MissedNotices,
    ];
}

/// Whether an alert starts, goes on, or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition is true (first announcement, or a reminder after `repeat`).
    Firing,
    /// The condition was true and no longer is.
    Resolved,
}

/// One announcement, as logged and as POSTed (JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The flow.
    pub flow: String,
    /// What it is about.
    pub condition: Condition,
    /// Firing or resolved.
    pub state: AlertState,
    /// For people: what is wrong (or that it is fixed) and where to look.
    pub message: String,
    /// When the condition was first seen true.
    pub since: DateTime<Utc>,
    /// When this announcement was made.
    pub at: DateTime<Utc>,
}

/// What the store says about one flow at one check.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowHealth {
    /// The flow.
    pub flow: String,
    /// Its last run, finished or not.
    pub last_run: Option<Run>,
    /// Open dead letters.
    pub dead_letters: u64,
    /// When the oldest queued item was first enqueued.
    pub oldest_queued: Option<DateTime<Utc>>,
    /// How often a run is due (`None`: manual flows, never due).
    pub period: Option<Duration>,
    /// Its latest reconciliation, finished or not (without the report).
    pub last_reconciliation: Option<Reconciliation>,
    /// Its recent runs, newest first (for the missed-notices condition).
    pub recent_runs: Vec<Run>,
}

#[derive(Debug, Clone)]
struct Firing {
    since: DateTime<Utc>,
    announced: DateTime<Utc>,
}

/// The alert state of every flow between checks.
#[derive(Debug)]
pub struct Watch {
    config: AlertsConfig,
    started: DateTime<Utc>,
    firing: HashMap<(String, Condition), Firing>,
    /// When each flow's last successful run finished, as far as this process knows.
    last_success: HashMap<String, DateTime<Utc>>,
}

impl Watch {
    /// A watch that starts at `started` (a scheduled flow that never ran successfully is
    /// silent from then on).
    pub fn new(config: AlertsConfig, started: DateTime<Utc>) -> Self {
        Self {
            config,
            started,
            firing: HashMap::new(),
            last_success: HashMap::new(),
        }
    }

    /// Compares the flows' health with the thresholds and returns what to announce.
    pub fn check(&mut self, now: DateTime<Utc>, flows: &[FlowHealth]) -> Vec<Alert> {
        let repeat =
            chrono::Duration::from_std(self.config.repeat.0).unwrap_or(chrono::Duration::MAX);
        let mut out = Vec::new();
        for health in flows {
            if let Some(run) = &health.last_run
                && run.error.is_none()
                && let Some(done) = run.finished_at
            {
                self.last_success.insert(health.flow.clone(), done);
            }
            let rules = self.config.rules_for(&health.flow);
            for condition in Condition::ALL {
                let slot = (health.flow.clone(), condition);
                let verdict = match self.evaluate(now, health, &rules, condition) {
                    Verdict::Unknown => continue,
                    Verdict::Fine => None,
                    Verdict::Wrong(message) => Some(message),
                };
                match (verdict, self.firing.get_mut(&slot)) {
                    (Some(message), None) => {
                        self.firing.insert(
                            slot,
                            Firing {
                                since: now,
                                announced: now,
                            },
                        );
                        out.push(alert(
                            health,
                            condition,
                            AlertState::Firing,
                            message,
                            now,
                            now,
                        ));
                    }
                    (Some(message), Some(f)) if now - f.announced >= repeat => {
                        f.announced = now;
                        let message = format!("still: {message}");
                        out.push(alert(
                            health,
                            condition,
                            AlertState::Firing,
                            message,
                            f.since,
                            now,
                        ));
                    }
                    (Some(_), Some(_)) => {}
                    (None, Some(_)) => {
                        let f = self.firing.remove(&slot).expect("present");
                        let message = format!("recovered: {}", recovery(condition));
                        out.push(alert(
                            health,
                            condition,
                            AlertState::Resolved,
                            message,
                            f.since,
                            now,
                        ));
                    }
                    (None, None) => {}
                }
            }
        }
        out
    }

    fn evaluate(
        &self,
        now: DateTime<Utc>,
        health: &FlowHealth,
        rules: &AlertRules,
        condition: Condition,
    ) -> Verdict {
        match condition {
            Condition::Failures => {
                // A run in progress says nothing yet: keep what the last finished run said.
                let Some(run) = health.last_run.as_ref().filter(|r| r.finished_at.is_some()) else {
                    return if health.last_run.is_some() {
                        Verdict::Unknown
                    } else {
                        Verdict::Fine
                    };
                };
                if let Some(error) = &run.error {
                    return Verdict::Wrong(format!("the last run (#{}) stopped: {error}", run.id));
                }
                let threshold = rules.error_rate.unwrap_or(0.05);
                let (failed, read) = (run.stats.failed, run.stats.read);
                let share = if read == 0 {
                    0.0
                } else {
                    failed as f64 / read as f64
                };
                if failed > 0 && share > threshold {
                    Verdict::Wrong(format!(
                        "{failed} of {read} records failed in the last run (#{}): {:.1} %, \
                         above {:.1} %; see `ferry dlq list --flow {}`",
                        run.id,
                        share * 100.0,
                        threshold * 100.0,
                        health.flow
                    ))
                } else {
                    Verdict::Fine
                }
            }
            Condition::DeadLetters => {
                let threshold = rules.dead_letters.unwrap_or(1).max(1);
                if health.dead_letters >= threshold {
                    Verdict::Wrong(format!(
                        "{} open dead letter(s); see `ferry dlq list --flow {}`",
                        health.dead_letters, health.flow
                    ))
                } else {
                    Verdict::Fine
                }
            }
            Condition::Lag => {
                let limit = rules.lag.map_or(Duration::from_secs(15 * 60), |d| d.0);
                match health.oldest_queued {
                    Some(oldest) if age(now, oldest) > limit => Verdict::Wrong(format!(
                        "the oldest queued record has waited {} (limit {})",
                        human(age(now, oldest)),
                        human(limit)
                    )),
                    _ => Verdict::Fine,
                }
            }
            Condition::Drift => drift(health.last_reconciliation.as_ref()),
            Condition::MissedNotices => {
                missed_notices(&health.recent_runs, rules.missed_notices.unwrap_or(3))
            }
            Condition::Silent => {
                let Some(period) = health.period else {
                    return Verdict::Fine;
                };
                let limit = rules
                    .silent_after
                    .map_or_else(|| (period * 3).max(Duration::from_secs(5 * 60)), |d| d.0);
                let since = self
                    .last_success
                    .get(&health.flow)
                    .copied()
                    .unwrap_or(self.started);
                if age(now, since) > limit {
                    let last = match self.last_success.get(&health.flow) {
                        Some(t) => format!("the last one finished {}", t.format("%F %T UTC")),
                        None => "none since Ferry started".to_owned(),
                    };
                    Verdict::Wrong(format!(
                        "no successful run for {} although one is due every {} ({last})",
                        human(age(now, since)),
                        human(period)
                    ))
                } else {
                    Verdict::Fine
                }
            }
        }
    }
}

/// The missed-notices condition: the latest `polls` finished scheduled runs (newest first in
/// `runs`) all wrote records, no webhook-triggered run started since the earliest of them,
/// and one did before (the flow is fed by notices at all).
fn missed_notices(runs: &[Run], polls: u32) -> Verdict {
    let scheduled = |r: &&Run| matches!(r.trigger.as_str(), "poll" | "cron");
    let notified = |r: &&Run| r.trigger == "webhook";
    let recent: Vec<&Run> = runs
        .iter()
        .filter(scheduled)
        .filter(|r| r.finished_at.is_some())
        .take(polls.max(1) as usize)
        .collect();
    let Some(earliest) = recent.last() else {
        return Verdict::Fine;
    };
    let all_wrote = recent.len() == polls.max(1) as usize
        && recent.iter().all(|r| r.stats.created + r.stats.updated > 0);
    let notice_since = runs
        .iter()
        .filter(notified)
        .any(|r| r.started_at >= earliest.started_at);
    let ever_notified = runs.iter().any(|r| notified(&r));
    if all_wrote && ever_notified && !notice_since {
        let written: u64 = recent
            .iter()
            .map(|r| r.stats.created + r.stats.updated)
            .sum();
        Verdict::Wrong(format!(
            "the last {} polls wrote {written} change(s) that no webhook announced, and no              notice has arrived since {}: the sender has likely stopped pushing (Jiandaoyun              disables a data push after repeated failed deliveries: re-enable it under 数据推送);              polling alone is carrying the flow",
            recent.len(),
            earliest.started_at.format("%F %T UTC")
        ))
    } else {
        Verdict::Fine
    }
}

/// The drift condition: what the latest reconciliation says.
fn drift(latest: Option<&Reconciliation>) -> Verdict {
    let Some(r) = latest else {
        return Verdict::Fine;
    };
    match (r.finished_at, r.clean, r.counts) {
        (Some(_), Some(false), Some(c)) => Verdict::Wrong(format!(
            "reconciliation #{} ({}, {}) found drift: {} differing, {} missing in the target, \
             {} missing in the source, {} duplicate key(s), {} unmapped{}; see \
             /console/reconciliations/{}",
            r.id,
            r.trigger,
            r.started_at.format("%F %T UTC"),
            c.differing,
            c.missing_in_target,
            c.missing_in_source,
            c.duplicate_keys_source + c.duplicate_keys_target,
            c.unmapped,
            match c.dead_lettered {
                0 => String::new(),
                n => format!(" ({n} known failure(s) waiting in the dead-letter ledger apart)"),
            },
            r.id
        )),
        // Known failures only (records with a live dead letter) are not drift: the
        // `dead_letters` condition already tells of them.
        (Some(_), Some(true), _) => Verdict::Fine,
        // Running, or failed: nothing learnt about drift.
        _ => Verdict::Unknown,
    }
}

enum Verdict {
    Fine,
    Wrong(String),
    /// Nothing to conclude now (a run in progress): leave the alert as it is.
    Unknown,
}

fn alert(
    health: &FlowHealth,
    condition: Condition,
    state: AlertState,
    message: String,
    since: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Alert {
    Alert {
        flow: health.flow.clone(),
        condition,
        state,
        message: format!("flow `{}`: {message}", health.flow),
        since,
        at,
    }
}

fn recovery(condition: Condition) -> &'static str {
    match condition {
        Condition::Failures => "the last run is back under the failure threshold",
        Condition::DeadLetters => "dead letters are back under the threshold",
        Condition::Lag => "the queue has caught up",
        Condition::Silent => "a run succeeded again",
        Condition::Drift => "the latest reconciliation found source and target in agreement",
        Condition::MissedNotices => "webhook notices are arriving again",
    }
}

fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or_default()
}

fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Where announcements go besides the log.
#[derive(Debug, Clone)]
pub struct Sender {
    client: Option<(HttpClient, String)>,
}

impl Sender {
    /// Builds the POST client from the section (no I/O). Header values are secrets: the
    /// shared HTTP client scrubs them from every message.
    pub fn new(config: &AlertsConfig) -> Result<Self, Vec<ConfigIssue>> {
        let Some(url) = &config.url else {
            return Ok(Self { client: None });
        };
        let issue = |path: &[&str], message: String| {
            ConfigIssue::at(path.iter().map(|s| (*s).to_owned()).collect(), message)
        };
        let base = Url::parse(url)
            .map_err(|e| vec![issue(&["alerts", "url"], format!("not a URL: {e}"))])?;
        let mut auth = StaticAuth::default();
        for (name, value) in &config.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                vec![issue(
                    &["alerts", "headers", name],
                    "not a header name".into(),
                )]
            })?;
            auth = auth
                .with_header(header, value, value)
                .map_err(|e| vec![issue(&["alerts", "headers", name], e.message().to_owned())])?;
        }
        let mut options = HttpOptions::new(base);
        options.retries = 2;
        options.timeout = Duration::from_secs(10);
        let client = HttpClient::new("alerts", options, Arc::new(auth))
            .map_err(|e| vec![issue(&["alerts", "url"], e.message().to_owned())])?;
        Ok(Self {
            client: Some((client, url.clone())),
        })
    }

    /// Logs the alert and POSTs it. A failed POST is logged, never fatal: the next
    /// announcement tries again.
    pub async fn send(&self, alert: &Alert) {
        match alert.state {
            AlertState::Firing => tracing::warn!(
                flow = %alert.flow, condition = ?alert.condition, "ALERT {}", alert.message
            ),
            AlertState::Resolved => tracing::info!(
                flow = %alert.flow, condition = ?alert.condition, "ALERT {}", alert.message
            ),
        }
        if let Some((client, url)) = &self.client
            && let Err(e) = client.send(Call::post(url.clone()).json(alert)).await
        {
            tracing::warn!(flow = %alert.flow, "could not deliver the alert: {e}");
        }
    }
}

/// Reads what the store knows of every enabled flow.
pub async fn health(engine: &Engine) -> Result<Vec<FlowHealth>, ferry_store::StoreError> {
    let store: &dyn Store = engine.store().as_ref();
    let states = store.flow_states().await?;
    let mut out = Vec::new();
    for flow in engine.flows().filter(|f| !f.config.disabled) {
        let state = states.iter().find(|s| s.flow == flow.name);
        out.push(FlowHealth {
            flow: flow.name.clone(),
            last_run: state.and_then(|s| s.last_run.clone()),
            dead_letters: state.map_or(0, |s| s.dead_letters),
            oldest_queued: store.queue_oldest(&flow.name).await?,
            period: period(&flow.schedule),
            last_reconciliation: store
                .reconciliations(Some(&flow.name), 1)
                .await?
                .into_iter()
                .next(),
            recent_runs: store.runs(Some(&flow.name), 30).await?,
        });
    }
    Ok(out)
}

/// How often a run is due: the poll interval, or the gap between the next two cron times.
fn period(schedule: &Schedule) -> Option<Duration> {
    match schedule {
        Schedule::Manual => None,
        Schedule::Every(d) => Some(*d),
        Schedule::Cron(cron) => {
            let next = cron.next_after(Utc::now())?;
            let after = cron.next_after(next)?;
            (after - next).to_std().ok()
        }
    }
}

/// Checks every `config.every` until `cancel`, announcing through `sender`.
pub async fn watch(
    engine: Arc<Engine>,
    config: AlertsConfig,
    sender: Sender,
    cancel: CancellationToken,
) {
    let every = config.every.0;
    let mut watch = Watch::new(config, Utc::now());
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match health(&engine).await {
            Ok(flows) => {
                for alert in watch.check(Utc::now(), &flows) {
                    sender.send(&alert).await;
                }
            }
            Err(e) => tracing::warn!("alerts: cannot read the state store: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;
