//! The audit log: every operator action (sync trigger, replay, edit, skip, conflict resolved,
//! reconcile repair, key created or revoked) and every failed console login, with who (key
//! id, name, role), what, on what, when, from where and how it ended. Read it with
//! `GET /api/v1/audit` (admins) or on `/console/audit`.
//!
//! The API, the console and the CLI write the same [`action`] names and [`target`] texts for
//! the same action, so an auditor reads one vocabulary. The CLI works on the store directly:
//! its entries have no key, and the source `cli (user NAME)` with the operating-system user
//! the environment names ([`Actor::cli`]).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_store::{NewAuditEntry, Store};
use governor::{DefaultDirectRateLimiter, Quota};

/// Who acted.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The API key, when the action came through the API.
    pub key_id: Option<i64>,
    /// Its name.
    pub key_name: Option<String>,
    /// Its role.
    pub role: Option<String>,
    /// The client address, or `cli (user NAME)`.
    pub source: Option<String>,
}

impl Actor {
    /// The command line, working on the store directly (the first admin key is made so):
    /// source `cli (user alice)`, the user as `$USER` (else `$LOGNAME`, `$USERNAME`) names
    /// it, or plain `cli` when none does. The name is what the environment says, not a
    /// proof: whoever runs the CLI can read and write the store anyway.
    pub fn cli() -> Self {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .into_iter()
            .filter_map(|var| std::env::var(var).ok())
            .find(|name| !name.trim().is_empty());
        Self {
            source: Some(match user {
                Some(name) => format!("cli (user {})", name.trim()),
                None => "cli".into(),
            }),
            ..Self::default()
        }
    }

    /// A client that is not logged in (a failed console login): only its address.
    pub fn anonymous(addr: Option<std::net::IpAddr>) -> Self {
        Self {
            source: addr.map(|a| a.to_string()),
            ..Self::default()
        }
    }
}

/// The action names.
pub mod action {
    /// Records queued for sync (`POST /sync`, `ferry sync FLOW --id`).
    pub const SYNC: &str = "sync";
    /// A dead letter sent back through its flow.
    pub const DEAD_LETTER_REPLAY: &str = "dead_letter.replay";
    /// A dead letter replayed with an edited payload (API and console).
    pub const DEAD_LETTER_EDIT: &str = "dead_letter.edit";
    /// A dead letter dropped for good.
    pub const DEAD_LETTER_SKIP: &str = "dead_letter.skip";
    /// A conflict of a two-way pair resolved.
    pub const CONFLICT_RESOLVE: &str = "conflict.resolve";
    /// An API key created.
    pub const KEY_CREATE: &str = "key.create";
    /// An API key revoked.
    pub const KEY_REVOKE: &str = "key.revoke";
    /// A console login refused (the key attempted is never recorded).
    pub const CONSOLE_LOGIN: &str = "console.login";

    /// A reconciliation with a repair (`None`: a report only, not audited).
    pub fn reconcile(repair: bool, repair_deletes: bool) -> Option<&'static str> {
        match (repair, repair_deletes) {
            (true, true) => Some("reconcile.repair+deletes"),
            (true, false) => Some("reconcile.repair"),
            (false, true) => Some("reconcile.repair_deletes"),
            (false, false) => None,
        }
    }
}

/// The target texts.
pub mod target {
    /// `dead letter 12`.
    pub fn dead_letter(id: i64) -> String {
        format!("dead letter {id}")
    }

    /// `flow customers id 42, flow customers id 43`.
    pub fn sync<'a>(records: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
        records
            .into_iter()
            .map(|(flow, id)| format!("flow {flow} id {id}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `conflict 3: target picked`.
    pub fn conflict(id: i64, pick: &str) -> String {
        format!("conflict {id}: {pick} picked")
    }

    /// `flow customers: reconciliation 12`, or `flow customers` when none was started.
    pub fn reconciliation(flow: &str, id: Option<i64>) -> String {
        match id {
            Some(id) => format!("flow {flow}: reconciliation {id}"),
            None => format!("flow {flow}"),
        }
    }
}

/// Appends one entry: `ok`, or the error's message. An audit write that fails is logged as
/// an error; the action itself has already happened and is not undone.
pub async fn record<T, E: std::fmt::Display>(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    target: &str,
    result: &Result<T, E>,
) {
    let outcome = match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    write(store, actor, action, target, outcome).await;
}

async fn write(store: &dyn Store, actor: &Actor, action: &str, target: &str, outcome: String) {
    let entry = NewAuditEntry {
        key_id: actor.key_id,
        key_name: actor.key_name.clone(),
        role: actor.role.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        source: actor.source.clone(),
        outcome,
    };
    if let Err(e) = store.record_audit(&entry).await {
        tracing::error!(error = ?e.to_string(), action = ?action, target = ?target, "Could not write the audit log.");
    }
}

/// Entries about clients that are not logged in (failed console logins) are bounded, so
/// that guessing keys cannot fill the audit log: at most [`Throttle::BURST`] at once, then one
/// per [`Throttle::PERIOD`], for the whole server. Attempts left out are counted, and the
/// next entry written says how many.
#[derive(Debug)]
pub struct Throttle {
    limiter: DefaultDirectRateLimiter,
    left_out: AtomicU64,
}

impl Throttle {
    /// Entries written at once before the rate applies.
    pub const BURST: u32 = 20;
    /// Then one entry per this long.
    pub const PERIOD: Duration = Duration::from_secs(10);

    /// At most `burst` entries at once, then one per `period`.
    pub fn new(burst: u32, period: Duration) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            limiter: DefaultDirectRateLimiter::direct(quota),
            left_out: AtomicU64::new(0),
        }
    }

    /// Writes the entry (outcome `refused: …`) unless over the bound; then only counts it.
    pub async fn refused(
        &self,
        store: &dyn Store,
        actor: &Actor,
        action: &str,
        target: &str,
        reason: &str,
    ) {
        if let Some(left_out) = self.admit() {
            write(store, actor, action, target, refusal(reason, left_out)).await;
        }
    }

    /// Counts an attempt refused before it could be judged (over its address's rate limit):
    /// the next entry written includes it.
    pub fn count(&self) {
        self.left_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether an entry may be written now, with how many were left out before it; if not,
    /// the attempt is counted.
    fn admit(&self) -> Option<u64> {
        if self.limiter.check().is_err() {
            self.count();
            return None;
        }
        Some(self.left_out.swap(0, Ordering::Relaxed))
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(Self::BURST, Self::PERIOD)
    }
}

/// The outcome of a refusal written after `left_out` others were not.
fn refusal(reason: &str, left_out: u64) -> String {
    match left_out {
        0 => format!("refused: {reason}"),
        n => format!("refused: {reason} ({n} more refused before it, not recorded)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_past_the_bound_are_counted_not_written() {
        let throttle = Throttle::new(2, Duration::from_secs(3600));
        assert_eq!(throttle.admit(), Some(0));
        assert_eq!(throttle.admit(), Some(0));
        for _ in 0..5 {
            assert_eq!(throttle.admit(), None);
        }
        throttle.count();
        assert_eq!(throttle.left_out.load(Ordering::Relaxed), 6);
        assert_eq!(refusal("bad key", 0), "refused: bad key");
        assert_eq!(
            refusal("bad key", 6),
            "refused: bad key (6 more refused before it, not recorded)"
        );
    }

    #[test]
    fn targets_read_the_same_everywhere() {
        assert_eq!(target::dead_letter(4), "dead letter 4");
        assert_eq!(
            target::sync([("customers", "1"), ("customers", "2")]),
            "flow customers id 1, flow customers id 2"
        );
        assert_eq!(target::conflict(3, "source"), "conflict 3: source picked");
        assert_eq!(
            target::reconciliation("customers", Some(9)),
            "flow customers: reconciliation 9"
        );
        assert_eq!(action::reconcile(true, false), Some("reconcile.repair"));
        assert_eq!(action::reconcile(false, false), None);
    }
}
