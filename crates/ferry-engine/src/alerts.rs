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
//! A condition that becomes true is announced (log at WARN, a JSON POST to `alerts.url`
//! when set, and one message per check to each of `alerts.channels`: WeCom, DingTalk,
//! Feishu/Lark, Slack, Teams, e-mail, see [`channels`]); while it stays true it is announced
//! again at most every `alerts.repeat`, so a broken flow does not flood anyone; when it
//! becomes false a recovery is announced. The decision is a pure function of what the store
//! says ([`Watch::check`]), so it is tested without clocks or servers. State lives in the
//! process: a restart announces what is still wrong once more, which is what an operator
//! restarting Ferry wants to know.

pub mod channels;
pub mod facts;
mod sender;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_model::config::{AlertRules, AlertsConfig, Language};
use ferry_store::{Reconciliation, Run, Store};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use facts::Facts;
pub use sender::{Sender, Surroundings};

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
    /// The figures behind `message` while firing (channels word them in their language);
    /// not part of the JSON POST, whose shape stays as documented.
    #[serde(skip)]
    pub facts: Option<Facts>,
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
                    Verdict::Wrong(facts) => Some(facts),
                };
                let flow = &health.flow;
                match (verdict, self.firing.get_mut(&slot)) {
                    (Some(facts), None) => {
                        self.firing.insert(
                            slot,
                            Firing {
                                since: now,
                                announced: now,
                            },
                        );
                        out.push(firing(flow, condition, facts, "", now, now));
                    }
                    (Some(facts), Some(f)) if now - f.announced >= repeat => {
                        f.announced = now;
                        out.push(firing(flow, condition, facts, "still: ", f.since, now));
                    }
                    (Some(_), Some(_)) => {}
                    (None, Some(_)) => {
                        let f = self.firing.remove(&slot).expect("present");
                        out.push(resolved(flow, condition, f.since, now));
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
                    return Verdict::Wrong(Facts::RunStopped {
                        run: run.id,
                        error: error.clone(),
                    });
                }
                let threshold = rules.error_rate.unwrap_or(0.05);
                let (failed, read) = (run.stats.failed, run.stats.read);
                let share = if read == 0 {
                    0.0
                } else {
                    failed as f64 / read as f64
                };
                if failed > 0 && share > threshold {
                    Verdict::Wrong(Facts::FailedShare {
                        run: run.id,
                        failed,
                        read,
                        threshold,
                    })
                } else {
                    Verdict::Fine
                }
            }
            Condition::DeadLetters => {
                let threshold = rules.dead_letters.unwrap_or(1).max(1);
                if health.dead_letters >= threshold {
                    Verdict::Wrong(Facts::DeadLetters {
                        open: health.dead_letters,
                    })
                } else {
                    Verdict::Fine
                }
            }
            Condition::Lag => {
                let limit = rules.lag.map_or(Duration::from_secs(15 * 60), |d| d.0);
                match health.oldest_queued {
                    Some(oldest) if age(now, oldest) > limit => Verdict::Wrong(Facts::Lag {
                        waited: age(now, oldest),
                        limit,
                    }),
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
                    Verdict::Wrong(Facts::Silent {
                        quiet: age(now, since),
                        period,
                        last_success: self.last_success.get(&health.flow).copied(),
                    })
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
        Verdict::Wrong(Facts::MissedNotices {
            polls: recent.len(),
            written: recent
                .iter()
                .map(|r| r.stats.created + r.stats.updated)
                .sum(),
            since: earliest.started_at,
        })
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
        (Some(_), Some(false), Some(counts)) => Verdict::Wrong(Facts::Drift {
            id: r.id,
            trigger: r.trigger.clone(),
            started: r.started_at,
            counts,
        }),
        // Known failures only (records with a live dead letter) are not drift: the
        // `dead_letters` condition already tells of them.
        (Some(_), Some(true), _) => Verdict::Fine,
        // Running, or failed: nothing learnt about drift.
        _ => Verdict::Unknown,
    }
}

enum Verdict {
    Fine,
    Wrong(Facts),
    /// Nothing to conclude now (a run in progress): leave the alert as it is.
    Unknown,
}

/// A firing announcement; `prefix` marks a reminder (`still: `).
fn firing(
    flow: &str,
    condition: Condition,
    facts: Facts,
    prefix: &str,
    since: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Alert {
    Alert {
        flow: flow.to_owned(),
        condition,
        state: AlertState::Firing,
        message: format!("flow `{flow}`: {prefix}{}", facts.english(flow)),
        since,
        at,
        facts: Some(facts),
    }
}

fn resolved(flow: &str, condition: Condition, since: DateTime<Utc>, at: DateTime<Utc>) -> Alert {
    Alert {
        flow: flow.to_owned(),
        condition,
        state: AlertState::Resolved,
        message: format!(
            "flow `{flow}`: recovered: {}",
            facts::recovery(condition, Language::En)
        ),
        since,
        at,
        facts: None,
    }
}

fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or_default()
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
    let channels: Vec<&str> = sender.channels().iter().map(|c| c.name()).collect();
    // Says where alerts will go, so an operator sees a channel missing before it matters.
    tracing::info!(
        every = %humantime::format_duration(every),
        channels = %channels.join(", "),
        json_post = config.url.is_some(),
        "Watching the flows for alerts."
    );
    let mut watch = Watch::new(config, Utc::now());
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match health(&engine).await {
            Ok(flows) => sender.announce(&watch.check(Utc::now(), &flows)).await,
            Err(e) => tracing::warn!("alerts: cannot read the state store: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;
