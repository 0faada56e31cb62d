//! Polls that settle (issue 13): a watermark's overlap window is read again only until it has
//! passed, idle polls share one run row, and `ferry run` deletes history past its retention
//! while keeping what is still needed. With the real `ferry` binary on SQLite files.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    trigger: TRIGGER
    source: { system: crm, table: customers, watermark: { column: updated_at, overlap: OVERLAP } }
    target: { system: erp, table: erp_customers }
    mapping:
      code: customer_no
      name: name
"#;

/// crm.db with `n` customers, every one stamped `stamp` (one mass update), and an empty
/// target; the flow runs on `trigger` with the watermark's `overlap`.
async fn setup(dir: &Path, trigger: &str, overlap: &str, n: u32, stamp: &str) {
    let config = CONFIG
        .replace("TRIGGER", trigger)
        .replace("OVERLAP", overlap);
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, name TEXT NOT NULL, updated_at TEXT NOT NULL)")
        .execute(&mut crm)
        .await
        .unwrap();
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO customers ");
    q.push_values(1..=n, |mut b, i| {
        b.push_bind(i64::from(i))
            .push_bind(format!("C{i:04}"))
            .push_bind(format!("客户{i}"))
            .push_bind(stamp.to_owned());
    });
    q.build().execute(&mut crm).await.unwrap();
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql("CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT NOT NULL)")
        .execute(&mut erp)
        .await
        .unwrap();
}

async fn add_customer(dir: &Path, id: u32, stamp: &str) {
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query("INSERT INTO customers VALUES (?, ?, ?, ?)")
        .bind(i64::from(id))
        .bind(format!("C{id:04}"))
        .bind(format!("客户{id}"))
        .bind(stamp)
        .execute(&mut crm)
        .await
        .unwrap();
}

async fn target_count(dir: &Path) -> i64 {
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::query_scalar("SELECT count(*) FROM erp_customers")
        .fetch_one(&mut erp)
        .await
        .unwrap()
}

/// `ferry sync customers --json`: the run report's (read, created, unchanged).
fn sync(dir: &Path) -> (u64, u64, u64) {
    let report = run_json(dir, &["sync", "customers", "--json"]);
    let n = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    (n("read"), n("created"), n("unchanged"))
}

/// Syncs until a scan reads nothing; every scan before must read `window` rows, all
/// unchanged (the overlap window read again). Returns how many scans read the window.
fn sync_until_settled(dir: &Path, window: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rereads = 0;
    loop {
        match sync(dir) {
            (0, 0, 0) => return rereads,
            report => assert_eq!(report, (window, 0, window), "scan {}", rereads + 1),
        }
        rereads += 1;
        assert!(Instant::now() < deadline, "the window never settled");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mass_update_is_read_again_only_until_the_overlap_has_passed() {
    let dir = scratch();
    let dir = dir.path();
    // One mass update: 400 rows, one timestamp (text, no zone: elapsed time is what counts,
    // not how the stamp compares with this host's clock).
    setup(dir, "manual", "2s", 400, "2026-01-01 00:00:00").await;
    assert_eq!(sync(dir), (400, 400, 0));
    // The next scan always reads the window again (even one that settles it), then the
    // polls go on reading it until the 2 s overlap has passed; then a poll reads nothing.
    let started = Instant::now();
    let rereads = sync_until_settled(dir, 400);
    assert!(rereads >= 1, "the window was read again at least once");
    eprintln!(
        "the 400-row window was read {rereads} more time(s), then settled after {:?}",
        started.elapsed()
    );
    for _ in 0..2 {
        assert_eq!(sync(dir), (0, 0, 0), "a settled idle source reads nothing");
    }

    // A newer row opens a new window; a row committed late with an older stamp than it,
    // within the overlap, is still found.
    add_customer(dir, 401, "2026-01-01 00:00:10").await;
    assert_eq!(sync(dir), (1, 1, 0));
    add_customer(dir, 402, "2026-01-01 00:00:09").await;
    assert_eq!(sync(dir), (2, 1, 1), "the late row is read with the window");
    sync_until_settled(dir, 2);
    assert_eq!(target_count(dir).await, 402);
}

/// Raw SQL on the store (`.ferry/ferry.db`).
async fn store_exec(dir: &Path, sql: &str) {
    let mut db = sqlite(&dir.join(".ferry/ferry.db")).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut db)
        .await
        .unwrap();
}

async fn store_count(dir: &Path, sql: &str) -> i64 {
    let mut db = sqlite(&dir.join(".ferry/ferry.db")).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// 2001-01-01 in the store's epoch milliseconds.
const LONG_AGO: i64 = 978_307_200_000;

#[tokio::test(flavor = "multi_thread")]
async fn ferry_run_keeps_one_row_for_idle_polls_and_prunes_old_history() {
    let dir = scratch();
    let dir = dir.path();
    // No overlap: the window (the rows at the newest stamp) settles at the first scan that
    // reads it again, and the polls after are idle.
    setup(dir, "{ poll: 100ms }", "0s", 50, "2026-01-01 00:00:00").await;
    // Two syncs make the store and settle the window; then old history: the two runs, a
    // closed and an open dead letter, an audit entry and ledger entries (one of the record
    // whose dead letter is open).
    assert_eq!(sync(dir), (50, 50, 0));
    assert_eq!(sync(dir), (50, 0, 50));
    let first_run = store_count(dir, "SELECT MIN(id) FROM ferry_runs").await;
    store_exec(
        dir,
        &format!(
            "INSERT INTO ferry_dead_letters (flow, source_id, payload, error_kind, error, attempts, state, created_at, updated_at) VALUES
               ('customers', 'old-closed', '{{}}', 'validation', 'x', 1, 'skipped', {LONG_AGO}, {LONG_AGO}),
               ('customers', 'old-open', '{{}}', 'validation', 'x', 1, 'open', {LONG_AGO}, {LONG_AGO});
             INSERT INTO ferry_audit (at, action, target, source, outcome) VALUES ({LONG_AGO}, 'sync', 'flow customers', 'cli', 'ok');
             INSERT INTO ferry_ledger (flow, source_id, at, trigger, outcome, attempt) VALUES
               ('customers', 'old-closed', {LONG_AGO}, 'poll', 'failed', 1),
               ('customers', 'old-open', {LONG_AGO}, 'poll', 'failed', 1);
             UPDATE ferry_runs SET started_at = {LONG_AGO}, finished_at = {LONG_AGO};"
        ),
    )
    .await;

    let mut child = Running(
        ferry()
            .current_dir(dir)
            .args(["run", "--no-serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Idle polls, every 100 ms, pile up in one row.
    let deadline = Instant::now() + Duration::from_secs(60);
    let idle = loop {
        let status = run_json(dir, &["status", "--json"]);
        let idle = status[0]["last_run"]["idle_runs"].as_u64().unwrap_or(0);
        if idle >= 10 {
            break idle;
        }
        assert!(child.0.try_wait().unwrap().is_none(), "ferry run stopped");
        assert!(
            Instant::now() < deadline,
            "no idle polls recorded: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rows = store_count(dir, "SELECT count(*) FROM ferry_runs").await;
    eprintln!("{idle} idle polls, {rows} run rows in all");
    assert!(
        rows <= 4,
        "{idle} idle polls are one row: {rows} rows (at most the two syncs, the idle row and \
         one poll running)"
    );

    // Retention ran when `ferry run` started: old history goes, what is needed stays.
    let count = |sql: String| async move { store_count(dir, &sql).await };
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(format!(
        "SELECT count(*) FROM ferry_runs WHERE id = {first_run}"
    ))
    .await
        > 0
    {
        assert!(Instant::now() < deadline, "old runs were not pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead =
        |id: &str| format!("SELECT count(*) FROM ferry_dead_letters WHERE source_id = '{id}'");
    assert_eq!(count(dead("old-closed")).await, 0);
    assert_eq!(
        count(dead("old-open")).await,
        1,
        "an open dead letter is never deleted"
    );
    assert_eq!(
        count("SELECT count(*) FROM ferry_ledger WHERE source_id LIKE 'old-%'".into()).await,
        1,
        "the record with an open dead letter keeps its ledger"
    );
    assert_eq!(count("SELECT count(*) FROM ferry_audit".into()).await, 0);
    assert_eq!(target_count(dir).await, 50);
    sigterm(child.0.id());
    assert!(child.0.wait().unwrap().success());
}
