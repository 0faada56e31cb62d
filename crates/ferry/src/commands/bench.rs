//! `ferry bench`: sync throughput and peak memory, beside the database's own ceiling.
//!
//! For N generated customers it measures, in one process and one run:
//! 1. the **ceiling**: a plain batched upsert (1,000-row multi-VALUES `INSERT … ON CONFLICT`,
//!    one transaction per batch) of the same rows into the same database, with no engine;
//! 2. **Ferry, first sync**: SQL table → SQL table through the engine (read by watermark, map,
//!    validate, hash, upsert by key, xref + ledger in the state store);
//! 3. **Ferry, no changes**: the same sync again, which must write nothing.
//!
//! Peak RSS is the process's high-water mark, reset before each phase
//! (`/proc/self/clear_refs`), so generation does not count.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use ferry_engine::{NoProgress, SyncOptions};
use sqlx::{Executor, QueryBuilder};
use tokio_util::sync::CancellationToken;

use crate::output::{out, outln, table};
use crate::workspace;

/// Arguments of `ferry bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Customers to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u32,
    /// Where source, target and state store live.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// PostgreSQL for `--backend postgres`: a scratch database, since the bench drops its
    /// `bench_*` tables and every `ferry_*` table there before it starts.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub pg_url: String,
    /// Working folder (default: a new temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Records per batch (`engine.batch_size`; the ceiling always writes 1,000-row batches).
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Concurrent upserts per batch (`engine.workers`).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Also time `ferry reconcile` over both sides after the syncs.
    #[arg(long)]
    pub reconcile: bool,
}

/// The database used for source, target and store.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Backend {
    /// SQLite files, SQLite store.
    Sqlite,
    /// PostgreSQL tables, PostgreSQL store.
    Postgres,
}

/// The source table's columns after `id`, in order (the last one is the watermark): a CRM
/// customer as users export it, about 400 bytes a row.
const FIELDS: [&str; 18] = [
    "customer_no",
    "name",
    "legal_name",
    "email",
    "phone",
    "website",
    "industry",
    "status",
    "currency",
    "credit_limit",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "owner",
    "notes",
    "updated_at",
];
/// Rows per statement and transaction of the ceiling (under SQLite's bind limit at 18 columns).
const CEILING_BATCH: usize = 1000;
/// Index of the decimal column in [`FIELDS`] (bound as NUMERIC).
const CREDIT: usize = 9;
/// The target has the source's fields but `customer_no` (renamed `code`) and `updated_at`.
const TARGET_FIELDS: std::ops::Range<usize> = 1..17;

fn column_type(field: &str) -> &'static str {
    if field == "credit_limit" {
        "NUMERIC(14,2)"
    } else {
        "TEXT"
    }
}

fn source_ddl() -> String {
    let cols: Vec<String> = FIELDS
        .iter()
        .map(|f| format!("{f} {}", column_type(f)))
        .collect();
    format!(
        "CREATE TABLE bench_customers (id BIGINT PRIMARY KEY, {})",
        cols.join(", ")
    )
}

fn target_ddl(table: &str) -> String {
    let cols: Vec<String> = FIELDS[TARGET_FIELDS]
        .iter()
        .map(|f| format!("{f} {}", column_type(f)))
        .collect();
    format!(
        "CREATE TABLE {table} (code TEXT PRIMARY KEY, {})",
        cols.join(", ")
    )
}

/// The flow's mapping: renames, trimming, case, a decimal scale.
const MAPPING: &str = "      code: customer_no
      name: { from: name, case: trim }
      legal_name: legal_name
      email: { from: email, case: lower }
      phone: phone
      website: website
      industry: industry
      status: status
      currency: currency
      credit_limit: { from: credit_limit, scale: 2 }
      street: street
      city: city
      region: region
      postal_code: postal_code
      country: { from: country, case: upper }
      owner: owner
      notes: notes
";

/// A watermark column needs an index, as on any table read incrementally.
const WATERMARK_INDEX: &str =
    "CREATE INDEX bench_customers_watermark ON bench_customers (updated_at, id)";

fn row(i: u32) -> [String; 18] {
    const CITIES: [(&str, &str, &str, &str); 5] = [
        ("上海", "上海市", "200000", "cn"),
        ("北京", "北京市", "100000", "cn"),
        ("Berlin", "Berlin", "10115", "de"),
        ("Madrid", "Madrid", "28001", "es"),
        ("深圳", "广东省", "518000", "cn"),
    ];
    let (city, region, postal, country) = CITIES[(i % 5) as usize];
    [
        format!("C{i:08}"),
        format!(" 客户 {i} Trading Co. "),
        format!("客户{i}贸易有限公司"),
        format!("Buyer{i}@Example.com"),
        format!("+86 138 {:04} {:04}", i % 10_000, (i / 10_000) % 10_000),
        format!("https://customer{i}.example.com"),
        ["manufacturing", "retail", "logistics", "software"][(i % 4) as usize].to_owned(),
        ["prospect", "active", "active", "blocked"][(i % 4) as usize].to_owned(),
        "CNY".to_owned(),
        format!("{}.{:02}", 1000 + (i % 90_000), i % 100),
        format!("{} 号 Industrial Park Road {}", i % 900 + 1, i % 97),
        city.to_owned(),
        region.to_owned(),
        postal.to_owned(),
        country.to_owned(),
        format!("sales-rep-{:03}", i % 250),
        format!(
            "客户备注 {i}: prefers delivery before noon; invoices by e-mail; reviewed 2026-01."
        ),
        format!("2026-01-01 00:{:02}:{:02}", (i / 60) % 60, i % 60),
    ]
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Phase {
    name: &'static str,
    secs: f64,
    rows: u64,
    written: u64,
    rss: f64,
}

/// Creates the tables, fills the source (not timed), then times the ceiling: the same rows
/// upserted in batches straight into the target database, with no engine. A macro because
/// the two sqlx backends share the SQL but not a type.
macro_rules! prepare_and_measure_ceiling {
    ($db:ty, $src:expr, $dst:expr, $args:expr) => {{
        let (src, dst, args) = ($src, $dst, $args);
        src.execute(sqlx::AssertSqlSafe(source_ddl())).await?;
        src.execute(WATERMARK_INDEX).await?;
        dst.execute(sqlx::AssertSqlSafe(target_ddl("bench_target")))
            .await?;
        dst.execute(sqlx::AssertSqlSafe(target_ddl("bench_ceiling")))
            .await?;
        for start in (1..=args.rows).step_by(1000) {
            let mut q: QueryBuilder<$db> = QueryBuilder::new("INSERT INTO bench_customers ");
            q.push_values(start..(start + 1000).min(args.rows + 1), |mut b, i| {
                b.push_bind(i64::from(i));
                for (k, value) in row(i).into_iter().enumerate() {
                    if k == CREDIT {
                        b.push("CAST(")
                            .push_bind_unseparated(value)
                            .push_unseparated(" AS NUMERIC)");
                    } else {
                        b.push_bind(value);
                    }
                }
            });
            q.build().execute(src).await?;
        }
        let columns: Vec<&str> = FIELDS[TARGET_FIELDS].to_vec();
        let insert = format!("INSERT INTO bench_ceiling (code, {}) ", columns.join(", "));
        let update = columns
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        reset_peak_rss();
        let t = Instant::now();
        for start in (1..=args.rows).step_by(CEILING_BATCH) {
            let mut tx = dst.begin().await?;
            let mut q: QueryBuilder<$db> = QueryBuilder::new(insert.clone());
            q.push_values(
                start..(start + CEILING_BATCH as u32).min(args.rows + 1),
                |mut b, i| {
                    let r = row(i);
                    b.push_bind(r[0].clone());
                    for k in TARGET_FIELDS {
                        if k == CREDIT {
                            b.push("CAST(")
                                .push_bind_unseparated(r[k].clone())
                                .push_unseparated(" AS NUMERIC)");
                        } else {
                            b.push_bind(r[k].clone());
                        }
                    }
                },
            );
            q.push(format!(" ON CONFLICT (code) DO UPDATE SET {update}"));
            q.build().execute(&mut *tx).await?;
            tx.commit().await?;
        }
        Phase {
            name: "ceiling: batched upsert, no engine",
            secs: t.elapsed().as_secs_f64(),
            rows: u64::from(args.rows),
            written: u64::from(args.rows),
            rss: peak_rss_mib(),
        }
    }};
}

/// Runs the benchmark and prints a table of figures.
pub async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("ferry-bench-{}", std::process::id()));
            tmp.clone()
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    eprintln!(
        "Generating {} customers ({:?}) in {} …",
        args.rows,
        args.backend,
        dir.display()
    );
    let (src_url, dst_url, store_url) = match args.backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("src.db").display()),
            format!("sqlite://{}", dir.join("dst.db").display()),
            format!("sqlite://{}", dir.join("ferry.db").display()),
        ),
        Backend::Postgres => (
            args.pg_url.clone(),
            args.pg_url.clone(),
            args.pg_url.clone(),
        ),
    };
    let ceiling = match args.backend {
        Backend::Sqlite => {
            let opts = |p: &Path| {
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(p)
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            };
            let src = sqlx::SqlitePool::connect_with(opts(&dir.join("src.db"))).await?;
            let dst = sqlx::SqlitePool::connect_with(opts(&dir.join("dst.db"))).await?;
            prepare_and_measure_ceiling!(sqlx::Sqlite, &src, &dst, &args)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&args.pg_url)
                .await
                .context("connecting to PostgreSQL")?;
            let tables = ["bench_customers", "bench_target", "bench_ceiling"].map(String::from);
            // Every table of the state store, whatever its version made: a list kept here
            // fell behind the store's migrations and left a second run unable to open it.
            let state: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables \
                 WHERE schemaname = current_schema() AND tablename LIKE 'ferry\\_%'",
            )
            .fetch_all(&pool)
            .await?;
            for t in tables.iter().chain(&state) {
                pool.execute(sqlx::AssertSqlSafe(format!(
                    "DROP TABLE IF EXISTS {t} CASCADE"
                )))
                .await?;
            }
            prepare_and_measure_ceiling!(sqlx::Postgres, &pool, &pool, &args)
        }
    };

    let config = format!(
        "store: {{ url: \"{store_url}\" }}\n\
         engine: {{ batch_size: {batch}, workers: {workers} }}\n\
         systems:\n  src: {{ kind: sql, url: \"{src_url}\" }}\n  dst: {{ kind: sql, url: \"{dst_url}\" }}\n\
         flows:\n  customers:\n    entity: customer\n\
         \x20   source: {{ system: src, table: bench_customers, watermark: {{ column: updated_at }} }}\n\
         \x20   target: {{ system: dst, table: bench_target }}\n\
         \x20   mapping:\n{MAPPING}\
         \x20   validate:\n      email: [required, email]\n      name: [required]\n",
        batch = args.batch,
        workers = args.workers
    );
    let config_path = dir.join("bench.yaml");
    std::fs::write(&config_path, config)?;
    let ws = workspace::open(&config_path).await?;
    let cancel = CancellationToken::new();
    let mut phases = vec![ceiling];
    let runs = [
        ("ferry: first sync (all new)", false),
        ("ferry: second sync (incremental, no changes)", false),
        ("ferry: full re-read (no changes)", true),
    ];
    for (name, full) in runs {
        reset_peak_rss();
        let t = Instant::now();
        let options = SyncOptions {
            full,
            ..SyncOptions::default()
        };
        let report = ws
            .engine
            .sync("customers", &options, &NoProgress, &cancel)
            .await?;
        let secs = t.elapsed().as_secs_f64();
        if let Some(e) = report.error {
            anyhow::bail!("the benchmark sync stopped: {e}");
        }
        phases.push(Phase {
            name,
            secs,
            rows: report.stats.read,
            written: report.stats.created + report.stats.updated,
            rss: peak_rss_mib(),
        });
    }
    if args.reconcile {
        reset_peak_rss();
        let t = Instant::now();
        let options = ferry_engine::reconcile::Options {
            scratch_dir: ws.loaded.data_dir(),
            details_limit: 10,
            repair: false,
            repair_deletes: false,
        };
        let report =
            ferry_engine::reconcile::run(&ws.engine, "customers", &options, &NoProgress, &cancel)
                .await?;
        let secs = t.elapsed().as_secs_f64();
        if !report.clean {
            anyhow::bail!(
                "the benchmark's reconcile found drift where there is none: {}",
                serde_json::to_string(&report.counts)?
            );
        }
        phases.push(Phase {
            name: "ferry: reconcile (records compared, both sides)",
            secs,
            rows: report.counts.source + report.counts.target,
            written: 0,
            rss: peak_rss_mib(),
        });
    }
    let rows: Vec<Vec<String>> = phases
        .iter()
        .map(|p| {
            vec![
                p.name.to_owned(),
                p.rows.to_string(),
                p.written.to_string(),
                format!("{:.1}", p.secs),
                format!("{:.0}", p.rows as f64 / p.secs.max(1e-9)),
                format!("{:.0}", p.rss),
            ]
        })
        .collect();
    outln!(
        "\nferry bench: {} customers, {:?}, batch {}",
        args.rows,
        args.backend,
        args.batch
    );
    out!(
        "{}",
        table(
            &[
                "phase",
                "rows",
                "written",
                "seconds",
                "rows/s",
                "peak RSS MiB"
            ],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}
