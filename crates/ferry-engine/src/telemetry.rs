//! Metrics the engine reports through the `metrics` facade. Without an installed recorder (the
//! CLI's one-shot commands) they cost a relaxed atomic load each; `ferry run` installs the
//! Prometheus recorder of `ferry-server`, which serves them at `/metrics`.

use chrono::{DateTime, Utc};
use ferry_store::RunStats;

/// Records processed, by flow and outcome (`created`, `updated`, `unchanged`, `failed`,
/// `deleted`).
pub const RECORDS_TOTAL: &str = "ferry_records_total";
/// Seconds from a queued request (API, webhook, replay, retry) becoming due to its result
/// being committed.
pub const SYNC_LATENCY: &str = "ferry_sync_latency_seconds";

/// Counts one committed batch.
pub(crate) fn batch_committed(flow: &str, stats: &RunStats) {
    for (outcome, n) in [
        ("created", stats.created),
        ("updated", stats.updated),
        ("unchanged", stats.unchanged),
        ("failed", stats.failed),
        ("deleted", stats.deleted),
    ] {
        if n > 0 {
            metrics::counter!(RECORDS_TOTAL, "flow" => flow.to_owned(), "outcome" => outcome)
                .increment(n);
        }
    }
}

/// Observes the latency of one finished queue item.
pub(crate) fn queue_item_done(flow: &str, due_since: DateTime<Utc>) {
    let seconds = (Utc::now() - due_since).num_milliseconds().max(0) as f64 / 1000.0;
    metrics::histogram!(SYNC_LATENCY, "flow" => flow.to_owned()).record(seconds);
}
