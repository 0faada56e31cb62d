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
use ferry_server::audit::Actor;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ConfigArg;
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
    let cancel = workspace::shutdown_token();
    let options = reconcile::Options {
        scratch_dir: ws.loaded.data_dir(),
        details_limit: args.limit_details,
        repair: args.repair,
        repair_deletes: args.repair_deletes,
    };
    let bar = Bar::new(&args.flow);
    // Recorded in the store like the API's, the console's and the schedule's (trigger `cli`).
    let report = match reconcile::start(&ws.engine, &args.flow, &options, "cli").await {
        Ok(started) => started.finish(&ws.engine, &options, &bar, &cancel).await,
        Err(e) => Err(e),
    };
    bar.bar.finish_and_clear();
    if args.repair || args.repair_deletes {
        // A repair writes to the target: it goes to the audit log like any operator action,
        // with what it did (or why it failed).
        let what = match &report {
            Ok(r) => Ok(r.repair.as_ref().map_or_else(String::new, |x| {
                format!("{} queued, {} deleted or archived", x.queued, x.deleted)
            })),
            Err(e) => Err(ws.loaded.redact(&e.to_string())),
        };
        let action = match (args.repair, args.repair_deletes) {
            (true, true) => "reconcile.repair+deletes",
            (true, false) => "reconcile.repair",
            _ => "reconcile.repair_deletes",
        };
        let target = match &what {
            Ok(done) => format!("flow {}: {done}", args.flow),
            Err(_) => format!("flow {}", args.flow),
        };
        ferry_server::audit::record(
            ws.engine.store().as_ref(),
            &Actor::cli(),
            action,
            &target,
            &what,
        )
        .await;
    }
    let report = report.map_err(|e| anyhow::anyhow!("{}", ws.loaded.redact(&e.to_string())))?;
    let text = render(&report, args.format)?;
    match &args.out {
        Some(path) => write_file(path, &text)?,
        None => print!("{text}"),
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
