//! # ferry-conformance
//!
//! The suite every connector passes: one generic harness, run against each connector with a
//! real system where one runs here (SQLite, PostgreSQL, MariaDB, a folder, Tryton, BottleCRM)
//! and a wire-level double elsewhere. Where Airbyte's acceptance tests stop at reading, this
//! suite also writes.
//!
//! A connector joins the suite with a [`Fixture`] (how to reach its system, and how to change
//! records there *directly*, as the system's users would, never through the connector under
//! test) and one line in its tests:
//!
//! ```ignore
//! ferry_conformance::suite!(sqlite, crate::conformance::Sql::sqlite().await);
//! ```
//!
//! which makes one `#[tokio::test]` per check, named after it (`sqlite::full_read`), so a
//! failure says which promise broke. A fixture may return `None` from its constructor when
//! its server is absent (print `SKIPPED:` and fail under `CI=true`, as every server test
//! does); the checks then pass without running.
//!
//! ## The checks ([`Check`])
//!
//! | check | what it proves |
//! |---|---|
//! | `spec` | the settings' JSON Schemas are objects; a misspelt setting is refused at its key |
//! | `connection` | the probe passes; refused credentials are an `auth` error without the secret |
//! | `discover` | the fixture's object is listed with its fields |
//! | `full_read` | a read from no cursor, in small pages, returns every record exactly once, ties on the watermark included |
//! | `resume` | a read stopped after any page and resumed from its stored cursor (a new source, as after a restart) loses nothing and repeats nothing |
//! | `incremental` | after changes (updates and inserts in the same second), a read from the last cursor returns each changed record, with its new value |
//! | `upsert` | a batch creates its records; the same batch again updates them in place (the same target ids, no second record) |
//! | `refusal` | a record the system refuses comes back with the system's own message while the rest of its batch is written |
//! | `delete` | where declared: a deleted record is gone (fetch says deleted, scan no longer lists it) |
//! | `scan` | where declared: the target reads back every written record by key, in canonical names |
//! | `transient` | where the system is reached over HTTP: 503 bursts, 429 with `Retry-After`, dropped connections are retried and the call continues |
//! | `session` | where the system has sessions or tokens: an expired one is renewed once and the call continues |
//! | `secrets` | no error seen in the whole run contains a secret of the fixture |
//!
//! A check that does not apply (a capability the factory does not declare, no HTTP) passes
//! with a note on stderr, so `cargo test` output shows what was left out.

mod checks;
mod fixture;
mod plan;

pub use checks::{Check, run};
pub use fixture::{Faults, Fixture, Seeded, fresh_namespace};
pub use plan::PlanFaults;

use ferry_kit::Source;
use ferry_model::Record;

/// Reads `source` from `cursor` in pages of `limit` until it says it is caught up: the
/// records and the last cursor. Panics on an error, or after 1,000 pages (a read that never
/// ends). For connectors' own tests, which read to the end as often as the suite does.
pub async fn read_all(
    source: &dyn Source,
    mut cursor: Option<String>,
    limit: usize,
) -> (Vec<Record>, String) {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = source
            .read(cursor.as_deref(), limit)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        out.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            return (out, cursor.unwrap_or_default());
        }
    }
    panic!("the source still had more after 1,000 pages of {limit}");
}

/// One `#[tokio::test]` per [`Check`] for a fixture: `suite!(name, constructor)`, where the
/// constructor is an expression (it may `.await`) of type `Option<impl Fixture>`.
#[macro_export]
macro_rules! suite {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::suite!(@checks $fixture;
                spec connection discover full_read resume incremental upsert refusal delete
                scan transient session secrets);
        }
    };
    (@checks $fixture:expr; $($check:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                if let Some(fixture) = $fixture {
                    $crate::run(&fixture, $crate::Check::$check).await;
                }
            }
        )*
    };
}
