//! The target database is stopped in the middle of a sync and started again: every record
//! arrives, and nothing is wrongly dead-lettered.
//!
//! The target is a private PostgreSQL cluster made for this test with Debian's
//! `pg_createcluster` (so stopping it disturbs nothing else), stopped with
//! `pg_ctlcluster … stop -m immediate` — the server dies without a clean shutdown — and
//! started again three seconds later.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use sqlx::Connection;

struct Cluster {
    version: String,
    name: String,
    port: u16,
}

impl Cluster {
    fn create() -> Option<Cluster> {
        let version = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .max()?;
        // A port free right now (a fixed one may be taken by any client's ephemeral port);
        // if PostgreSQL still loses the race for it, the half-made cluster is dropped and
        // another port tried.
        for attempt in 0..3 {
            let port = free_port();
            let name = format!("ferry_outage_{}_{attempt}", std::process::id());
            let out = Command::new("pg_createcluster")
                .args([
                    &version,
                    &name,
                    "-p",
                    &port.to_string(),
                    "--start",
                    "--",
                    "--auth-host=trust",
                    "--auth-local=trust",
                ])
                .output()
                .ok()?;
            let cluster = Cluster {
                version: version.clone(),
                name,
                port,
            };
            if out.status.success() {
                return Some(cluster);
            }
            eprintln!(
                "pg_createcluster failed (port {port}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            drop(cluster);
        }
        None
    }
    fn ctl(&self, args: &[&str]) {
        let out = Command::new("pg_ctlcluster")
            .arg(&self.version)
            .arg(&self.name)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctlcluster {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster")
            .args([&self.version, &self.name, "--stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn target_database_stopped_mid_sync_loses_nothing() {
    let cluster = Cluster::create();
    if !require_server(
        "a private PostgreSQL cluster (pg_createcluster, as root)",
        cluster.is_some(),
    ) {
        return;
    }
    let cluster = cluster.unwrap();
    let dir = scratch();
    let dir = dir.path();
    const N: u32 = 50_000;

    let mut pg = sqlx::PgConnection::connect(&cluster.url())
        .await
        .expect("the new cluster answers");
    sqlx::raw_sql(
        "CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT)",
    )
    .execute(&mut pg)
    .await
    .unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, name TEXT NOT NULL, email TEXT, updated_at TEXT NOT NULL)").execute(&mut crm).await.unwrap();
    for start in (1..=N).step_by(1_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO customers ");
        q.push_values(start..(start + 1_000).min(N + 1), |mut b, i| {
            b.push_bind(i64::from(i))
                .push_bind(format!("C{i:07}"))
                .push_bind(format!("客户 {i}"))
                .push_bind(format!("c{i}@example.com"))
                .push_bind("2026-01-01 00:00:00");
        });
        q.build().execute(&mut crm).await.unwrap();
    }
    std::fs::write(
        dir.join("ferry.yaml"),
        format!(
            r#"
engine:
  batch_size: 200
  retry: {{ initial_backoff: 200ms, max_backoff: 2s, give_up_after: 5m }}
systems:
  crm: {{ kind: sql, url: "sqlite://crm.db" }}
  erp: {{ kind: sql, url: "{}" }}
flows:
  customers:
    entity: customer
    source: {{ system: crm, table: customers, watermark: {{ column: updated_at }} }}
    target: {{ system: erp, table: erp_customers }}
    mapping: {{ code: customer_no, name: name, email: email }}
"#,
            cluster.url()
        ),
    )
    .unwrap();

    let child = ferry()
        .current_dir(dir)
        .args(["sync", "customers", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the sync is well under way, then kill the database under it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM erp_customers")
            .fetch_one(&mut pg)
            .await
            .unwrap();
        if n >= 2_000 {
            assert!(
                n < i64::from(N),
                "the sync finished before the database could be stopped"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the sync did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(pg);
    cluster.ctl(&["stop", "-m", "immediate"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.ctl(&["start"]);

    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the sync failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["error"].is_null(), "{report}");
    // The outage was really felt: the engine retried, or the connection pool waited for the
    // server to come back (sqlx logs the server's shutdown notice).
    assert!(
        stderr.contains("Transient failure; retrying.") || stderr.contains("shutdown"),
        "the outage left no trace: {stderr}"
    );
    eprintln!("{}", stderr.lines().take(3).collect::<Vec<_>>().join("\n"));

    let mut pg = sqlx::PgConnection::connect(&cluster.url()).await.unwrap();
    let (n, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT code) FROM erp_customers")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(
        (n, distinct),
        (i64::from(N), i64::from(N)),
        "every record arrives exactly once"
    );
    assert!(
        run_json(dir, &["dlq", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was dead-lettered"
    );
    let again = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(again["created"], 0);
    assert_eq!(again["updated"], 0);
}
