//! Retention: `ferry run` deletes the history past `store.retention` (runs, ledger entries,
//! closed dead letters, the audit log, tracked sync requests) when it starts and every
//! `every` after, in batches of [`BATCH`] rows, one short store transaction each, so that
//! pruning never keeps a flow's commits waiting for long.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_model::config::Retention;
use ferry_store::{Retained, StoreError};
use tokio_util::sync::CancellationToken;

use crate::run::Engine;

/// Rows looked at per store call.
const BATCH: u32 = 500;

impl Engine {
    /// Prunes now and then every `store.retention.every` until `cancel`.
    pub(crate) async fn prune_forever(&self, cancel: &CancellationToken) {
        loop {
            match self.prune(Utc::now(), cancel).await {
                Ok(deleted) if deleted.values().any(|n| *n > 0) => {
                    tracing::info!(?deleted, "Retention: deleted history past its time.");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "Retention: pruning stopped; it tries again later.")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.retention.every.0) => {}
                () = cancel.cancelled() => return,
            }
        }
    }

    /// Deletes what `store.retention` no longer keeps at `now` (see [`Retained`] for what is
    /// kept whatever its age); returns the rows deleted per table. Stops between two batches
    /// when `cancel` fires.
    pub async fn prune(
        &self,
        now: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> Result<BTreeMap<&'static str, u64>, StoreError> {
        let mut deleted = BTreeMap::new();
        for table in Retained::ALL {
            let Some(before) = cutoff(&self.retention, table, now) else {
                continue;
            };
            let mut after = 0;
            let count = deleted.entry(table.as_str()).or_insert(0);
            while !cancel.is_cancelled() {
                let batch = self.store.prune(table, before, after, BATCH).await?;
                *count += batch.deleted;
                match batch.next {
                    Some(next) => after = next,
                    None => break,
                }
                // Between batches, whatever else waits for the store goes first.
                tokio::task::yield_now().await;
            }
        }
        Ok(deleted)
    }
}

/// The time before which `table`'s history goes (`None`: kept for ever).
fn cutoff(retention: &Retention, table: Retained, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let keep = match table {
        Retained::Runs => retention.runs,
        Retained::Ledger => retention.ledger,
        Retained::DeadLetters => retention.dead_letters,
        Retained::Audit => retention.audit,
        Retained::SyncRequests => retention.sync_requests,
    };
    let period = chrono::Duration::from_std(keep.period()?).ok()?;
    now.checked_sub_signed(period)
}
