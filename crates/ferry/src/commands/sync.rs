//! `ferry sync` and `ferry run`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use ferry_engine::{Progress, RunReport, SyncOptions};
use ferry_server::audit;
use ferry_store::RunStats;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{out, outln, print_json, table};
use crate::workspace;

/// A spinner that shows a run's counts as batches commit.
pub struct Spinner {
    bar: ProgressBar,
    last: Mutex<RunStats>,
}

impl Spinner {
    /// A spinner on stderr (hidden when stderr is not a terminal).
    pub fn new(flow: &str, total: Option<u64>) -> Self {
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {pos}/{len} {msg} [{elapsed}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{prefix:>12} {spinner} {pos} read {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_prefix(flow.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self {
            bar,
            last: Mutex::new(RunStats::default()),
        }
    }
    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish();
    }
}

impl Progress for Spinner {
    fn batch(&self, _flow: &str, totals: &RunStats) {
        self.bar.set_position(totals.read);
        self.bar.set_message(format!(
            "created {} updated {} unchanged {} failed {}{}",
            totals.created,
            totals.updated,
            totals.unchanged,
            totals.failed,
            deleted_note(totals)
        ));
        if let Ok(mut last) = self.last.lock() {
            *last = *totals;
        }
    }
}

/// ` deleted N` when a run found deletes at the source (most runs find none).
fn deleted_note(totals: &RunStats) -> String {
    if totals.deleted == 0 {
        String::new()
    } else {
        format!(" deleted {}", totals.deleted)
    }
}

/// Rows of the per-flow summary table.
pub fn summary_table(reports: &[RunReport]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.flow.clone(),
                r.stats.read.to_string(),
                r.stats.created.to_string(),
                r.stats.updated.to_string(),
                r.stats.unchanged.to_string(),
                r.stats.failed.to_string(),
                r.stats.deleted.to_string(),
                match (&r.error, r.cancelled) {
                    (Some(e), _) => format!("stopped: {e}"),
                    (None, true) => "cancelled".into(),
                    (None, false) => "ok".into(),
                },
            ]
        })
        .collect();
    table(
        &[
            "flow",
            "read",
            "created",
            "updated",
            "unchanged",
            "failed",
            "deleted",
            "state",
        ],
        &rows,
    )
}

/// `ferry sync FLOW [--id ID]… [--full]`.
pub async fn sync(
    config: &Path,
    flow: &str,
    ids: &[String],
    full: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(config).await?;
    ws.check_flow(flow)?;
    let cancel = workspace::shutdown_token();
    let spinner = Spinner::new(flow, None);
    let report = if ids.is_empty() {
        let options = SyncOptions {
            full,
            trigger: "manual".into(),
        };
        ws.engine.sync(flow, &options, &spinner, &cancel).await
    } else {
        let report = ws
            .engine
            .sync_ids(flow, ids, "manual --id", &spinner, &cancel)
            .await;
        // Syncing chosen records is the API's `POST /sync`: audited alike, with how it ended.
        let target = audit::target::sync(ids.iter().map(|id| (flow, id.as_str())));
        let outcome = match &report {
            Ok(r) => r.error.clone().map_or(Ok(()), Err),
            Err(e) => Err(e.to_string()),
        };
        ws.audit(audit::action::SYNC, &target, &outcome).await;
        report
    };
    spinner.finish();
    let report = report.map_err(|e| anyhow::anyhow!("{}", ws.loaded.redact(&e.to_string())))?;
    if json {
        print_json(&report)?;
    } else {
        out!("{}", summary_table(std::slice::from_ref(&report)));
        if let Some(until) = report.paused_until {
            outln!(
                "\nPaused: a system asked to be left alone until {}; the next run resumes at \
                 the cursor",
                ws.times.show(until)
            );
        }
        if report.stats.failed > 0 {
            outln!(
                "\n{} record(s) failed: see `ferry dlq list --flow {flow}`",
                report.stats.failed
            );
        }
        if report.stats.not_found > 0 {
            outln!(
                "\nnot_found: {} of the id(s) asked for: the source has no such record and Ferry \
                 never wrote one (see `ferry ledger --flow {flow} --key ID`)",
                report.stats.not_found
            );
        }
    }
    // An id that does not exist is an answer the caller must see, not a success.
    Ok(if report.error.is_some() || report.stats.not_found > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A taken listen address says what to do about it, once.
fn with_listen_hint(e: ferry_server::ServerError) -> anyhow::Error {
    match &e {
        ferry_server::ServerError::Bind { addr, reason }
            if reason.kind() == std::io::ErrorKind::AddrInUse =>
        {
            anyhow::anyhow!(
                "{e}: another ferry run or program holds {addr}; stop it or set \
                 server.listen / --listen / FERRY_LISTEN"
            )
        }
        _ => e.into(),
    }
}

/// The banner line with the console's URL. Bound to every address (`0.0.0.0`, `[::]`), the
/// URL names the loopback one, which a browser can open, and says so.
fn console_line(scheme: &str, addr: std::net::SocketAddr) -> String {
    let ip = addr.ip();
    if !ip.is_unspecified() {
        return format!("Console: {scheme}://{addr}/");
    }
    let local: std::net::IpAddr = if ip.is_ipv4() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        std::net::Ipv6Addr::LOCALHOST.into()
    };
    let local = std::net::SocketAddr::new(local, addr.port());
    format!(
        "Console: {scheme}://{local}/ (listening on {addr}, every address of this host: from \
         another machine open {scheme}://<this host's address>:{}/)",
        addr.port()
    )
}

/// `ferry run`: every flow on its trigger, and the HTTP server (unless disabled), until
/// Ctrl-C or SIGTERM; both stop on the same token, requests in flight finishing first.
pub async fn run(
    config: &Path,
    no_serve: bool,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<ExitCode> {
    let ws = workspace::open(config).await?;
    let mut settings = ferry_server::ServerSettings::from_config(&ws.loaded)?;
    if let Some(addr) = listen {
        settings.listen = addr;
    }
    let serve = settings.enabled && !no_serve;
    // Bind before starting the flows, so a taken port or a bad certificate stops us at once.
    let server = if serve {
        let state = ferry_server::AppState::new(ws.engine.clone(), settings);
        Some(
            ferry_server::Server::bind(state)
                .await
                .map_err(with_listen_hint)?,
        )
    } else {
        None
    };
    let cancel = workspace::shutdown_token();
    eprintln!(
        "Ferry is running {} flow(s) from {}. Ctrl-C to stop.",
        ws.engine.flows().count(),
        config.display()
    );
    let serving = match server {
        Some(server) => {
            let scheme = if server.is_tls() { "https" } else { "http" };
            let addr = server.local_addr()?;
            eprintln!(
                "Serving {scheme}://{addr}/api/v1 (OpenAPI at /api/v1/openapi.json, metrics at /metrics)."
            );
            eprintln!("{}", console_line(scheme, addr));
            let token = cancel.clone();
            Some(tokio::spawn(async move {
                let result = server.run(token.clone()).await;
                if let Err(e) = &result {
                    // Serving failed on its own: stop the flows too rather than run unseen.
                    eprintln!("error: {e}; stopping.");
                    token.cancel();
                }
                result
            }))
        }
        None => None,
    };
    ws.engine.clone().run(cancel.clone()).await;
    if let Some(task) = serving {
        // The flows stop only on the token, which also stops the server; a server that
        // failed on its own cancelled the token (and said why).
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Ok(ExitCode::FAILURE),
            Err(e) => eprintln!("error: the server task failed: {e}"),
        }
    }
    eprintln!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_line_names_an_address_to_open() {
        let at = |a: &str| console_line("https", a.parse().unwrap());
        assert_eq!(at("127.0.0.1:7878"), "Console: https://127.0.0.1:7878/");
        assert!(
            at("0.0.0.0:7878")
                .starts_with("Console: https://127.0.0.1:7878/ (listening on 0.0.0.0:7878")
        );
        assert!(
            at("[::]:9000").starts_with("Console: https://[::1]:9000/ (listening on [::]:9000")
        );
    }
}
