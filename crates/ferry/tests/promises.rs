//! The promises of the core issue, shown end to end with the real `ferry` binary:
//! - kill -9 at random points of a 100,000-record SQL→SQL sync, restarted ten times, loses
//!   nothing and duplicates nothing;
//! - 1 % invalid records land in dead letters with clear errors while the rest flow, and
//!   `ferry dlq replay` delivers them once the data is fixed;
//! - a second run with no source changes writes nothing to the target (counted by triggers
//!   in the target database itself, not by Ferry's own report);
//! - with the PostgreSQL store, a batch commit a killed process left in flight (PostgreSQL
//!   finishes it after the restart) is never recorded twice.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use rand::{RngExt, SeedableRng};
use sqlx::{Connection, Row};

const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
engine: { batch_size: 500 }
flows:
  customers:
    entity: customer
    source: { system: crm, table: customers, watermark: { column: updated_at, overlap: 2s } }
    target: { system: erp, table: erp_customers }
    mapping:
      code: customer_no
      name: { from: name, case: trim }
      email: { from: email, case: lower }
      credit_limit: { from: credit, scale: 2 }
    validate:
      email: [required, email]
"#;

/// Creates crm.db with `n` customers (every `bad_every`-th with a broken e-mail) and erp.db
/// with the target table and write-counting triggers.
async fn setup(dir: &Path, n: u32, bad_every: Option<u32>) {
    std::fs::write(dir.join("ferry.yaml"), CONFIG).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, name TEXT NOT NULL, email TEXT, credit TEXT, updated_at TEXT NOT NULL)",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    let mut tx = crm.begin().await.unwrap();
    for start in (1..=n).step_by(500) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO customers ");
        q.push_values(start..(start + 500).min(n + 1), |mut b, i| {
            let bad = bad_every.is_some_and(|k| i % k == 0);
            b.push_bind(i64::from(i))
                .push_bind(format!("C{i:07}"))
                .push_bind(format!(" 客户 {i} GmbH "))
                .push_bind(if bad {
                    format!("broken{i}@@mail")
                } else {
                    format!("Buyer{i}@Example.com")
                })
                .push_bind(format!("{}.5", i % 10_000))
                // Many rows share one timestamp, so pages end in the middle of a tie.
                .push_bind(format!("2026-01-01 00:00:{:02}", i / 2_000 % 60));
        });
        q.build().execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT, credit_limit TEXT);
         CREATE TABLE writes (kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
         INSERT INTO writes VALUES ('insert', 0), ('update', 0);
         CREATE TRIGGER count_inserts AFTER INSERT ON erp_customers BEGIN UPDATE writes SET n = n + 1 WHERE kind = 'insert'; END;
         CREATE TRIGGER count_updates AFTER UPDATE ON erp_customers BEGIN UPDATE writes SET n = n + 1 WHERE kind = 'update'; END;",
    )
    .execute(&mut erp)
    .await
    .unwrap();
}

async fn writes(dir: &Path) -> (i64, i64) {
    let mut erp = sqlite(&dir.join("erp.db")).await;
    let rows = sqlx::query("SELECT kind, n FROM writes ORDER BY kind")
        .fetch_all(&mut erp)
        .await
        .unwrap();
    let get = |k: &str| {
        rows.iter()
            .find(|r| r.get::<String, _>(0) == k)
            .map(|r| r.get::<i64, _>(1))
            .unwrap()
    };
    (get("insert"), get("update"))
}

/// Checks that the target holds exactly the valid source rows, mapped, once each.
async fn assert_target_matches_source(dir: &Path, expect_missing: &[String]) {
    let mut crm = sqlite(&dir.join("crm.db")).await;
    let mut erp = sqlite(&dir.join("erp.db")).await;
    let source =
        sqlx::query("SELECT customer_no, name, email, credit FROM customers ORDER BY customer_no")
            .fetch_all(&mut crm)
            .await
            .unwrap();
    let target =
        sqlx::query("SELECT code, name, email, credit_limit FROM erp_customers ORDER BY code")
            .fetch_all(&mut erp)
            .await
            .unwrap();
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT code) FROM erp_customers")
        .fetch_one(&mut erp)
        .await
        .unwrap();
    assert_eq!(
        distinct as usize,
        target.len(),
        "duplicate keys in the target"
    );
    let mut t = target.iter().peekable();
    let mut missing = Vec::new();
    for s in &source {
        let code: String = s.get(0);
        match t.peek() {
            Some(row) if row.get::<String, _>(0) == code => {
                let row = t.next().unwrap();
                assert_eq!(
                    row.get::<String, _>(1),
                    s.get::<String, _>(1).trim(),
                    "name of {code}"
                );
                assert_eq!(
                    row.get::<String, _>(2),
                    s.get::<String, _>(2).to_lowercase(),
                    "email of {code}"
                );
                let credit: String = s.get(3);
                assert_eq!(
                    row.get::<String, _>(3),
                    format!("{credit}0"),
                    "credit of {code}"
                );
            }
            _ => missing.push(code),
        }
    }
    assert!(
        t.next().is_none(),
        "the target has rows the source does not"
    );
    assert_eq!(missing, expect_missing, "records missing from the target");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_dash_nine_at_random_points_loses_and_duplicates_nothing() {
    let dir = scratch();
    let dir = dir.path();
    const N: u32 = 100_000;
    setup(dir, N, None).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // Small batches give many commit points to die between. After each kill some source rows
    // change, so a restarted sync always has new work and updates race with recovery too.
    let config = std::fs::read_to_string(dir.join("ferry.yaml"))
        .unwrap()
        .replace("batch_size: 500", "batch_size: 200");
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    let (mut kills, mut finished) = (0, 0);
    let started = Instant::now();
    for round in 0..60 {
        if kills >= 10 {
            break;
        }
        let mut child = ferry()
            .current_dir(dir)
            .args(["sync", "customers"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(40..900)));
        if child.try_wait().unwrap().is_some() {
            finished += 1;
        } else {
            child.kill().unwrap(); // SIGKILL: no chance to clean up
            child.wait().unwrap();
            kills += 1;
        }
        let first = rng.random_range(1..N - 3_000);
        sqlx::query(
            "UPDATE customers SET name = name || '+', updated_at = $1 WHERE id BETWEEN $2 AND $3",
        )
        .bind(format!("2026-02-01 00:{round:02}:00"))
        .bind(i64::from(first))
        .bind(i64::from(first + 3_000))
        .execute(&mut crm)
        .await
        .unwrap();
    }
    eprintln!(
        "killed the sync {kills} times ({finished} runs finished first) in {:?}",
        started.elapsed()
    );
    assert!(kills >= 10, "the sync could not be killed ten times");
    let out = run(dir, &["sync", "customers", "--json"], true);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 0, "{report}");
    assert_target_matches_source(dir, &[]).await;

    // The store agrees: one xref per record, and nothing left in dead letters.
    let status = run_json(dir, &["status", "--json"]);
    assert_eq!(status[0]["records"], u64::from(N));
    assert_eq!(status[0]["dead_letters"], 0);

    // Nothing changed: another run writes nothing.
    let before = writes(dir).await;
    run(dir, &["sync", "customers"], true);
    assert_eq!(
        writes(dir).await,
        before,
        "a run without changes wrote to the target"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_records_are_dead_lettered_then_replayed_after_the_fix() {
    let dir = scratch();
    let dir = dir.path();
    const N: u32 = 5_000;
    setup(dir, N, Some(100)).await; // 1 % invalid
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(report["read"], u64::from(N));
    assert_eq!(report["created"], u64::from(N - N / 100));
    assert_eq!(report["failed"], u64::from(N / 100));
    let missing: Vec<String> = (1..=N)
        .filter(|i| i % 100 == 0)
        .map(|i| format!("C{i:07}"))
        .collect();
    assert_target_matches_source(dir, &missing).await;

    // Each dead letter names flow, record, field and reason, and keeps the payload.
    let letters = run_json(dir, &["dlq", "list", "--json"]);
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), (N / 100) as usize);
    let one = letters
        .iter()
        .find(|d| d["source_id"] == "100")
        .expect("record 100 is dead-lettered");
    let error = one["error"].as_str().unwrap();
    assert!(
        error.contains("flow `customers`")
            && error.contains("record `100`")
            && error.contains("field `email`")
            && error.contains("broken100@@mail"),
        "{error}"
    );
    assert_eq!(one["payload"]["fields"]["email"], "broken100@@mail");
    assert_eq!(
        one["key"], "C0000100",
        "a validation failure keeps the business key"
    );

    // Polling again without a fix does not fail them a second time.
    run(dir, &["sync", "customers"], true);
    assert_eq!(
        run_json(dir, &["dlq", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        (N / 100) as usize
    );

    // Fix the data at the source, replay, and everything arrives.
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query(
        "UPDATE customers SET email = 'fixed' || id || '@example.com' WHERE email LIKE '%@@%'",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    let replay = run_json(dir, &["dlq", "replay", "--all", "--json"]);
    assert_eq!(replay[0]["created"], u64::from(N / 100), "{replay}");
    assert!(
        run_json(dir, &["dlq", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_target_matches_source(dir, &[]).await;

    // The ledger shows the whole story of one key, in order.
    let ledger = run_json(dir, &["ledger", "--key", "C0000100", "--json"]);
    let entries = ledger[0]["entries"].as_array().unwrap();
    let outcomes: Vec<&str> = entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["dead_lettered", "created"], "{ledger}");
    assert_eq!(ledger[0]["state"], "synced");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_without_changes_writes_nothing_and_an_update_writes_once() {
    let dir = scratch();
    let dir = dir.path();
    setup(dir, 3_000, None).await;
    run(dir, &["sync", "customers"], true);
    assert_eq!(writes(dir).await, (3_000, 0));
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(report["created"], 0);
    assert_eq!(report["updated"], 0);
    assert_eq!(
        writes(dir).await,
        (3_000, 0),
        "a run without changes wrote to the target"
    );
    // A full re-read also writes nothing.
    run(dir, &["sync", "customers", "--full"], true);
    assert_eq!(writes(dir).await, (3_000, 0));

    // Touch ten rows (one only in its timestamp): nine updates reach the target.
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query("UPDATE customers SET name = name || ' AG', updated_at = '2026-02-01 00:00:00' WHERE id BETWEEN 11 AND 19").execute(&mut crm).await.unwrap();
    sqlx::query("UPDATE customers SET updated_at = '2026-02-01 00:00:00' WHERE id = 20")
        .execute(&mut crm)
        .await
        .unwrap();
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(report["updated"], 9, "{report}");
    assert_eq!(writes(dir).await, (3_000, 9));
    assert_target_matches_source(dir, &[]).await;
}

#[test]
fn check_points_at_the_file_line_and_key() {
    let dir = scratch();
    let dir = dir.path();
    let bad = CONFIG
        .replace(
            "      name: { from: name, case: trim }\n",
            "      name: { from: name, case: trim }\n      emial: email\n",
        )
        .replace(
            "kind: sql, url: \"sqlite://erp.db\"",
            "kind: sqll, url: \"sqlite://erp.db\"",
        );
    std::fs::write(dir.join("ferry.yaml"), bad).unwrap();
    let out = run(dir, &["check"], false);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ferry.yaml:4:")
            && stderr.contains("systems.erp.kind: unknown connector kind `sqll`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ferry.yaml:14:7: flows.customers.mapping.emial: unknown field `emial`"),
        "{stderr}"
    );
    // A mapping that does not compile: VRL's own diagnostic, at the expression's line.
    let bad = CONFIG.replace(
        "      email: { from: email, case: lower }\n",
        "      email: { expr: 'downcse!(.email)' }\n",
    );
    std::fs::write(dir.join("ferry.yaml"), bad).unwrap();
    let out = run(dir, &["check"], false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ferry.yaml:14:") && stderr.contains("flows.customers.mapping.email.expr"),
        "{stderr}"
    );
    assert!(stderr.contains("undefined function"), "{stderr}");

    std::fs::write(dir.join("ferry.yaml"), CONFIG).unwrap();
    let out = run(dir, &["check"], true);
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (2 systems, 1 flows)"));
}

#[test]
fn schema_describes_the_config_and_every_connector() {
    let dir = scratch();
    let schema = run_json(dir.path(), &["schema"]);
    assert!(schema["properties"]["systems"].is_object(), "{schema}");
    assert!(schema["properties"]["flows"].is_object(), "{schema}");
    for key in [
        "connector.sql.system",
        "connector.sql.source",
        "connector.files.target",
    ] {
        assert!(schema["$defs"][key].is_object(), "no {key} in $defs");
    }
    assert!(schema["$defs"]["connector.sql.source"]["properties"]["watermark"].is_object());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skipped_dead_letter_is_recorded_and_not_replayed() {
    let dir = scratch();
    let dir = dir.path();
    setup(dir, 500, Some(100)).await; // records 100..500 step 100 are invalid
    run(dir, &["sync", "customers"], true);
    let letters = run_json(dir, &["dlq", "list", "--json"]);
    assert_eq!(letters.as_array().unwrap().len(), 5);
    let skipped = letters
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["source_id"] == "300")
        .unwrap()["id"]
        .to_string();
    run(dir, &["dlq", "skip", &skipped], true);

    let open = run_json(dir, &["dlq", "list", "--json"]);
    assert_eq!(open.as_array().unwrap().len(), 4);
    let all = run_json(dir, &["dlq", "list", "--all", "--json"]);
    let state = all
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["source_id"] == "300")
        .unwrap()["state"]
        .clone();
    assert_eq!(state, "skipped");
    let ledger = run_json(dir, &["ledger", "--key", "C0000300", "--json"]);
    assert_eq!(ledger[0]["state"], "skipped", "{ledger}");

    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query(
        "UPDATE customers SET email = 'fixed' || id || '@example.com' WHERE email LIKE '%@@%'",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    let replay = run_json(dir, &["dlq", "replay", "--all", "--json"]);
    assert_eq!(
        replay[0]["created"], 4,
        "the skipped record is not replayed: {replay}"
    );
    let missing: Vec<String> = vec!["C0000300".into()];
    assert_target_matches_source(dir, &missing).await;
}

/// A PostgreSQL database of its own for one test, dropped at the end (None: skipped).
async fn pg_store_db(tag: &str) -> Option<(String, sqlx::PgConnection, String)> {
    let base = std::env::var("FERRY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin_url = format!("{}/postgres", base.rsplit_once('/').unwrap().0);
    let admin = sqlx::PgConnection::connect(&admin_url).await;
    if !require_server("PostgreSQL", admin.is_ok()) {
        return None;
    }
    let mut admin = admin.unwrap();
    let name = format!("ferry_{tag}_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    Some((url, admin, name))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_left_in_flight_by_a_killed_process_is_not_recorded_twice() {
    let Some((store_url, mut admin, db_name)) = pg_store_db("fence").await else {
        return;
    };
    let dir = scratch();
    let dir = dir.path();
    const N: u32 = 3_000;
    setup(dir, N, None).await;
    let config = std::fs::read_to_string(dir.join("ferry.yaml")).unwrap();
    std::fs::write(
        dir.join("ferry.yaml"),
        format!("store: {{ url: \"{store_url}\" }}\n{config}"),
    )
    .unwrap();
    run(dir, &["status"], true); // creates the store's tables
    // The ledger insert of the batch holding record 1200 sleeps 4 s, once: the process is
    // killed while PostgreSQL is still working on that commit.
    let mut store = sqlx::PgConnection::connect(&store_url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE delay_once (armed BOOLEAN);
         INSERT INTO delay_once VALUES (true);
         CREATE FUNCTION delay_commit() RETURNS trigger AS $$
         DECLARE n BIGINT;
         BEGIN
           IF NEW.source_id = '1200' THEN
             DELETE FROM delay_once; GET DIAGNOSTICS n = ROW_COUNT;
             IF n > 0 THEN PERFORM pg_sleep(4); END IF;
           END IF;
           RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER delay_commit BEFORE INSERT ON ferry_ledger
         FOR EACH ROW EXECUTE FUNCTION delay_commit();",
    )
    .execute(&mut store)
    .await
    .unwrap();

    let mut child = ferry()
        .current_dir(dir)
        .args(["sync", "customers"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let sleeping: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' \
             AND datname = current_database()",
        )
        .fetch_one(&mut store)
        .await
        .unwrap();
        if sleeping > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before the slow commit"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the slow commit never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL while its commit is in flight
    child.wait().unwrap();

    // The restarted sync finishes the job; the dead process's commit lands or is refused,
    // never both it and the redo.
    let out = run(dir, &["sync", "customers", "--json"], true);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 0, "{report}");
    let twice: Vec<(String, i64)> = sqlx::query_as(
        "SELECT key, count(*) FROM ferry_ledger WHERE outcome = 'created' \
         GROUP BY key HAVING count(*) > 1 ORDER BY key LIMIT 5",
    )
    .fetch_all(&mut store)
    .await
    .unwrap();
    assert!(twice.is_empty(), "created twice: {twice:?}");
    let created: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ferry_ledger WHERE outcome = 'created'")
            .fetch_one(&mut store)
            .await
            .unwrap();
    assert_eq!(created, i64::from(N), "every record created once");
    assert_target_matches_source(dir, &[]).await;
    drop(store);
    let drop_db = format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)");
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop_db))
        .execute(&mut admin)
        .await;
}

/// `ferry sync --id` for an id the source does not have answers `not_found` and fails; for a
/// record Ferry wrote that is gone since, the flow's `on_delete` applies (issue 13 item 6).
#[tokio::test(flavor = "multi_thread")]
async fn sync_by_id_of_a_record_the_source_does_not_have_is_not_found() {
    let dir = scratch();
    let dir = dir.path();
    setup(dir, 10, None).await;
    run(dir, &["sync", "customers"], true);

    let out = run(dir, &["sync", "customers", "--id", "4711"], false);
    assert!(
        !out.status.success(),
        "exit 0 for a record that does not exist"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not_found: 1"), "{text}");
    let out = run(dir, &["sync", "customers", "--id", "4711", "--json"], false);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["not_found"].as_u64(), report["unchanged"].as_u64()),
        (Some(1), Some(0))
    );
    let ledger = run_json(dir, &["ledger", "--key", "4711", "--json"]);
    assert_eq!(ledger[0]["entries"][0]["outcome"], "not_found", "{ledger}");

    // Written before, deleted at the source since: recorded as deleted (on_delete: ignore).
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query("DELETE FROM customers WHERE id = 3")
        .execute(&mut crm)
        .await
        .unwrap();
    let report = run_json(dir, &["sync", "customers", "--id", "3", "--json"]);
    assert_eq!(
        (report["deleted"].as_u64(), report["not_found"].as_u64()),
        (Some(1), Some(0))
    );
}
