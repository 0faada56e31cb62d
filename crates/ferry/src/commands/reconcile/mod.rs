//! `ferry reconcile FLOW`: compares the flow's source and target and reports the drift as a
//! terminal table, CSV, JSON or an HTML file; `--repair` queues what differs and works it off.
//! Each run is recorded in the store (trigger `cli`), where the API and the console show it.

mod render;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use ferry_engine::reconcile::{self, ReconcileProgress, Report, Side};
use ferry_server::audit;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ConfigArg;
use crate::output::out;
use crate::workspace;

/// Arguments of `ferry reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The flow.
    pub flow: String,
    /// How to print the report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Queue the differing records and those missing in the target (trigger `reconcile`) and
    /// work them off through the flow now.
    #[arg(long)]
    pub repair: bool,
    /// Apply the flow's `on_delete` policy (delete or archive) to target records that have no
    /// source record; each is recorded in the ledger with trigger `reconcile`.
    #[arg(long)]
    pub repair_deletes: bool,
    /// Most entries listed per kind of finding (counts are always exact).
    #[arg(long, default_value_t = 100)]
    pub limit_details: usize,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A summary and the findings as terminal tables.
    Table,
    /// One row per finding (per differing field).
    Csv,
    /// The whole report (stable; see docs/cli.md).
    Json,
    /// A self-contained HTML page.
    Html,
}

/// Shows how many records each side has read (stderr, terminals only).
struct Bar {
    bar: ProgressBar,
    source: AtomicU64,
    target: AtomicU64,
}

impl Bar {
    fn new(flow: &str) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} {spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(flow.to_owned());
        bar.set_message("reading the source…");
        bar.enable_steady_tick(Duration::from_millis(120));
        Self {
            bar,
            source: AtomicU64::new(0),
            target: AtomicU64::new(0),
        }
    }
}

impl ReconcileProgress for Bar {
    fn read(&self, side: Side, records: u64) {
        match side {
            Side::Source => self.source.store(records, Ordering::Relaxed),
            Side::Target => self.target.store(records, Ordering::Relaxed),
        }
        self.bar.set_message(format!(
            "source {} read, target {} read",
            self.source.load(Ordering::Relaxed),
            self.target.load(Ordering::Relaxed)
        ));
    }
}

/// Runs the command. Exits 0 when source and target agree, 1 when drift was found (before
/// any repair), so that a scheduled check can alert.
pub async fn reconcile(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(&args.config.config).await?;
    ws.check_flow(&args.flow)?;
    let cancel = workspace::shutdown_token();
    let options = reconcile::Options {
        scratch_dir: ws.loaded.data_dir(),
        details_limit: args.limit_details,
        repair: args.repair,
        repair_deletes: args.repair_deletes,
    };
    let bar = Bar::new(&args.flow);
    // Recorded in the store like the API's, the console's and the schedule's (trigger `cli`).
    let mut id = None;
    let report = match reconcile::start(&ws.engine, &args.flow, &options, "cli").await {
        Ok(started) => {
            id = Some(started.id);
            started.finish(&ws.engine, &options, &bar, &cancel).await
        }
        Err(e) => Err(e),
    };
    bar.bar.finish_and_clear();
    // A repair writes to the target: audited like the API's (same action and target); what
    // it did is the stored report's `repair`.
    if let Some(action) = audit::action::reconcile(args.repair, args.repair_deletes) {
        let target = audit::target::reconciliation(&args.flow, id);
        ws.audit(action, &target, &report).await;
    }
    let report = report.map_err(|e| anyhow::anyhow!("{}", ws.loaded.redact(&e.to_string())))?;
    let text = render(&report, args.format)?;
    match &args.out {
        Some(path) => write_file(path, &text)?,
        None => out!("{text}"),
    }
    Ok(if report.clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The report in the chosen format.
pub fn render(report: &Report, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Table => render::table(report),
        Format::Csv => render::csv(report)?,
        Format::Json => serde_json::to_string_pretty(report)? + "\n",
        Format::Html => ferry_server::html::reconcile::page(report),
    })
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;

    use super::*;

    /// Every progress report, in order.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<(Side, u64)>>);

    impl ReconcileProgress for Recorded {
        fn read(&self, side: Side, records: u64) {
            self.0.lock().unwrap().push((side, records));
        }
    }

    async fn exec(path: &Path, sql: &str) {
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn progress_is_reported_page_by_page_on_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let (crm, erp) = (dir.path().join("crm.db"), dir.path().join("erp.db"));
        let rows: Vec<String> = (1..=25)
            .map(|i| format!("('C{i:02}', 'name {i}', '2026-01-01 00:00:{i:02}')"))
            .collect();
        exec(
            &crm,
            &format!(
                "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT, name TEXT, updated_at TEXT);
                 INSERT INTO customers (customer_no, name, updated_at) VALUES {};",
                rows.join(", ")
            ),
        )
        .await;
        exec(
            &erp,
            "CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT)",
        )
        .await;
        let config = dir.path().join("ferry.yaml");
        std::fs::write(
            &config,
            format!(
                "systems:\n  crm: {{ kind: sql, url: \"sqlite://{}\" }}\n  erp: {{ kind: sql, url: \"sqlite://{}\" }}\n\
                 flows:\n  customers:\n    entity: customer\n    batch_size: 10\n\
                 \x20   source: {{ system: crm, table: customers, watermark: {{ column: updated_at }} }}\n\
                 \x20   target: {{ system: erp, table: erp_customers }}\n\
                 \x20   mapping: {{ code: customer_no, name: name }}\n",
                crm.display(),
                erp.display()
            ),
        )
        .unwrap();
        let ws = workspace::open(&config).await.unwrap();
        let cancel = tokio_util::sync::CancellationToken::new();
        let synced = ws
            .engine
            .sync(
                "customers",
                &ferry_engine::SyncOptions::default(),
                &ferry_engine::NoProgress,
                &cancel,
            )
            .await
            .unwrap();
        assert_eq!(synced.stats.created, 25);

        let progress = Recorded::default();
        let options = reconcile::Options {
            scratch_dir: ws.loaded.data_dir(),
            details_limit: 10,
            repair: false,
            repair_deletes: false,
        };
        let report = reconcile::run(&ws.engine, "customers", &options, &progress, &cancel)
            .await
            .unwrap();
        assert!(report.clean);
        let calls = progress.0.into_inner().unwrap();
        assert_eq!(
            calls,
            [
                (Side::Source, 10),
                (Side::Source, 20),
                (Side::Source, 25),
                (Side::Target, 10),
                (Side::Target, 20),
                (Side::Target, 25),
            ],
            "one report per page of 10, source first"
        );

        // The bar shows both counts.
        let bar = Bar::new("customers");
        bar.read(Side::Source, 25);
        bar.read(Side::Target, 10);
        assert_eq!(bar.bar.message(), "source 25 read, target 10 read");
    }
}
