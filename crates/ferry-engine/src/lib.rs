//! # ferry-engine
//!
//! Runs flows: reads changed records from a source, maps and validates them, skips what has
//! not changed, upserts the rest by business key, and records every outcome — in that order,
//! with the batch's cursor, xref, ledger and dead letters committed in one store transaction.
//!
//! Two paths share one pipeline ([`pipeline`]):
//! - **scans** ([`Engine::sync`]): poll and cron triggers and `ferry sync` read pages after the
//!   flow's cursor. A page's cursor is stored only with the page's results, so a crash re-reads
//!   the page and the upsert-by-key makes that harmless.
//! - **the queue** ([`Engine::drain_queue`]): single records asked for by id (`ferry sync
//!   --id`, dead-letter replays, per-record retries). Items are leased one per source id at a
//!   time (per-key order) and acknowledged in the same transaction as their results.
//!
//! Failures are sorted by [`ferry_model::ErrorKind`] only: transient ones are retried with
//! exponential backoff and jitter (a whole batch while a system is down, or one queued record
//! later); permanent ones go to dead letters at once with the record's payload and an error
//! naming flow, record, field and reason.

pub mod alerts;
mod assemble;
mod error;
mod live_check;
mod ownership;
mod pipeline;
pub mod reconcile;
mod retention;
mod retry;
mod run;
mod schedule;
mod states;
pub mod telemetry;

pub use assemble::{Assembly, Flow, assemble};
pub use error::EngineError;
pub use ferry_mapping::MappingError;
pub use live_check::live_check;
pub use ownership::Pick;
pub use run::{Engine, NoProgress, Progress, RunReport, SyncOptions};
pub use schedule::{CronSchedule, Schedule};
