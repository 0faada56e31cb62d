//! One test suite, run against both backends: SQLite in a temporary file and PostgreSQL in a
//! fresh database per test (`FERRY_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/test`;
//! the `postgres` database of that server is used to create and drop `ferry_test_<pid>_<n>`).
//! When PostgreSQL is unreachable the PostgreSQL tests print `SKIPPED` and pass, unless
//! `CI=true`, where they fail.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_store::{
    Accepted, BaselineUpdate, Commit, ConflictFilter, ConflictResolution, ConflictState,
    DeadLetterFilter, DeadLetterState, DeliveryKey, LedgerEntry, NewApiKey, NewAuditEntry,
    NewConflict, NewDeadLetter, NewQueueItem, Outcome, ReconcileCounts, ReconciliationEnd,
    Retained, RunStats, SeenDelivery, SeenInPass, StateWritten, Store, StoreError, XrefUpdate,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};

// ---------------------------------------------------------------------------------------------
// Harness

enum Kind {
    Sqlite,
    Postgres,
}

struct TestDb {
    store: Arc<dyn Store>,
    url: String,
    kind: Kind,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl TestDb {
    /// Runs raw SQL on a separate connection (to break or inspect the schema).
    async fn exec(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    // A sub-directory that does not exist yet: open() must create it.
    let url = format!("sqlite://{}/state/ferry.db", dir.path().display());
    let store = ferry_store::open(&url).await.unwrap();
    TestDb {
        store,
        url,
        kind: Kind::Sqlite,
        _dir: Some(dir),
        _pg: None,
    }
}

/// A database created for one test and dropped afterwards (even when the test panics).
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
    match query {
        Some(q) => format!("{server}/{db}?{q}"),
        None => format!("{server}/{db}"),
    }
}

async fn pg_db() -> Option<TestDb> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::var("FERRY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let admin_url = replace_db(&base, "postgres");
    let conn = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::PgConnection::connect(&admin_url),
    )
    .await;
    let mut conn = match conn {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return pg_unreachable(&base, &e.to_string()),
        Err(_) => return pg_unreachable(&base, "timed out"),
    };
    let name = format!(
        "ferry_test_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let guard = PgDatabase {
        admin_url,
        name: name.clone(),
    };
    let url = replace_db(&base, &name);
    let store = ferry_store::open(&url).await.unwrap();
    Some(TestDb {
        store,
        url,
        kind: Kind::Postgres,
        _dir: None,
        _pg: Some(guard),
    })
}

fn pg_unreachable(url: &str, why: &str) -> Option<TestDb> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL not reachable at {url} (CI=true): {why}");
    }
    eprintln!("SKIPPED: PostgreSQL not reachable at {url}: {why}");
    None
}

/// Declares each test once per backend: `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::sqlite_db().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::pg_db().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

backend_tests!(
    migrate_twice,
    cursor_set_and_reset,
    commit_is_atomic,
    xref_upsert_replaces,
    document_states_are_kept_with_the_xref,
    snapshot_passes_find_unseen_records,
    ledger_order_and_lookup,
    a_scanned_batch_commits_cursor_xrefs_and_ledger_together,
    dead_letter_replay_resolves,
    dead_letter_skip,
    dead_letter_listing,
    lease_keeps_per_key_order,
    lease_expiry_and_release,
    retry_later_delays,
    queue_depth_counts,
    flow_states_and_runs,
    concurrent_workers_share_the_queue,
    commit_throughput_100k,
    runs_newest_first,
    request_sync_is_tracked,
    repeated_signature_joins_the_waiting_read_or_queues_again,
    concurrent_requests_each_commit_once,
    expired_signature_is_forgotten,
    delivery_id_is_queued_once,
    concurrent_redeliveries_queue_once,
    api_keys_create_find_revoke,
    audit_log_pages_newest_first,
    recent_ledger_pages_newest_first,
    request_latencies_time_delivery,
    baselines_commit_with_the_batch,
    conflicts_queue_and_resolve,
    reconciliations_keep_counts_and_reports,
    a_commit_under_an_overtaken_claim_records_nothing,
    a_claim_waits_for_a_commit_in_flight_or_fences_it,
    one_open_dead_letter_per_record,
    migration_folds_duplicate_dead_letters,
    idle_runs_share_one_row,
    prune_deletes_old_history_and_keeps_what_is_needed,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn xref(id: &str, key: &str, target: &str, hash: &str) -> XrefUpdate {
    XrefUpdate {
        source_id: id.into(),
        key: Some(key.into()),
        target_id: Some(target.into()),
        read_hash: Some(format!("r-{hash}")),
        written_hash: Some(hash.into()),
        source_version: Some("2026-01-01T00:00:00Z".into()),
        new: false,
    }
}

/// An xref update for a record the engine found no xref row for.
fn new_xref(id: &str, key: &str, target: &str, hash: &str) -> XrefUpdate {
    XrefUpdate {
        new: true,
        ..xref(id, key, target, hash)
    }
}

fn entry(flow: &str, id: &str, key: &str, outcome: Outcome) -> LedgerEntry {
    LedgerEntry {
        id: 0,
        flow: flow.into(),
        source_id: id.into(),
        key: Some(key.into()),
        run_id: None,
        at: Utc::now(),
        trigger: "poll".into(),
        outcome,
        attempt: 1,
        target_id: Some(format!("t-{id}")),
        before_hash: None,
        after_hash: Some("h".into()),
        source_version: None,
        error_kind: None,
        error: None,
    }
}

fn dead(id: &str) -> NewDeadLetter {
    NewDeadLetter {
        source_id: id.into(),
        key: Some(format!("K-{id}")),
        payload: json!({"id": id, "fields": {"name": "Ada", "amount": "12.50"}}),
        error_kind: "validation".into(),
        error: format!("flow f, record {id}: field email: missing"),
        attempts: 3,
    }
}

fn item(flow: &str, id: &str) -> NewQueueItem {
    NewQueueItem {
        flow: flow.into(),
        source_id: id.into(),
        trigger: "webhook".into(),
        payload: None,
        dead_letter_id: None,
    }
}

const LONG: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// Tests

async fn migrate_twice(db: &TestDb) {
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    // A second store on the same database migrates (no-op) and sees the same data.
    db.store
        .commit(
            "f",
            &Commit {
                cursor: Some("c".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let again = ferry_store::open(&db.url).await.unwrap();
    again.migrate().await.unwrap();
    assert_eq!(again.cursor("f").await.unwrap().as_deref(), Some("c"));
}

async fn cursor_set_and_reset(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.cursor("f").await.unwrap(), None);
    s.commit(
        "f",
        &Commit {
            cursor: Some("c1".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("c1"));
    // No cursor in the commit: unchanged.
    s.commit("f", &Commit::default()).await.unwrap();
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("c1"));
    s.commit(
        "f",
        &Commit {
            cursor: Some("c2".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("c2"));
    assert_eq!(s.cursor("other").await.unwrap(), None);
    s.reset_cursor("f").await.unwrap();
    assert_eq!(s.cursor("f").await.unwrap(), None);
    s.reset_cursor("never").await.unwrap();
}

async fn commit_is_atomic(db: &TestDb) {
    let s = &db.store;
    let queued = s.enqueue(&[item("f", "q1")]).await.unwrap();
    let replayable = {
        s.commit(
            "f",
            &Commit {
                dead_letters: vec![dead("old")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let dl = s.dead_letters(&DeadLetterFilter::default()).await.unwrap();
        dl[0].id
    };
    let qid = s
        .replay_dead_letter(replayable, "replay", None)
        .await
        .unwrap();

    let commit = Commit {
        cursor: Some("c9".into()),
        xrefs: vec![xref("a", "KA", "ta", "h1"), xref("b", "KB", "tb", "h2")],
        ledger: vec![entry("f", "a", "KA", Outcome::Created)],
        dead_letters: vec![dead("x")],
        acked: vec![queued[0], qid],
        delivered: vec!["old".into()],
        seen: Some(SeenInPass {
            pass: 5,
            ids: vec!["a".into(), "b".into()],
        }),
        gone: vec!["b".into()],
        states: vec![state("a", "confirmed")],
        ..Default::default()
    };
    // Break the dead-letter table the way a botched manual migration would: the statement
    // for this part of the commit fails after cursor, xref, ledger and resolution statements ran.
    db.exec("ALTER TABLE ferry_dead_letters RENAME TO ferry_dead_letters_moved")
        .await;
    let err = s.commit("f", &commit.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    db.exec("ALTER TABLE ferry_dead_letters_moved RENAME TO ferry_dead_letters")
        .await;

    assert_eq!(s.cursor("f").await.unwrap(), None, "cursor must not land");
    assert!(
        s.xrefs("f", &["a".into(), "b".into()])
            .await
            .unwrap()
            .is_empty(),
        "xrefs must not land"
    );
    assert!(
        s.ledger(None, "a").await.unwrap().is_empty(),
        "ledger must not land"
    );
    assert_eq!(
        s.queue_depth(Some("f")).await.unwrap(),
        2,
        "acks must not land"
    );
    let dl = s.dead_letter(replayable).await.unwrap().unwrap();
    assert_eq!(
        dl.state,
        DeadLetterState::Replayed,
        "resolution must not land"
    );
    let all = DeadLetterFilter {
        states: vec![
            DeadLetterState::Open,
            DeadLetterState::Replayed,
            DeadLetterState::Resolved,
        ],
        ..Default::default()
    };
    assert_eq!(s.dead_letters(&all).await.unwrap().len(), 1);

    // The same commit goes through once the table is back, and everything lands.
    s.commit("f", &commit).await.unwrap();
    assert_eq!(
        s.unseen("f", 6, 10).await.unwrap(),
        ["a"],
        "seen in pass 5 (b is gone)"
    );
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("c9"));
    let xrefs = s.xrefs("f", &["a".into(), "b".into()]).await.unwrap();
    assert_eq!(xrefs.len(), 2);
    assert_eq!(xrefs["a"].state.as_deref(), Some("confirmed"));
    assert_eq!(s.ledger(None, "a").await.unwrap().len(), 1);
    assert_eq!(s.queue_depth(Some("f")).await.unwrap(), 0);
    assert_eq!(
        s.dead_letter(replayable).await.unwrap().unwrap().state,
        DeadLetterState::Resolved
    );
    let open = s.dead_letters(&DeadLetterFilter::default()).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].source_id, "x");
}

async fn xref_upsert_replaces(db: &TestDb) {
    let s = &db.store;
    s.commit(
        "f",
        &Commit {
            xrefs: vec![xref("1", "K1", "t1", "h1"), xref("2", "K2", "t2", "h2")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let before = s.xrefs("f", &["1".into()]).await.unwrap()["1"].clone();
    assert_eq!(before.target_id.as_deref(), Some("t1"));
    assert_eq!(before.written_hash.as_deref(), Some("h1"));
    assert_eq!(before.read_hash.as_deref(), Some("r-h1"));
    assert_eq!(
        before.source_version.as_deref(),
        Some("2026-01-01T00:00:00Z")
    );

    // Replace, and a duplicate source id in one commit: the last one wins.
    let mut cleared = xref("1", "K1b", "t1b", "h3");
    cleared.read_hash = None;
    s.commit(
        "f",
        &Commit {
            xrefs: vec![xref("1", "K1x", "tx", "hx"), cleared],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let got = s
        .xrefs("f", &["1".into(), "2".into(), "missing".into()])
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    let one = &got["1"];
    assert_eq!(one.flow, "f");
    assert_eq!(one.key.as_deref(), Some("K1b"));
    assert_eq!(one.target_id.as_deref(), Some("t1b"));
    assert_eq!(one.written_hash.as_deref(), Some("h3"));
    assert_eq!(one.read_hash, None);
    assert!(one.updated_at >= before.updated_at);
    assert_eq!(got["2"].target_id.as_deref(), Some("t2"));

    // By key, within and across flows.
    s.commit(
        "g",
        &Commit {
            xrefs: vec![xref("99", "K1b", "g-t", "gh")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(s.xrefs_by_key(None, "K1").await.unwrap().is_empty());
    let by_key = s.xrefs_by_key(None, "K1b").await.unwrap();
    assert_eq!(
        by_key.iter().map(|x| x.flow.as_str()).collect::<Vec<_>>(),
        ["f", "g"]
    );
    let by_key = s.xrefs_by_key(Some("g"), "K1b").await.unwrap();
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0].source_id, "99");
    assert!(s.xrefs("g", &["1".into()]).await.unwrap().is_empty());
    assert!(s.xrefs("f", &[]).await.unwrap().is_empty());

    // Many keys of one flow at once (what dependencies between flows look up).
    let by_keys = s
        .xrefs_by_keys("f", &["K1b".into(), "K2".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(by_keys.len(), 2, "{by_keys:?}");
    assert_eq!(by_keys["K1b"].source_id, "1");
    assert_eq!(by_keys["K1b"].target_id.as_deref(), Some("t1b"));
    assert!(s.xrefs_by_keys("f", &[]).await.unwrap().is_empty());
    assert!(
        s.xrefs_by_keys("g", &["K2".into()])
            .await
            .unwrap()
            .is_empty()
    );
}

fn state(id: &str, state: &str) -> StateWritten {
    StateWritten {
        source_id: id.into(),
        state: state.into(),
    }
}

/// The document state written for a record lives on its xref row: set by `Commit::states`
/// (the last of a source id wins, a row created in the same commit included), kept by later
/// xref upserts that say nothing of it, and returned by every xref lookup.
async fn document_states_are_kept_with_the_xref(db: &TestDb) {
    let s = &db.store;
    s.commit(
        "f",
        &Commit {
            xrefs: vec![
                xref("1", "SO1", "t1", "h1"),
                xref("2", "SO2", "t2", "h2"),
                xref("3", "SO3", "t3", "h3"),
            ],
            states: vec![
                state("1", "draft"),
                state("2", "paid"),
                state("1", "confirmed"),
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let got = s
        .xrefs("f", &["1".into(), "2".into(), "3".into()])
        .await
        .unwrap();
    assert_eq!(got["1"].state.as_deref(), Some("confirmed"));
    assert_eq!(got["2"].state.as_deref(), Some("paid"));
    assert_eq!(got["3"].state, None);

    // A later upsert (a dead letter, an unchanged record) keeps the state; a new one replaces it.
    s.commit(
        "f",
        &Commit {
            xrefs: vec![xref("1", "SO1", "t1", "h1b"), xref("2", "SO2", "t2", "h2b")],
            states: vec![state("2", "cancelled")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let got = s.xrefs("f", &["1".into(), "2".into()]).await.unwrap();
    assert_eq!(got["1"].state.as_deref(), Some("confirmed"));
    assert_eq!(got["1"].written_hash.as_deref(), Some("h1b"));
    assert_eq!(got["2"].state.as_deref(), Some("cancelled"));
    // Per flow, and on every lookup.
    assert!(
        s.xrefs("g", &["1".into()]).await.unwrap().is_empty(),
        "another flow's record"
    );
    assert_eq!(
        s.xrefs_by_key(Some("f"), "SO1").await.unwrap()[0]
            .state
            .as_deref(),
        Some("confirmed")
    );
    assert_eq!(
        s.xrefs_by_keys("f", &["SO2".into()]).await.unwrap()["SO2"]
            .state
            .as_deref(),
        Some("cancelled")
    );
}

/// Snapshot polling: each pass marks what it read; what an earlier pass saw and this one did
/// not is a deletion candidate, until it is marked gone (or seen again).
async fn snapshot_passes_find_unseen_records(db: &TestDb) {
    let s = &db.store;
    let ids = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    // Pass 1 reads a, b, c (new records: their xref rows are written in the same commit).
    s.commit(
        "f",
        &Commit {
            xrefs: vec![
                xref("a", "KA", "ta", "h"),
                xref("b", "KB", "tb", "h"),
                xref("c", "KC", "tc", "h"),
            ],
            seen: Some(SeenInPass {
                pass: 1,
                ids: ids(&["a", "b", "c"]),
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Another flow's rows never mix in; a record outside any pass is no candidate.
    s.commit(
        "g",
        &Commit {
            xrefs: vec![xref("z", "KZ", "tz", "h")],
            seen: Some(SeenInPass {
                pass: 1,
                ids: ids(&["z"]),
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(s.unseen("f", 1, 10).await.unwrap().is_empty());
    // Pass 2 reads only b.
    s.commit(
        "f",
        &Commit {
            seen: Some(SeenInPass {
                pass: 2,
                ids: ids(&["b"]),
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.unseen("f", 2, 10).await.unwrap(), ids(&["a", "c"]));
    assert_eq!(s.unseen("f", 2, 1).await.unwrap(), ids(&["a"]));
    // a turns out to exist (seen late), c is gone: neither is a candidate any more.
    s.commit(
        "f",
        &Commit {
            seen: Some(SeenInPass {
                pass: 2,
                ids: ids(&["a"]),
            }),
            gone: ids(&["c"]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(s.unseen("f", 2, 10).await.unwrap().is_empty());
    assert!(
        s.unseen("f", 3, 10).await.unwrap().len() == 2,
        "a and b in pass 3"
    );
    assert_eq!(s.unseen("g", 2, 10).await.unwrap(), ids(&["z"]));
}

async fn ledger_order_and_lookup(db: &TestDb) {
    let s = &db.store;
    let run = s.start_run("f", "poll").await.unwrap();
    let mut first = entry("f", "s1", "K1", Outcome::Created);
    first.run_id = Some(run);
    first.before_hash = Some("b".into());
    first.source_version = Some("v1".into());
    let mut failed = entry("f", "s1", "K1", Outcome::Failed);
    failed.attempt = 2;
    failed.error_kind = Some("retryable".into());
    failed.error = Some("timeout".into());
    failed.target_id = None;
    s.commit(
        "f",
        &Commit {
            ledger: vec![first.clone(), entry("f", "s2", "K2", Outcome::Created)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.commit(
        "f",
        &Commit {
            ledger: vec![failed.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.commit(
        "g",
        &Commit {
            ledger: vec![entry("g", "other", "K1", Outcome::Unchanged)],
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let by_key = s.ledger(None, "K1").await.unwrap();
    assert_eq!(by_key.len(), 3);
    assert!(by_key.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert_eq!(
        by_key.iter().map(|e| e.outcome).collect::<Vec<_>>(),
        [Outcome::Created, Outcome::Failed, Outcome::Unchanged]
    );
    let e = &by_key[0];
    assert_eq!(e.run_id, Some(run));
    assert_eq!(e.before_hash.as_deref(), Some("b"));
    assert_eq!(e.source_version.as_deref(), Some("v1"));
    assert_eq!(e.at.timestamp_millis(), first.at.timestamp_millis());
    assert_eq!(by_key[1].attempt, 2);
    assert_eq!(by_key[1].error.as_deref(), Some("timeout"));
    assert_eq!(by_key[1].error_kind.as_deref(), Some("retryable"));

    let by_id = s.ledger(Some("f"), "s1").await.unwrap();
    assert_eq!(by_id.len(), 2);
    assert!(by_id.iter().all(|e| e.source_id == "s1" && e.flow == "f"));
    assert_eq!(s.ledger(Some("g"), "K1").await.unwrap().len(), 1);
    assert_eq!(s.ledger(None, "K2").await.unwrap()[0].source_id, "s2");
    assert!(s.ledger(None, "nothing").await.unwrap().is_empty());
}

/// The commit of a scanned batch (cursor, xref and ledger rows, nothing else), which the
/// PostgreSQL store writes in one statement: all three land, the last xref update of a source
/// id wins, ledger entries keep their order, and a later batch replaces the rows it updates,
/// also a row the engine took for new (another process wrote it meanwhile).
async fn a_scanned_batch_commits_cursor_xrefs_and_ledger_together(db: &TestDb) {
    let s = &db.store;
    // Fenced, as the engine commits (the one-statement path on PostgreSQL).
    let epoch = Some(s.claim_flow("f").await.unwrap());
    let mut failed = entry("f", "s3", "K3", Outcome::Failed);
    failed.target_id = None;
    failed.error_kind = Some("validation".into());
    failed.error = Some("column `email`: not an e-mail".into());
    s.commit(
        "f",
        &Commit {
            cursor: Some("page-1".into()),
            xrefs: vec![
                new_xref("s1", "K1", "t1", "h1"),
                new_xref("s2", "K2", "t2", "h2"),
                new_xref("s1", "K1", "t1", "h1-later"),
            ],
            ledger: vec![
                entry("f", "s1", "K1", Outcome::Created),
                entry("f", "s2", "K2", Outcome::Created),
                failed,
            ],
            epoch,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("page-1"));
    let ids = ["s1".to_owned(), "s2".to_owned()];
    let xrefs = s.xrefs("f", &ids).await.unwrap();
    assert_eq!(xrefs["s1"].written_hash.as_deref(), Some("h1-later"));
    assert_eq!(xrefs["s2"].target_id.as_deref(), Some("t2"));
    let recent = s.ledger(Some("f"), "s3").await.unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(
        recent[0].error.as_deref(),
        Some("column `email`: not an e-mail")
    );
    let k1 = s.ledger(None, "K1").await.unwrap();
    let k2 = s.ledger(None, "K2").await.unwrap();
    assert!(
        k1[0].id < k2[0].id && k2[0].id < recent[0].id,
        "in commit order"
    );

    s.commit(
        "f",
        &Commit {
            cursor: Some("page-2".into()),
            xrefs: vec![
                new_xref("s2", "K2", "t2", "h2-new"),
                new_xref("s4", "K4", "t4", "h4"),
            ],
            ledger: vec![entry("f", "s2", "K2", Outcome::Updated)],
            epoch,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("page-2"));
    let xrefs = s.xrefs("f", &ids).await.unwrap();
    assert_eq!(xrefs["s2"].written_hash.as_deref(), Some("h2-new"));
    assert_eq!(xrefs["s1"].written_hash.as_deref(), Some("h1-later"));
    let s4 = s.xrefs("f", &["s4".to_owned()]).await.unwrap();
    assert_eq!(
        s4["s4"].target_id.as_deref(),
        Some("t4"),
        "the batch was not lost"
    );
    let k2 = s.ledger(None, "K2").await.unwrap();
    assert_eq!(
        k2.iter().map(|e| e.outcome).collect::<Vec<_>>(),
        [Outcome::Created, Outcome::Updated]
    );
}

async fn dead_letter_replay_resolves(db: &TestDb) {
    let s = &db.store;
    s.commit(
        "f",
        &Commit {
            dead_letters: vec![dead("s1")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let open = s.dead_letters(&DeadLetterFilter::default()).await.unwrap();
    assert_eq!(open.len(), 1);
    let dl = &open[0];
    assert_eq!(dl.state, DeadLetterState::Open);
    assert_eq!(dl.flow, "f");
    assert_eq!(dl.attempts, 3);
    assert_eq!(dl.payload, dead("s1").payload);
    assert_eq!(dl.key.as_deref(), Some("K-s1"));

    let edited = json!({"id": "s1", "fields": {"name": "Ada", "email": "ada@example.com"}});
    let qid = s
        .replay_dead_letter(dl.id, "replay", Some(edited.clone()))
        .await
        .unwrap();
    assert_eq!(
        s.dead_letter(dl.id).await.unwrap().unwrap().state,
        DeadLetterState::Replayed
    );
    // Only an open dead letter can be replayed.
    let err = s
        .replay_dead_letter(dl.id, "replay", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(ref m) if m.contains("replayed")),
        "{err}"
    );
    let err = s
        .replay_dead_letter(424242, "replay", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(s.dead_letter(424242).await.unwrap().is_none());
    assert_eq!(s.queue_depth(Some("f")).await.unwrap(), 1);

    let leased = s.lease("f", 10, LONG).await.unwrap();
    assert_eq!(leased.len(), 1);
    let q = &leased[0];
    assert_eq!(q.id, qid);
    assert_eq!(q.source_id, "s1");
    assert_eq!(q.trigger, "replay");
    assert_eq!(q.dead_letter_id, Some(dl.id));
    assert_eq!(q.payload.as_ref(), Some(&edited));
    assert_eq!(q.attempts, 0);

    s.commit(
        "f",
        &Commit {
            acked: vec![q.id],
            delivered: vec!["s1".into()],
            ledger: vec![entry("f", "s1", "K-s1", Outcome::Created)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.dead_letter(dl.id).await.unwrap().unwrap().state,
        DeadLetterState::Resolved
    );
    assert_eq!(s.queue_depth(None).await.unwrap(), 0);
    assert!(
        s.dead_letters(&DeadLetterFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // Delivering a source id also resolves its open dead letters, in that flow only.
    s.commit(
        "f",
        &Commit {
            dead_letters: vec![dead("s2")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.commit(
        "g",
        &Commit {
            dead_letters: vec![dead("s2")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.commit(
        "f",
        &Commit {
            delivered: vec!["s2".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let open = s.dead_letters(&DeadLetterFilter::default()).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].flow, "g");
}

async fn dead_letter_skip(db: &TestDb) {
    let s = &db.store;
    s.commit(
        "f",
        &Commit {
            dead_letters: vec![dead("s1")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let id = s.dead_letters(&DeadLetterFilter::default()).await.unwrap()[0].id;
    s.skip_dead_letter(id, "operator:alice").await.unwrap();
    let dl = s.dead_letter(id).await.unwrap().unwrap();
    assert_eq!(dl.state, DeadLetterState::Skipped);
    assert!(dl.updated_at >= dl.created_at);
    let ledger = s.ledger(Some("f"), "s1").await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].outcome, Outcome::Skipped);
    assert_eq!(ledger[0].trigger, "operator:alice");
    assert_eq!(ledger[0].key.as_deref(), Some("K-s1"));
    assert_eq!(ledger[0].attempt, 3);
    // Not twice, and a skipped one cannot be replayed.
    assert!(matches!(
        s.skip_dead_letter(id, "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.replay_dead_letter(id, "x", None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.skip_dead_letter(777, "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.queue_depth(None).await.unwrap(), 0);
}

async fn dead_letter_listing(db: &TestDb) {
    let s = &db.store;
    s.commit(
        "f",
        &Commit {
            dead_letters: vec![dead("a"), dead("b"), dead("c")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.commit(
        "g",
        &Commit {
            dead_letters: vec![dead("z")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let all = s.dead_letters(&DeadLetterFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.source_id.as_str()).collect::<Vec<_>>(),
        ["z", "c", "b", "a"],
        "newest first"
    );
    let f = DeadLetterFilter {
        flow: Some("f".into()),
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(
        s.dead_letters(&f)
            .await
            .unwrap()
            .iter()
            .map(|d| d.source_id.as_str())
            .collect::<Vec<_>>(),
        ["c", "b"]
    );
    s.skip_dead_letter(all[0].id, "op").await.unwrap();
    let skipped = DeadLetterFilter {
        states: vec![DeadLetterState::Skipped],
        ..Default::default()
    };
    assert_eq!(s.dead_letters(&skipped).await.unwrap().len(), 1);
    let both = DeadLetterFilter {
        states: vec![DeadLetterState::Skipped, DeadLetterState::Open],
        ..Default::default()
    };
    assert_eq!(s.dead_letters(&both).await.unwrap().len(), 4);
}

async fn lease_keeps_per_key_order(db: &TestDb) {
    let s = &db.store;
    let ids = s
        .enqueue(&[
            item("f", "k1"),
            item("f", "k1"),
            item("f", "k2"),
            item("g", "k1"),
        ])
        .await
        .unwrap();
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let first = s.lease("f", 10, LONG).await.unwrap();
    assert_eq!(
        first.iter().map(|i| i.id).collect::<Vec<_>>(),
        [ids[0], ids[2]],
        "oldest of each key"
    );
    assert_eq!(first[0].source_id, "k1");
    assert_eq!(first[0].flow, "f");
    // Leased items are not leased again, and k1's second item waits for the first.
    assert!(s.lease("f", 10, LONG).await.unwrap().is_empty());
    // Other flows are independent.
    assert_eq!(s.lease("g", 10, LONG).await.unwrap()[0].id, ids[3]);

    s.commit(
        "f",
        &Commit {
            acked: vec![ids[0]],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let next = s.lease("f", 10, LONG).await.unwrap();
    assert_eq!(next.iter().map(|i| i.id).collect::<Vec<_>>(), [ids[1]]);
    assert_eq!(
        s.queue_depth(Some("f")).await.unwrap(),
        2,
        "leased items still count"
    );

    // `max` is honoured.
    let more = s
        .enqueue(&[item("h", "a"), item("h", "b"), item("h", "c")])
        .await
        .unwrap();
    let two = s.lease("h", 2, LONG).await.unwrap();
    assert_eq!(two.iter().map(|i| i.id).collect::<Vec<_>>(), &more[..2]);
    assert!(s.lease("h", 0, LONG).await.unwrap().is_empty());
}

async fn lease_expiry_and_release(db: &TestDb) {
    let s = &db.store;
    let ids = s
        .enqueue(&[item("f", "k1"), item("f", "k2")])
        .await
        .unwrap();
    let leased = s.lease("f", 1, Duration::from_millis(150)).await.unwrap();
    assert_eq!(leased[0].id, ids[0]);
    assert_eq!(s.lease("f", 1, LONG).await.unwrap()[0].id, ids[1]);
    assert!(s.lease("f", 10, LONG).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The short lease expired: leasable again. The long one is not.
    let again = s.lease("f", 10, LONG).await.unwrap();
    assert_eq!(again.iter().map(|i| i.id).collect::<Vec<_>>(), [ids[0]]);

    assert_eq!(s.release_leases("f").await.unwrap(), 2);
    assert_eq!(s.release_leases("f").await.unwrap(), 0);
    let all = s.lease("f", 10, LONG).await.unwrap();
    assert_eq!(all.iter().map(|i| i.id).collect::<Vec<_>>(), ids);
    assert_eq!(s.release_leases("other").await.unwrap(), 0);

    // Another store (another Ferry process) cannot end our leases.
    let other = ferry_store::open(&db.url).await.unwrap();
    assert_eq!(other.release_leases("f").await.unwrap(), 0);
    assert!(other.lease("f", 10, LONG).await.unwrap().is_empty());
    // Nor take them as orphaned: their holder (this process) is alive.
    assert_eq!(other.release_orphaned_leases().await.unwrap(), 0);
    assert!(other.lease("f", 10, LONG).await.unwrap().is_empty());
}

async fn retry_later_delays(db: &TestDb) {
    let s = &db.store;
    let ids = s.enqueue(&[item("f", "k1")]).await.unwrap();
    let leased = s.lease("f", 10, LONG).await.unwrap();
    assert_eq!(leased[0].attempts, 0);
    s.retry_later(
        ids[0],
        Utc::now() + chrono::Duration::hours(1),
        "503 from erp",
    )
    .await
    .unwrap();
    assert!(
        s.lease("f", 10, LONG).await.unwrap().is_empty(),
        "not before its time"
    );
    // A newer item of the same key waits behind the delayed one.
    s.enqueue(&[item("f", "k1")]).await.unwrap();
    assert!(
        s.lease("f", 10, LONG).await.unwrap().is_empty(),
        "per-key order"
    );
    assert_eq!(s.queue_depth(Some("f")).await.unwrap(), 2);

    let due = Utc::now() - chrono::Duration::seconds(1);
    s.retry_later(ids[0], due, "timeout").await.unwrap();
    let again = s.lease("f", 10, LONG).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, ids[0]);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("timeout"));
    assert_eq!(
        again[0].available_at.timestamp_millis(),
        due.timestamp_millis()
    );
    assert!(matches!(
        s.retry_later(999_999, due, "x").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn queue_depth_counts(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.queue_depth(None).await.unwrap(), 0);
    assert_eq!(s.queue_oldest("f").await.unwrap(), None);
    let before = Utc::now() - chrono::Duration::milliseconds(1);
    let ids = s
        .enqueue(&[item("f", "1"), item("f", "2"), item("g", "1")])
        .await
        .unwrap();
    // The oldest item's first enqueue time, kept through a retry (lag is measured from it).
    let oldest = s.queue_oldest("f").await.unwrap().expect("f has items");
    assert!(oldest >= before && oldest <= Utc::now(), "{oldest}");
    s.retry_later(ids[0], Utc::now() + chrono::Duration::hours(1), "later")
        .await
        .unwrap();
    assert_eq!(s.queue_oldest("f").await.unwrap(), Some(oldest));
    assert!(s.enqueue(&[]).await.unwrap().is_empty());
    assert_eq!(s.queue_depth(Some("f")).await.unwrap(), 2);
    assert_eq!(s.queue_depth(Some("g")).await.unwrap(), 1);
    assert_eq!(s.queue_depth(Some("none")).await.unwrap(), 0);
    assert_eq!(s.queue_depth(None).await.unwrap(), 3);
    s.commit(
        "f",
        &Commit {
            acked: vec![ids[0], ids[1]],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.queue_depth(None).await.unwrap(), 1);
    assert_eq!(
        s.queue_oldest("f").await.unwrap(),
        None,
        "acked items are gone"
    );
}

async fn flow_states_and_runs(db: &TestDb) {
    let s = &db.store;
    assert!(s.flow_states().await.unwrap().is_empty());
    let r1 = s.start_run("customers", "poll").await.unwrap();
    s.finish_run(
        r1,
        &RunStats {
            read: 1,
            ..Default::default()
        },
        Some("erp down"),
    )
    .await
    .unwrap();
    let r2 = s.start_run("customers", "cron").await.unwrap();
    s.commit(
        "customers",
        &Commit {
            cursor: Some("2026-03-01".into()),
            xrefs: vec![xref("1", "C1", "t1", "h"), xref("2", "C2", "t2", "h")],
            dead_letters: vec![dead("3"), dead("4")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let stats = RunStats {
        read: 4,
        created: 2,
        updated: 0,
        unchanged: 0,
        failed: 2,
        deleted: 1,
        rejected: 3,
        conflicts: 1,
        not_found: 2,
    };
    s.finish_run(r2, &stats, None).await.unwrap();
    let dl = s.dead_letters(&DeadLetterFilter::default()).await.unwrap();
    s.skip_dead_letter(dl[0].id, "op").await.unwrap();
    s.enqueue(&[item("orders", "o1")]).await.unwrap();
    assert!(matches!(
        s.finish_run(12345, &stats, None).await,
        Err(StoreError::NotFound(_))
    ));

    let states = s.flow_states().await.unwrap();
    assert_eq!(
        states.iter().map(|f| f.flow.as_str()).collect::<Vec<_>>(),
        ["customers", "orders"]
    );
    let c = &states[0];
    assert_eq!(c.cursor.as_deref(), Some("2026-03-01"));
    assert_eq!(c.records, 2);
    assert_eq!(c.queued, 0);
    assert_eq!(c.dead_letters, 1);
    let run = c.last_run.as_ref().unwrap();
    assert_eq!(run.id, r2);
    assert_eq!(run.trigger, "cron");
    assert_eq!(run.stats, stats);
    assert_eq!(run.error, None);
    assert!(run.finished_at.unwrap() >= run.started_at);
    let o = &states[1];
    assert_eq!(
        (o.cursor.as_deref(), o.records, o.queued, o.dead_letters),
        (None, 0, 1, 0)
    );
    assert!(o.last_run.is_none());

    // An unfinished run shows as such.
    let r3 = s.start_run("orders", "manual").await.unwrap();
    let states = s.flow_states().await.unwrap();
    let run = states[1].last_run.as_ref().unwrap();
    assert_eq!(
        (run.id, run.finished_at, run.stats),
        (r3, None, RunStats::default())
    );
}

async fn commit_throughput_100k(db: &TestDb) {
    let s = &db.store;
    let backend = match db.kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    };
    const BATCHES: usize = 100;
    const BATCH: usize = 1000;
    let run = s.start_run("bench", "bench").await.unwrap();
    let mut commit_time = Duration::ZERO;
    let started = Instant::now();
    for b in 0..BATCHES {
        let ids: Vec<String> = (0..BATCH)
            .map(|i| format!("src-{:07}", b * BATCH + i))
            .collect();
        let xrefs = ids
            .iter()
            .map(|id| XrefUpdate {
                source_id: id.clone(),
                key: Some(format!("KEY-{id}")),
                target_id: Some(format!("tgt-{id}")),
                read_hash: Some("a3f1c2e4b5d6a7f8a3f1c2e4b5d6a7f8".into()),
                written_hash: Some("0f1e2d3c4b5a69780f1e2d3c4b5a6978".into()),
                source_version: Some("2026-04-01T12:00:00Z".into()),
                new: false,
            })
            .collect();
        let ledger = ids
            .iter()
            .map(|id| {
                let mut e = entry("bench", id, &format!("KEY-{id}"), Outcome::Created);
                e.run_id = Some(run);
                e
            })
            .collect();
        let commit = Commit {
            cursor: Some(format!("cursor-{b}")),
            xrefs,
            ledger,
            ..Default::default()
        };
        let t = Instant::now();
        s.commit("bench", &commit).await.unwrap();
        commit_time += t.elapsed();
    }
    let total = started.elapsed();
    let records = (BATCHES * BATCH) as f64;
    eprintln!(
        "[{backend}] {BATCHES} commits x {BATCH} records (1 xref upsert + 1 ledger row each): \
         {:.0} records/s ({:.0} rows/s) in commit, {:.2}s in commit, {:.2}s total",
        records / commit_time.as_secs_f64(),
        2.0 * records / commit_time.as_secs_f64(),
        commit_time.as_secs_f64(),
        total.as_secs_f64(),
    );

    // Upsert pass over the same keys (the steady state of a re-sync).
    let t = Instant::now();
    for b in 0..10 {
        let xrefs = (0..BATCH)
            .map(|i| xref(&format!("src-{:07}", b * BATCH + i), "K", "t", "h2"))
            .collect();
        s.commit(
            "bench",
            &Commit {
                xrefs,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    eprintln!(
        "[{backend}] upsert of 10,000 existing xrefs: {:.0} rows/s",
        10_000.0 / t.elapsed().as_secs_f64()
    );

    // Lookup of a batch, the engine's other hot call.
    let ids: Vec<String> = (50_000..51_000).map(|i| format!("src-{i:07}")).collect();
    let t = Instant::now();
    let got = s.xrefs("bench", &ids).await.unwrap();
    eprintln!("[{backend}] xrefs() lookup of 1,000 ids: {:?}", t.elapsed());
    assert_eq!(got.len(), 1000);
    assert_eq!(got.keys().collect::<HashSet<_>>().len(), 1000);

    let states = s.flow_states().await.unwrap();
    assert_eq!(states[0].records, 100_000);
    assert_eq!(states[0].cursor.as_deref(), Some("cursor-99"));
    assert_eq!(
        s.ledger(Some("bench"), "src-0099999").await.unwrap().len(),
        1
    );
}

/// Four stores (as four Ferry processes would) lease from one queue at once: every item is
/// processed exactly once, never two items of one source id at the same time, and each source
/// id's items in enqueue order.
async fn concurrent_workers_share_the_queue(db: &TestDb) {
    use std::collections::HashMap;
    use std::sync::Mutex;

    const KEYS: usize = 25;
    const PER_KEY: usize = 4;
    let items: Vec<NewQueueItem> = (0..PER_KEY)
        .flat_map(|_| (0..KEYS).map(|k| item("f", &format!("k{k}"))))
        .collect();
    let ids = db.store.enqueue(&items).await.unwrap();
    assert_eq!(ids.len(), KEYS * PER_KEY);

    let in_flight = Arc::new(Mutex::new(HashSet::<String>::new()));
    let done = Arc::new(Mutex::new(Vec::<(String, i64)>::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = ferry_store::open(&db.url).await.unwrap();
        let (in_flight, done) = (in_flight.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                let leased = store.lease("f", 3, LONG).await.unwrap();
                if leased.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                for q in &leased {
                    assert!(
                        in_flight.lock().unwrap().insert(q.source_id.clone()),
                        "{} leased twice at once",
                        q.source_id
                    );
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                for q in &leased {
                    in_flight.lock().unwrap().remove(&q.source_id);
                    done.lock().unwrap().push((q.source_id.clone(), q.id));
                }
                let acked = leased.iter().map(|q| q.id).collect();
                store
                    .commit(
                        "f",
                        &Commit {
                            acked,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let done = done.lock().unwrap().clone();
    assert_eq!(done.len(), KEYS * PER_KEY, "each item exactly once");
    assert_eq!(
        done.iter().map(|(_, id)| *id).collect::<HashSet<_>>().len(),
        KEYS * PER_KEY
    );
    let mut per_key: HashMap<&str, Vec<i64>> = HashMap::new();
    for (key, id) in &done {
        per_key.entry(key).or_default().push(*id);
    }
    for (key, seq) in per_key {
        assert!(
            seq.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {seq:?}"
        );
    }
    assert_eq!(db.store.queue_depth(None).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Server support: runs listing, tracked sync requests, webhook signatures, API keys, audit log.

async fn runs_newest_first(db: &TestDb) {
    let s = &db.store;
    let a = s.start_run("customers", "poll").await.unwrap();
    let b = s.start_run("orders", "cron").await.unwrap();
    let c = s.start_run("customers", "api").await.unwrap();
    let all: Vec<i64> = s
        .runs(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, [c, b, a]);
    let customers = s.runs(Some("customers"), 10).await.unwrap();
    assert_eq!(customers.iter().map(|r| r.id).collect::<Vec<_>>(), [c, a]);
    assert_eq!(customers[0].trigger, "api");
    assert_eq!(s.runs(None, 2).await.unwrap().len(), 2);
}

fn signature(sig: &str, expires_in: chrono::Duration) -> SeenDelivery {
    SeenDelivery {
        system: "crm".into(),
        key: DeliveryKey::Signature(sig.into()),
        expires_at: Utc::now() + expires_in,
    }
}

fn delivery(id: &str, fingerprint: &str, expires_in: chrono::Duration) -> SeenDelivery {
    SeenDelivery {
        system: "crm".into(),
        key: DeliveryKey::Id {
            id: id.into(),
            fingerprint: fingerprint.into(),
        },
        expires_at: Utc::now() + expires_in,
    }
}

fn queued(accepted: Accepted) -> Vec<i64> {
    match accepted {
        Accepted::Queued(ids) => ids,
        other => panic!("expected the items to be queued, got {other:?}"),
    }
}

async fn request_sync_is_tracked(db: &TestDb) {
    let s = &db.store;
    let before = Utc::now() - chrono::Duration::milliseconds(1);
    let ids = queued(
        s.request_sync(&[item("customers", "42"), item("customers", "43")], None)
            .await
            .unwrap(),
    );
    assert_eq!(ids.len(), 2);
    assert_eq!(s.queue_depth(Some("customers")).await.unwrap(), 2);

    // Waiting: the queue item is there, nothing happened to the record yet.
    let state = s.sync_request(ids[0]).await.unwrap().unwrap();
    assert_eq!(state.request.flow, "customers");
    assert_eq!(state.request.source_id, "42");
    assert_eq!(state.request.trigger, "webhook");
    assert!(state.request.requested_at >= before);
    assert_eq!(state.queued.as_ref().map(|q| q.id), Some(ids[0]));
    assert!(state.ledger.is_none() && state.dead_letter.is_none());

    // Worked: acknowledged with a ledger entry for 42, a dead letter for 43.
    let leased = s.lease("customers", 10, LONG).await.unwrap();
    assert_eq!(leased.len(), 2);
    let mut created = entry("customers", "42", "C42", Outcome::Created);
    created.trigger = "webhook".into();
    s.commit(
        "customers",
        &Commit {
            xrefs: vec![xref("42", "C42", "t42", "h")],
            ledger: vec![created],
            dead_letters: vec![dead("43")],
            acked: ids.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let done = s.sync_request(ids[0]).await.unwrap().unwrap();
    assert!(done.queued.is_none());
    assert_eq!(done.ledger.unwrap().outcome, Outcome::Created);
    let dead_lettered = s.sync_request(ids[1]).await.unwrap().unwrap();
    assert!(dead_lettered.queued.is_none() && dead_lettered.ledger.is_none());
    assert_eq!(dead_lettered.dead_letter.unwrap().source_id, "43");

    // A ledger entry older than the request is not its outcome.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = queued(
        s.request_sync(&[item("customers", "42")], None)
            .await
            .unwrap(),
    );
    let fresh = s.sync_request(again[0]).await.unwrap().unwrap();
    assert!(fresh.queued.is_some() && fresh.ledger.is_none());

    assert!(s.sync_request(987_654).await.unwrap().is_none());
}

/// A signature seen again (two notices for one record within a second are byte-identical) is
/// never refused: while the record's read waits unleased, the repeat joins it; once a worker
/// has leased it (it may have read the record already) or worked it off, a new read is queued.
async fn repeated_signature_joins_the_waiting_read_or_queues_again(db: &TestDb) {
    let s = &db.store;
    let sig = signature("abc", chrono::Duration::minutes(5));
    let ask = || async {
        queued(
            s.request_sync(&[item("customers", "1")], Some(&sig))
                .await
                .unwrap(),
        )
    };
    let first = ask().await;
    assert_eq!(ask().await, first, "joins the read still waiting");
    assert_eq!(s.queue_depth(None).await.unwrap(), 1);

    // Leased: its read may have happened before the change the repeat announces.
    let leased = s.lease("customers", 10, LONG).await.unwrap();
    assert_eq!(leased.iter().map(|q| q.id).collect::<Vec<_>>(), first);
    let second = ask().await;
    assert_ne!(second, first, "a leased read is not joined");
    assert_eq!(ask().await, second, "the new read is waiting: joined");
    s.commit(
        "customers",
        &Commit {
            acked: first.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.lease("customers", 10, LONG).await.unwrap();
    s.commit(
        "customers",
        &Commit {
            acked: second.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.queue_depth(None).await.unwrap(), 0);
    // Worked off: the repeat queues the record again, tracked.
    let third = ask().await;
    assert!(third[0] > second[0]);
    assert_eq!(s.queue_depth(None).await.unwrap(), 1);
    assert!(s.sync_request(third[0]).await.unwrap().is_some());

    // The same signature from another system is another signature.
    let other = SeenDelivery {
        system: "erp".into(),
        ..sig.clone()
    };
    let products = queued(
        s.request_sync(&[item("products", "1")], Some(&other))
            .await
            .unwrap(),
    );
    assert_ne!(products, third);
    // A second store on the same database (another process) remembers the signature too, and
    // only tracked webhook reads are joined (not an operator's replay of a dead letter).
    let replay = NewQueueItem {
        trigger: "replay".into(),
        ..item("customers", "2")
    };
    s.enqueue(&[replay]).await.unwrap();
    let again = ferry_store::open(&db.url).await.unwrap();
    let both = queued(
        again
            .request_sync(
                &[item("customers", "1"), item("customers", "2")],
                Some(&sig),
            )
            .await
            .unwrap(),
    );
    assert_eq!(both[0], third[0]);
    assert!(s.sync_request(both[1]).await.unwrap().is_some());
    assert_eq!(s.queue_depth(None).await.unwrap(), 4);
}

/// Many requests at once (the SQLite store commits them in groups): each is queued exactly
/// once with its own ids, and a signature sent twice at the same moment is not refused: the
/// second joins the first's read.
async fn concurrent_requests_each_commit_once(db: &TestDb) {
    let s = &db.store;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let s = s.clone();
        // Requests 0 and 1 are the same notice with the same signature; so are 2 and 3.
        let (record, sig) = if n < 4 {
            (
                n / 2,
                Some(signature(
                    &format!("sig-{}", n / 2),
                    chrono::Duration::minutes(5),
                )),
            )
        } else {
            (n, None)
        };
        tasks.push(tokio::spawn(async move {
            let items = [item("customers", &record.to_string())];
            s.request_sync(&items, sig.as_ref()).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(queued(task.await.unwrap().unwrap()));
    }
    assert_eq!(ids.len(), 200, "no request is refused");
    assert_eq!(
        (ids[0], ids[2]),
        (ids[1], ids[3]),
        "a repeat joins its twin"
    );
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        198,
        "every other request has its own queue item"
    );
    assert_eq!(s.queue_depth(Some("customers")).await.unwrap(), 198);
    for id in [ids[0], ids[199]] {
        assert!(s.sync_request(id).await.unwrap().is_some());
    }
}

async fn expired_signature_is_forgotten(db: &TestDb) {
    let s = &db.store;
    let stale = signature("old", chrono::Duration::milliseconds(-10));
    queued(
        s.request_sync(&[item("customers", "1")], Some(&stale))
            .await
            .unwrap(),
    );
    // Expired: purged by the next accepted notice, so the table does not grow forever (the
    // server refuses the stale timestamp before it gets here); the repeat is a new notice.
    queued(
        s.request_sync(&[item("customers", "1")], Some(&stale))
            .await
            .unwrap(),
    );
    assert_eq!(s.queue_depth(None).await.unwrap(), 2);
}

/// A delivery id seen again queues nothing and answers the first delivery's tracking ids and
/// fingerprint, from any store on the database; another system's id is its own; an expired
/// id is forgotten.
async fn delivery_id_is_queued_once(db: &TestDb) {
    let s = &db.store;
    let five = chrono::Duration::minutes(5);
    let evt = delivery("evt-1", "fp-1", five);
    let items = [item("customers", "1"), item("customers", "2")];
    let first = queued(s.request_sync(&items, Some(&evt)).await.unwrap());
    let duplicate = Accepted::Duplicate {
        tracking_ids: first.clone(),
        fingerprint: "fp-1".into(),
    };
    assert_eq!(s.request_sync(&items, Some(&evt)).await.unwrap(), duplicate);
    // Told apart by the server with the fingerprint: the store answers what it remembered.
    let reused = delivery("evt-1", "fp-other", five);
    assert_eq!(
        s.request_sync(&[item("customers", "9")], Some(&reused))
            .await
            .unwrap(),
        duplicate
    );
    let again = ferry_store::open(&db.url).await.unwrap();
    assert_eq!(
        again.request_sync(&items, Some(&evt)).await.unwrap(),
        duplicate
    );
    assert_eq!(s.queue_depth(None).await.unwrap(), 2);

    let erp = SeenDelivery {
        system: "erp".into(),
        ..evt.clone()
    };
    queued(
        s.request_sync(&[item("products", "1")], Some(&erp))
            .await
            .unwrap(),
    );
    let stale = delivery("evt-old", "fp", chrono::Duration::milliseconds(-10));
    queued(s.request_sync(&items[..1], Some(&stale)).await.unwrap());
    queued(s.request_sync(&items[..1], Some(&stale)).await.unwrap());
    assert_eq!(s.queue_depth(None).await.unwrap(), 5);
}

/// The same delivery sent many times at once: queued once, every other answer a duplicate
/// with the same tracking ids (on PostgreSQL, concurrent transactions wait for each other).
async fn concurrent_redeliveries_queue_once(db: &TestDb) {
    let s = &db.store;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let evt = delivery("evt-storm", "fp", chrono::Duration::minutes(5));
                s.request_sync(&[item("customers", "7")], Some(&evt)).await
            })
        })
        .collect();
    let (mut firsts, mut duplicates) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Accepted::Queued(ids) => firsts.push(ids),
            Accepted::Duplicate { tracking_ids, .. } => duplicates.push(tracking_ids),
        }
    }
    assert_eq!(firsts.len(), 1, "queued once");
    assert_eq!(duplicates.len(), 19);
    assert!(duplicates.iter().all(|ids| *ids == firsts[0]));
    assert_eq!(s.queue_depth(None).await.unwrap(), 1);
}

async fn api_keys_create_find_revoke(db: &TestDb) {
    let s = &db.store;
    let new = |name: &str, role: &str, hash: &str| NewApiKey {
        name: name.into(),
        role: role.into(),
        token_hash: hash.into(),
    };
    let ops = s.create_api_key(&new("ops", "admin", "h1")).await.unwrap();
    let ro = s
        .create_api_key(&new("grafana", "viewer", "h2"))
        .await
        .unwrap();
    assert_eq!((ops.name.as_str(), ops.role.as_str()), ("ops", "admin"));
    assert!(ops.revoked_at.is_none());
    // Two keys cannot share a token.
    assert!(s.create_api_key(&new("dup", "viewer", "h1")).await.is_err());

    let found = s.api_key_by_hash("h2").await.unwrap().unwrap();
    assert_eq!(found, ro);
    assert!(s.api_key_by_hash("nope").await.unwrap().is_none());

    let revoked = s.revoke_api_key(ro.id).await.unwrap();
    let at = revoked.revoked_at.unwrap();
    // Revoking again keeps the first time.
    let twice = s.revoke_api_key(ro.id).await.unwrap();
    assert_eq!(twice.revoked_at, Some(at));
    assert_eq!(
        s.api_key_by_hash("h2").await.unwrap().unwrap().revoked_at,
        Some(at)
    );
    assert!(matches!(
        s.revoke_api_key(999_999).await,
        Err(StoreError::NotFound(_))
    ));
    let all = s.api_keys().await.unwrap();
    assert_eq!(
        all.iter().map(|k| k.id).collect::<Vec<_>>(),
        [ops.id, ro.id]
    );
}

async fn audit_log_pages_newest_first(db: &TestDb) {
    let s = &db.store;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            s.record_audit(&NewAuditEntry {
                key_id: Some(1),
                key_name: Some("ops".into()),
                role: Some("operator".into()),
                action: "dead_letter.replay".into(),
                target: format!("dead letter {n}"),
                source: Some("127.0.0.1".into()),
                outcome: "ok".into(),
            })
            .await
            .unwrap(),
        );
    }
    let page = s.audit_log(3, None).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[4], ids[3], ids[2]]
    );
    assert_eq!(page[0].target, "dead letter 4");
    assert_eq!(page[0].source.as_deref(), Some("127.0.0.1"));
    assert_eq!(page[0].role.as_deref(), Some("operator"));
    let next = s.audit_log(3, Some(page[2].id)).await.unwrap();
    assert_eq!(
        next.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[1], ids[0]]
    );
}

async fn recent_ledger_pages_newest_first(db: &TestDb) {
    let s = &db.store;
    assert!(s.recent_ledger(None, 10, None).await.unwrap().is_empty());
    // Five entries of `f` and two of `g`, interleaved, over three commits.
    for (flow, ids) in [
        ("f", ["a", "b", "c"]),
        ("g", ["x", "y", "-"]),
        ("f", ["d", "e", "-"]),
    ] {
        let ledger = ids
            .iter()
            .filter(|id| **id != "-")
            .map(|id| entry(flow, id, &format!("K{id}"), Outcome::Created))
            .collect();
        s.commit(
            flow,
            &Commit {
                ledger,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let ids = |entries: &[LedgerEntry]| {
        entries
            .iter()
            .map(|e| e.source_id.clone())
            .collect::<Vec<_>>()
    };
    let page = s.recent_ledger(Some("f"), 3, None).await.unwrap();
    assert_eq!(ids(&page), ["e", "d", "c"]);
    assert_eq!(page[0].key.as_deref(), Some("Ke"));
    assert_eq!(page[0].target_id.as_deref(), Some("t-e"));
    assert_eq!(page[0].outcome, Outcome::Created);
    assert!(page[0].id > page[1].id && page[1].id > page[2].id);
    // The next page starts below the last id shown, and ends with the flow's first entry.
    let next = s
        .recent_ledger(Some("f"), 3, Some(page[2].id))
        .await
        .unwrap();
    assert_eq!(ids(&next), ["b", "a"]);
    assert!(
        s.recent_ledger(Some("f"), 3, Some(next[1].id))
            .await
            .unwrap()
            .is_empty()
    );
    // Every flow at once, and a flow with no entry.
    assert_eq!(
        ids(&s.recent_ledger(None, 4, None).await.unwrap()),
        ["e", "d", "y", "x"]
    );
    assert!(
        s.recent_ledger(Some("h"), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn request_latencies_time_delivery(db: &TestDb) {
    let s = &db.store;
    // An entry for record 1 before any request is no request's delivery.
    s.commit(
        "customers",
        &Commit {
            ledger: vec![entry("customers", "1", "C1", Outcome::Created)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let ids = queued(
        s.request_sync(
            &[
                item("customers", "1"),
                item("customers", "2"),
                item("customers", "3"),
            ],
            None,
        )
        .await
        .unwrap(),
    );
    let other = queued(s.request_sync(&[item("orders", "9")], None).await.unwrap());
    let pending = s.request_latencies(Some("customers"), 10).await.unwrap();
    assert_eq!(
        pending.iter().map(|l| l.request.id).collect::<Vec<_>>(),
        [ids[2], ids[1], ids[0]],
        "newest first"
    );
    assert!(pending.iter().all(|l| l.queued && l.done_at.is_none()));

    // Record 1 fails once, then is written; record 2 becomes a dead letter; 3 still waits.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut failed = entry("customers", "1", "C1", Outcome::Failed);
    failed.error = Some("timeout".into());
    let mut updated = entry("customers", "1", "C1", Outcome::Updated);
    updated.at = failed.at + chrono::Duration::milliseconds(30);
    s.commit(
        "customers",
        &Commit {
            ledger: vec![failed, updated.clone()],
            dead_letters: vec![dead("2")],
            acked: vec![ids[0], ids[1]],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let got = s.request_latencies(Some("customers"), 10).await.unwrap();
    let by_id = |id: i64| got.iter().find(|l| l.request.id == id).unwrap();
    let one = by_id(ids[0]);
    assert!(!one.queued);
    let done = one.done_at.expect("record 1 was delivered");
    assert_eq!(
        done.timestamp_millis(),
        updated.at.timestamp_millis(),
        "the first entry that left the target up to date, not the failure nor the older entry"
    );
    assert!(done - one.request.requested_at >= chrono::Duration::milliseconds(50));
    let two = by_id(ids[1]);
    assert!(
        !two.queued && two.done_at.is_none(),
        "a dead letter is no delivery"
    );
    let three = by_id(ids[2]);
    assert!(three.queued && three.done_at.is_none());

    // The limit keeps the newest; no flow means every flow.
    let newest = s.request_latencies(Some("customers"), 1).await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].request.id, ids[2]);
    let all = s.request_latencies(None, 10).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].request.id, other[0]);
    assert_eq!(all[0].request.flow, "orders");
}

// ---------------------------------------------------------------------------------------------
// Two-way sync

fn baseline(pair: &str, key: &str, fields: serde_json::Value) -> BaselineUpdate {
    BaselineUpdate {
        pair: pair.into(),
        key: key.into(),
        fields: fields.as_object().unwrap().clone(),
    }
}

async fn baselines_commit_with_the_batch(db: &TestDb) {
    let s = &db.store;
    let keys = vec!["C1".to_owned(), "C2".to_owned(), "C3".to_owned()];
    assert!(s.baselines("customers", &keys).await.unwrap().is_empty());
    s.commit(
        "to_erp",
        &Commit {
            xrefs: vec![xref("1", "C1", "C1", "h1")],
            baselines: vec![
                baseline(
                    "customers",
                    "C1",
                    json!({"name": "Ada", "credit_limit": "10.00"}),
                ),
                baseline("customers", "C2", json!({"name": "Bob"})),
                baseline("other", "C3", json!({"name": "Eve"})),
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A later commit replaces the whole map of a key.
    s.commit(
        "to_crm",
        &Commit {
            baselines: vec![baseline(
                "customers",
                "C2",
                json!({"name": "Bob B", "phone": null}),
            )],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let found = s.baselines("customers", &keys).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        json!(found["C1"]),
        json!({"name": "Ada", "credit_limit": "10.00"})
    );
    assert_eq!(json!(found["C2"]), json!({"name": "Bob B", "phone": null}));
    assert!(s.baselines("customers", &[]).await.unwrap().is_empty());
    // A failed commit leaves the baseline as it was (one transaction): the conflicts, written
    // after the baselines, fail.
    db.exec("ALTER TABLE ferry_conflicts RENAME TO ferry_conflicts_moved")
        .await;
    let failed = s
        .commit(
            "to_erp",
            &Commit {
                baselines: vec![baseline("customers", "C1", json!({"name": "Lost"}))],
                conflicts: vec![conflict("C1", "1", "2")],
                ..Default::default()
            },
        )
        .await;
    db.exec("ALTER TABLE ferry_conflicts_moved RENAME TO ferry_conflicts")
        .await;
    assert!(failed.is_err());
    let found = s.baselines("customers", &keys[..1]).await.unwrap();
    assert_eq!(found["C1"]["name"], "Ada");
}

fn conflict(key: &str, source: &str, target: &str) -> NewConflict {
    NewConflict {
        pair: "customers".into(),
        flow: "to_erp".into(),
        key: key.into(),
        source_id: Some(format!("s-{key}")),
        target_id: Some(key.into()),
        fields: vec!["phone".into()],
        source_values: json!({"phone": source}).as_object().unwrap().clone(),
        target_values: json!({"phone": target}).as_object().unwrap().clone(),
        base_values: json!({"phone": "0"}).as_object().unwrap().clone(),
        source_at: Some(Utc::now()),
        target_at: None,
    }
}

async fn conflicts_queue_and_resolve(db: &TestDb) {
    let s = &db.store;
    s.commit(
        "to_erp",
        &Commit {
            conflicts: vec![conflict("C1", "1", "2"), conflict("C2", "a", "b")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Found again (by either flow) with newer versions: the open conflict is refreshed, not
    // doubled.
    s.commit(
        "to_crm",
        &Commit {
            conflicts: vec![conflict("C1", "11", "22")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let open = s
        .conflicts(&ConflictFilter {
            state: Some(ConflictState::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open[0].found.key, "C2", "newest first");
    let c1 = open.iter().find(|c| c.found.key == "C1").unwrap();
    assert_eq!(c1.found.source_values["phone"], "11");
    assert_eq!(c1.found.target_values["phone"], "22");
    assert_eq!(c1.found.base_values["phone"], "0");
    assert_eq!(c1.found.fields, ["phone"]);
    assert!(c1.found.source_at.is_some() && c1.found.target_at.is_none());
    // Reports of changes not propagated count per flow (the last 24 hours).
    let mut old = entry("to_crm", "C9", "C9", Outcome::NotOwner);
    old.at = Utc::now() - chrono::Duration::days(2);
    s.commit(
        "to_crm",
        &Commit {
            ledger: vec![entry("to_crm", "C1", "C1", Outcome::NotOwner), old],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let states = s.flow_states().await.unwrap();
    let to_erp = states.iter().find(|f| f.flow == "to_erp").unwrap();
    assert_eq!((to_erp.conflicts, to_erp.not_owner), (2, 0));
    let to_crm = states.iter().find(|f| f.flow == "to_crm").unwrap();
    assert_eq!((to_crm.conflicts, to_crm.not_owner), (0, 1));
    let reported = s.ledger(Some("to_crm"), "C1").await.unwrap();
    assert_eq!(reported[0].outcome, Outcome::NotOwner);

    let mut ledger = entry("to_erp", "s-C1", "C1", Outcome::Updated);
    ledger.trigger = "conflict 1 resolved by cli".into();
    let resolution = ConflictResolution {
        pick: "source".into(),
        resolved_by: "cli".into(),
        baseline: baseline("customers", "C1", json!({"phone": "11"})),
        ledger,
    };
    let done = s.resolve_conflict(c1.id, &resolution).await.unwrap();
    assert_eq!(done.state, ConflictState::Resolved);
    assert_eq!(done.pick.as_deref(), Some("source"));
    assert_eq!(done.resolved_by.as_deref(), Some("cli"));
    let base = s.baselines("customers", &["C1".into()]).await.unwrap();
    assert_eq!(base["C1"]["phone"], "11");
    let entries = s.ledger(Some("to_erp"), "C1").await.unwrap();
    assert_eq!(
        entries.last().unwrap().trigger,
        "conflict 1 resolved by cli"
    );
    // Only once.
    let again = s.resolve_conflict(c1.id, &resolution).await;
    assert!(
        matches!(&again, Err(StoreError::NotFound(m)) if m.contains("resolved")),
        "{again:?}"
    );
    assert!(matches!(
        s.resolve_conflict(999_999, &resolution).await,
        Err(StoreError::NotFound(_))
    ));
    // A new conflict on a resolved key opens a new review item.
    s.commit(
        "to_erp",
        &Commit {
            conflicts: vec![conflict("C1", "x", "y")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let all = s.conflicts(&ConflictFilter::default()).await.unwrap();
    assert_eq!(all.len(), 3);
    let only = s
        .conflicts(&ConflictFilter {
            pair: Some("nope".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(only.is_empty());
    assert_eq!(s.conflict(c1.id).await.unwrap().unwrap().id, c1.id);
    assert!(s.conflict(999_999).await.unwrap().is_none());
}

async fn reconciliations_keep_counts_and_reports(db: &TestDb) {
    let s = &db.store;
    let first = s.start_reconciliation("customers", "cli").await.unwrap();
    let failed = s.start_reconciliation("orders", "schedule").await.unwrap();
    let running = s.start_reconciliation("customers", "api").await.unwrap();
    assert!(first < failed && failed < running);

    // Running: no end, no counts, no verdict.
    let r = s.reconciliation(running).await.unwrap().unwrap();
    assert_eq!((r.flow.as_str(), r.trigger.as_str()), ("customers", "api"));
    assert!(r.finished_at.is_none() && r.counts.is_none() && r.clean.is_none());
    assert!(r.report.is_none() && r.error.is_none());

    let counts = ReconcileCounts {
        source: 3,
        target: 3,
        matched: 2,
        equal: 1,
        differing: 1,
        missing_in_target: 1,
        missing_in_source: 1,
        duplicate_keys_source: 0,
        duplicate_keys_target: 2,
        unmapped: 0,
        dead_lettered: 4,
    };
    let report = json!({"flow": "customers", "differing": [{"key": "C1",
        "fields": [{"field": "name", "source": "客户一", "target": null}]}]});
    s.finish_reconciliation(
        first,
        &ReconciliationEnd::Finished {
            counts,
            report: report.clone(),
        },
    )
    .await
    .unwrap();
    s.finish_reconciliation(
        failed,
        &ReconciliationEnd::Failed("flow `orders`: target unreachable".into()),
    )
    .await
    .unwrap();

    let r = s.reconciliation(first).await.unwrap().unwrap();
    assert!(r.finished_at.is_some_and(|f| f >= r.started_at));
    assert_eq!(r.counts, Some(counts));
    assert_eq!(r.clean, Some(false));
    assert_eq!(r.report, Some(report), "the report comes back whole");
    assert_eq!(r.error, None);

    let f = s.reconciliation(failed).await.unwrap().unwrap();
    assert_eq!(
        f.error.as_deref(),
        Some("flow `orders`: target unreachable")
    );
    assert!(f.finished_at.is_some() && f.counts.is_none() && f.clean.is_none());

    // A clean one says so, known failures (dead-lettered records) and all.
    let clean = s.start_reconciliation("orders", "console").await.unwrap();
    s.finish_reconciliation(
        clean,
        &ReconciliationEnd::Finished {
            counts: ReconcileCounts {
                source: 6,
                target: 5,
                matched: 5,
                equal: 5,
                dead_lettered: 1,
                ..ReconcileCounts::default()
            },
            report: json!({}),
        },
    )
    .await
    .unwrap();
    let r = s.reconciliation(clean).await.unwrap().unwrap();
    assert_eq!(r.clean, Some(true));
    assert_eq!(r.counts.map(|c| c.dead_lettered), Some(1));

    // Listings: newest first, per flow or all, limited, without the reports.
    let all = s.reconciliations(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        [clean, running, failed, first]
    );
    assert!(all.iter().all(|r| r.report.is_none()));
    assert_eq!(all[3].counts, Some(counts), "listings carry the counts");
    let customers = s.reconciliations(Some("customers"), 10).await.unwrap();
    assert_eq!(
        customers.iter().map(|r| r.id).collect::<Vec<_>>(),
        [running, first]
    );
    assert_eq!(
        s.reconciliations(Some("orders"), 1).await.unwrap()[0].id,
        clean
    );
    assert!(s.reconciliation(clean + 100).await.unwrap().is_none());
    assert!(matches!(
        s.finish_reconciliation(clean + 100, &ReconciliationEnd::Failed("x".into()))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Fencing (issue 13 item 4) and one dead letter per record (item 5)

/// A scanned batch's commit of records `ids` under `epoch`, moving the cursor to `cursor`.
fn scanned(cursor: &str, ids: &[&str], epoch: u64) -> Commit {
    Commit {
        epoch: Some(epoch),
        cursor: Some(cursor.into()),
        xrefs: ids
            .iter()
            .map(|id| new_xref(id, &format!("K{id}"), &format!("t{id}"), "h"))
            .collect(),
        ledger: ids
            .iter()
            .map(|id| entry("f", id, &format!("K{id}"), Outcome::Created))
            .collect(),
        ..Default::default()
    }
}

async fn ledger_rows(s: &Arc<dyn Store>, id: &str) -> usize {
    s.ledger(Some("f"), id).await.unwrap().len()
}

async fn a_commit_under_an_overtaken_claim_records_nothing(db: &TestDb) {
    let s = &db.store;
    let first = s.claim_flow("f").await.unwrap();
    s.commit("f", &scanned("p1", &["a"], first)).await.unwrap();
    // Another process (or this one after a restart) claims the flow.
    let second = s.claim_flow("f").await.unwrap();
    assert!(second > first, "every claim raises the epoch");
    assert_eq!(
        s.claim_flow("other").await.unwrap(),
        1,
        "epochs are per flow"
    );

    // The stale claimant's next batch, in both shapes a commit takes.
    let err = s.commit("f", &scanned("p2", &["b"], first)).await;
    assert!(
        matches!(err, Err(StoreError::Fenced { ours, current, .. }) if ours == first && current == second),
        "{err:?}"
    );
    let mut mixed = scanned("p2", &["b"], first);
    mixed.dead_letters.push(dead("c"));
    mixed.acked.push(1);
    let err = s.commit("f", &mixed).await.unwrap_err();
    assert_eq!(err.kind(), ferry_model::ErrorKind::Conflict, "not retried");
    assert!(err.to_string().contains("will be read again"), "{err}");

    // Nothing of either landed: cursor, xref, ledger, dead letters.
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("p1"));
    assert!(s.xrefs("f", &["b".to_owned()]).await.unwrap().is_empty());
    assert_eq!(ledger_rows(s, "b").await, 0);
    assert!(
        s.dead_letters(&DeadLetterFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // The current claimant commits as usual; an unfenced commit (tools) is not checked.
    s.commit("f", &scanned("p3", &["b"], second)).await.unwrap();
    assert_eq!(ledger_rows(s, "b").await, 1);
    s.commit(
        "f",
        &Commit {
            cursor: Some("p4".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("p4"));
}

/// PostgreSQL finishes a statement whose client died. A claim made while such a commit is in
/// flight waits for it, so the cursor read after the claim includes it; a commit that starts
/// after the claim is refused. Either way the batch is recorded once.
async fn a_claim_waits_for_a_commit_in_flight_or_fences_it(db: &TestDb) {
    let s = &db.store;
    let first = s.claim_flow("f").await.unwrap();
    s.commit("f", &scanned("p1", &["a"], first)).await.unwrap();
    if matches!(db.kind, Kind::Postgres) {
        // Every ledger insert of record `slow` takes 1.5 s from now on.
        db.exec(
            "CREATE FUNCTION ferry_test_slow() RETURNS trigger AS $$ BEGIN \
             IF NEW.source_id = 'slow' THEN PERFORM pg_sleep(1.5); END IF; RETURN NEW; END \
             $$ LANGUAGE plpgsql; \
             CREATE TRIGGER ferry_test_slow BEFORE INSERT ON ferry_ledger \
             FOR EACH ROW EXECUTE FUNCTION ferry_test_slow()",
        )
        .await;
    }
    let late = {
        let s = s.clone();
        tokio::spawn(async move { s.commit("f", &scanned("p2", &["slow"], first)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The restarted process: claim, then read the cursor.
    let second = s.claim_flow("f").await.unwrap();
    let cursor = s.cursor("f").await.unwrap();
    let late = late.await.unwrap();
    match &late {
        Ok(()) => assert_eq!(
            cursor.as_deref(),
            Some("p2"),
            "the claim saw the late commit"
        ),
        Err(StoreError::Fenced { .. }) => assert_eq!(cursor.as_deref(), Some("p1")),
        Err(e) => panic!("{e}"),
    }
    if matches!(db.kind, Kind::Postgres) {
        assert!(late.is_ok(), "the commit was in flight before the claim");
    }
    // The restarted process re-reads from the cursor it saw: a record the late commit holds
    // is not new to it; the ledger has the batch once.
    let known = s.xrefs("f", &["slow".to_owned()]).await.unwrap();
    if known.is_empty() {
        s.commit("f", &scanned("p2", &["slow"], second))
            .await
            .unwrap();
    }
    assert_eq!(ledger_rows(s, "slow").await, 1);
    // A commit sent after the claim is refused whatever it carries.
    let err = s.commit("f", &scanned("p3", &["z"], first)).await;
    assert!(matches!(err, Err(StoreError::Fenced { .. })), "{err:?}");
    assert_eq!(s.cursor("f").await.unwrap().as_deref(), Some("p2"));
}

fn dead_with(id: &str, error: &str, attempts: u32) -> NewDeadLetter {
    NewDeadLetter {
        error: error.into(),
        payload: json!({"id": id, "fields": {"email": error}}),
        attempts,
        ..dead(id)
    }
}

async fn one_open_dead_letter_per_record(db: &TestDb) {
    let s = &db.store;
    let fail = |d: Vec<NewDeadLetter>| Commit {
        dead_letters: d,
        ..Default::default()
    };
    s.commit("f", &fail(vec![dead_with("s1", "first", 1)]))
        .await
        .unwrap();
    // Failing again, twice in one batch, then in another flow.
    s.commit(
        "f",
        &fail(vec![
            dead_with("s1", "second", 2),
            dead_with("s1", "third", 1),
        ]),
    )
    .await
    .unwrap();
    s.commit("g", &fail(vec![dead_with("s1", "other flow", 1)]))
        .await
        .unwrap();
    let open = |flow: &str| DeadLetterFilter {
        flow: Some(flow.into()),
        ..Default::default()
    };
    let f = s.dead_letters(&open("f")).await.unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    let dl = &f[0];
    assert_eq!(dl.attempts, 4, "attempts add up");
    assert_eq!(dl.error, "third", "the newest error");
    assert_eq!(dl.payload["fields"]["email"], "third", "the newest payload");
    assert_eq!(s.dead_letters(&open("g")).await.unwrap().len(), 1);
    // Reconciliation's lookup: the record's live dead letter, in its flow only.
    let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let live = s.live_dead_letters("f", &ids(&["s1", "s2"])).await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!((live["s1"].id, live["s1"].error.as_str()), (dl.id, "third"));
    assert_ne!(
        s.live_dead_letters("g", &ids(&["s1"])).await.unwrap()["s1"].id,
        dl.id
    );
    assert!(s.live_dead_letters("f", &[]).await.unwrap().is_empty());

    // A replay that fails again reopens the same dead letter.
    s.replay_dead_letter(dl.id, "replay", None).await.unwrap();
    let live = s.live_dead_letters("f", &ids(&["s1"])).await.unwrap();
    assert_eq!(
        live["s1"].state,
        DeadLetterState::Replayed,
        "replayed and queued: still live"
    );
    s.commit("f", &fail(vec![dead_with("s1", "still bad", 1)]))
        .await
        .unwrap();
    let again = s.dead_letter(dl.id).await.unwrap().unwrap();
    assert_eq!(again.state, DeadLetterState::Open);
    assert_eq!((again.attempts, again.error.as_str()), (5, "still bad"));
    assert_eq!(s.dead_letters(&open("f")).await.unwrap().len(), 1);

    // Skipping closes it; a later failure opens a new one (the skipped one stays as it was).
    s.skip_dead_letter(dl.id, "op").await.unwrap();
    s.commit("f", &fail(vec![dead_with("s1", "new episode", 1)]))
        .await
        .unwrap();
    let now = s.dead_letters(&open("f")).await.unwrap();
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, dl.id);
    assert_eq!(now[0].attempts, 1);
    let live = s.live_dead_letters("f", &ids(&["s1"])).await.unwrap();
    assert_eq!(live["s1"].id, now[0].id, "the skipped one is not live");
    let skipped = s.dead_letter(dl.id).await.unwrap().unwrap();
    assert_eq!(
        (skipped.state, skipped.attempts),
        (DeadLetterState::Skipped, 5)
    );

    // Counts are records.
    let states = s.flow_states().await.unwrap();
    let f = states.iter().find(|st| st.flow == "f").unwrap();
    assert_eq!(f.dead_letters, 1);
}

/// Stores written before one dead letter per record may hold several open ones for a record:
/// the migration folds them into the newest, queue items follow it.
async fn migration_folds_duplicate_dead_letters(db: &TestDb) {
    // Back to schema 9, as such a store was.
    db.exec(
        "DROP INDEX ferry_dead_letters_live; DROP TABLE ferry_flow_epochs; \
         ALTER TABLE ferry_runs DROP COLUMN not_found; ALTER TABLE ferry_runs DROP COLUMN idle_runs; \
         ALTER TABLE ferry_reconciliations DROP COLUMN dead_lettered; \
         DELETE FROM ferry_meta; INSERT INTO ferry_meta (schema_version) VALUES (9)",
    )
    .await;
    let row = |id: i64, source: &str, state: &str, attempts: i64| {
        format!(
            "INSERT INTO ferry_dead_letters (id, flow, source_id, key, payload, error_kind, \
             error, attempts, state, created_at, updated_at) VALUES ({id}, 'f', '{source}', \
             NULL, '{{}}', 'validation', 'e{id}', {attempts}, '{state}', {id}, {id})"
        )
    };
    let rows = [
        row(1, "a", "open", 3),
        row(2, "a", "replayed", 1),
        row(3, "a", "open", 2),
        row(4, "a", "skipped", 7),
        row(5, "b", "open", 1),
    ];
    db.exec(&rows.join("; ")).await;
    db.exec(
        "INSERT INTO ferry_queue (flow, source_id, trigger, attempts, available_at, \
         dead_letter_id, enqueued_at) VALUES ('f', 'a', 'replay', 0, 0, 2, 0)",
    )
    .await;
    let again = ferry_store::open(&db.url).await.unwrap();
    let open = again
        .dead_letters(&DeadLetterFilter::default())
        .await
        .unwrap();
    let view: Vec<(i64, &str, u32, &str)> = open
        .iter()
        .map(|d| (d.id, d.source_id.as_str(), d.attempts, d.error.as_str()))
        .collect();
    assert_eq!(view, [(5, "b", 1, "e5"), (3, "a", 6, "e3")]);
    assert_eq!(
        again.dead_letter(4).await.unwrap().unwrap().state,
        DeadLetterState::Skipped,
        "closed ones are history"
    );
    let leased = again.lease("f", 10, LONG).await.unwrap();
    assert_eq!(leased[0].dead_letter_id, Some(3));
    assert_eq!(again.claim_flow("f").await.unwrap(), 1);
}

/// Runs of `flow`, newest first: (id, trigger, idle runs).
async fn run_rows(s: &Arc<dyn Store>, flow: &str) -> Vec<(i64, String, u64)> {
    s.runs(Some(flow), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.trigger, r.idle_runs))
        .collect()
}

async fn idle_runs_share_one_row(db: &TestDb) {
    let s = &db.store;
    let idle = RunStats::default();
    let run = |trigger: &'static str, stats: RunStats, error: Option<&'static str>| async move {
        let id = s.start_run("f", trigger).await.unwrap();
        s.finish_run(id, &stats, error).await.unwrap();
        id
    };
    let p1 = run("poll", idle, None).await;
    let first = s.runs(Some("f"), 1).await.unwrap().remove(0);
    assert_eq!((first.id, first.idle_runs), (p1, 1));
    // The next idle poll takes the row over: one row, newest id, first start, latest end.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let p2 = run("poll", idle, None).await;
    let rows = s.runs(Some("f"), 100).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id, rows[0].idle_runs), (p2, 2));
    assert_eq!(rows[0].started_at, first.started_at);
    assert!(rows[0].finished_at.unwrap() > first.finished_at.unwrap());
    // Idle runs of another trigger keep a row of their own, and do not break the polls' row.
    let q1 = run("queue", idle, None).await;
    let p3 = run("poll", idle, None).await;
    assert_eq!(
        run_rows(s, "f").await,
        [(p3, "poll".into(), 3), (q1, "queue".into(), 1)]
    );
    // A run that did something, or stopped with an error, is a row of its own; the idle runs
    // after it start a new row.
    let busy = RunStats {
        read: 1,
        unchanged: 1,
        ..RunStats::default()
    };
    let p4 = run("poll", busy, None).await;
    let p5 = run("poll", idle, None).await;
    let p6 = run("poll", idle, Some("crm down")).await;
    let p7 = run("poll", idle, None).await;
    assert_eq!(
        run_rows(s, "f").await,
        [
            (p7, "poll".into(), 1),
            (p6, "poll".into(), 0),
            (p5, "poll".into(), 1),
            (p4, "poll".into(), 0),
            (p3, "poll".into(), 3),
            (q1, "queue".into(), 1),
        ]
    );
    // A run still going is not a row of idle runs: the idle run after it is not folded in.
    let running = s.start_run("f", "poll").await.unwrap();
    let p8 = run("poll", idle, None).await;
    assert_eq!(
        run_rows(s, "f").await[..2],
        [(p8, "poll".into(), 1), (running, "poll".into(), 0)]
    );
    // `ferry status`: the last run says the flow is polled, and when.
    let state = s.flow_states().await.unwrap().remove(0);
    let last = state.last_run.unwrap();
    assert_eq!((last.id, last.idle_runs), (p8, 1));
    assert!(last.finished_at.is_some());
    // Other flows are apart.
    let g = s.start_run("g", "poll").await.unwrap();
    s.finish_run(g, &idle, None).await.unwrap();
    assert_eq!(run_rows(s, "g").await, [(g, "poll".into(), 1)]);
}

/// Calls `prune` in batches of `batch` until it says nothing older remains; returns the rows
/// deleted and the number of calls.
async fn prune_all(s: &Arc<dyn Store>, table: Retained, batch: u32) -> (u64, usize) {
    let before = Utc::now() - chrono::Duration::days(1);
    let (mut deleted, mut calls, mut after) = (0, 0, 0);
    loop {
        let pruned = s.prune(table, before, after, batch).await.unwrap();
        deleted += pruned.deleted;
        calls += 1;
        match pruned.next {
            Some(next) => after = next,
            None => return (deleted, calls),
        }
        assert!(calls < 100, "pruning {table:?} does not end");
    }
}

/// 2001-01-01, as the store writes times.
const LONG_AGO: i64 = 978_307_200_000;

async fn prune_deletes_old_history_and_keeps_what_is_needed(db: &TestDb) {
    let s = &db.store;
    // Runs: flow a has four old runs and a recent one; flow b one old run, its latest.
    let mut a = Vec::new();
    for _ in 0..5 {
        let id = s.start_run("a", "poll").await.unwrap();
        s.finish_run(
            id,
            &RunStats {
                read: 1,
                ..RunStats::default()
            },
            None,
        )
        .await
        .unwrap();
        a.push(id);
    }
    let b = s.start_run("b", "poll").await.unwrap();
    db.exec(&format!(
        "UPDATE ferry_runs SET started_at = {LONG_AGO}, finished_at = {LONG_AGO} \
         WHERE id IN ({}, {}, {}, {}, {b})",
        a[0], a[1], a[2], a[3]
    ))
    .await;
    assert_eq!(prune_all(s, Retained::Runs, 2).await.0, 4);
    let left: Vec<i64> = s
        .runs(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, [b, a[4]], "recent runs and each flow's latest stay");

    // Ledger (times grow with ids, as the engine writes them): old entries of a record with
    // nothing open, of the records whose dead letters will be open or replayed, a recent one.
    let mut ledger = Vec::new();
    for id in ["done", "open", "replayed", "done", "resolved"] {
        ledger.push(entry("a", id, &format!("K-{id}"), Outcome::Updated));
    }
    s.commit(
        "a",
        &Commit {
            ledger,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    db.exec(&format!("UPDATE ferry_ledger SET at = {LONG_AGO}"))
        .await;
    s.commit(
        "a",
        &Commit {
            ledger: vec![entry("a", "done", "K-done", Outcome::Unchanged)],
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Dead letters: open, replayed, resolved and skipped ones, old and recent.
    s.commit(
        "a",
        &Commit {
            dead_letters: ["open", "replayed", "resolved", "skipped", "skipped-now"]
                .map(dead)
                .to_vec(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dls = s
        .dead_letters(&DeadLetterFilter {
            limit: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    let id_of = |source: &str| dls.iter().find(|d| d.source_id == source).unwrap().id;
    s.replay_dead_letter(id_of("replayed"), "op", None)
        .await
        .unwrap();
    s.skip_dead_letter(id_of("skipped"), "op").await.unwrap();
    s.skip_dead_letter(id_of("skipped-now"), "op")
        .await
        .unwrap();
    s.commit(
        "a",
        &Commit {
            delivered: vec!["resolved".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    db.exec(&format!(
        "UPDATE ferry_dead_letters SET created_at = {LONG_AGO}, updated_at = {LONG_AGO} \
         WHERE source_id <> 'skipped-now'"
    ))
    .await;

    // Audit: two old entries, one recent.
    for n in 0..3 {
        s.record_audit(&NewAuditEntry {
            key_id: None,
            key_name: None,
            role: None,
            action: "sync".into(),
            target: format!("flow a id {n}"),
            source: Some("cli".into()),
            outcome: "ok".into(),
        })
        .await
        .unwrap();
    }
    let audit = s.audit_log(10, None).await.unwrap();
    db.exec(&format!(
        "UPDATE ferry_audit SET at = {LONG_AGO} WHERE id <> {}",
        audit[0].id
    ))
    .await;

    // Sync requests: two old ones, one of them still queued.
    let ids = queued(
        s.request_sync(&[item("a", "r1"), item("a", "r2")], None)
            .await
            .unwrap(),
    );
    s.commit(
        "a",
        &Commit {
            acked: vec![ids[0]],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    db.exec(&format!(
        "UPDATE ferry_sync_requests SET requested_at = {LONG_AGO}"
    ))
    .await;

    // Batches of two: every table takes several calls and ends.
    let (deleted, calls) = prune_all(s, Retained::DeadLetters, 2).await;
    assert_eq!(deleted, 2, "the old resolved and skipped dead letters");
    assert!(calls >= 3, "{calls} calls");
    let left = s
        .dead_letters(&DeadLetterFilter {
            states: vec![
                DeadLetterState::Open,
                DeadLetterState::Replayed,
                DeadLetterState::Resolved,
                DeadLetterState::Skipped,
            ],
            limit: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut left: Vec<&str> = left.iter().map(|d| d.source_id.as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, ["open", "replayed", "skipped-now"]);

    let (deleted, _) = prune_all(s, Retained::Ledger, 2).await;
    // The skip entries (recent), the open and replayed records' story and the recent
    // entry stay; the old entries of `done` and `resolved` go.
    assert_eq!(deleted, 3);
    let done = s.ledger(Some("a"), "done").await.unwrap();
    assert_eq!(
        done.iter().map(|e| e.outcome).collect::<Vec<_>>(),
        [Outcome::Unchanged]
    );
    assert_eq!(s.ledger(Some("a"), "open").await.unwrap().len(), 1);
    assert_eq!(s.ledger(Some("a"), "replayed").await.unwrap().len(), 1);
    assert!(s.ledger(Some("a"), "resolved").await.unwrap().is_empty());

    assert_eq!(prune_all(s, Retained::Audit, 2).await.0, 2);
    let audit_left = s.audit_log(10, None).await.unwrap();
    assert_eq!(
        audit_left.iter().map(|e| e.id).collect::<Vec<_>>(),
        [audit[0].id]
    );

    assert_eq!(prune_all(s, Retained::SyncRequests, 2).await.0, 1);
    assert!(s.sync_request(ids[0]).await.unwrap().is_none());
    assert!(
        s.sync_request(ids[1]).await.unwrap().is_some(),
        "a request whose item still waits is kept"
    );

    // Nothing else is touched, and a second round finds nothing.
    for table in Retained::ALL {
        assert_eq!(prune_all(s, table, 1000).await, (0, 1), "{table:?}");
    }
    assert_eq!(
        s.queue_depth(Some("a")).await.unwrap(),
        2,
        "queue items stay"
    );
}
