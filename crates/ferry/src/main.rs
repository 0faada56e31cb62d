//! `ferry`: the command line. Parses arguments, loads the config, and drives the engine;
//! it never talks to a connector directly.

mod cli;
mod commands;
mod log;
mod output;
mod quickstart;
mod workspace;

use clap::Parser;

/// mimalloc instead of the system allocator: a sync allocates and frees a few small maps and
/// strings per field of every record, and glibc's malloc spent about half of the process's
/// CPU on that in a profile of a PostgreSQL → PostgreSQL first load (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        // A configuration's problems print as `ferry check` prints them: one
        // `file:line:col: key.path: message` line each, the same from every command.
        Err(e) => {
            match e.downcast_ref::<ferry_model::config::ConfigError>() {
                Some(config) => eprintln!("{config}"),
                None => eprintln!("error: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,sqlx=error",
        1 => "info,sqlx=warn",
        _ => "debug,sqlx=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // One event, one line, whatever text from outside a field holds.
        .with_writer(log::OneLine::new(std::io::stderr, ansi))
        .with_ansi(ansi)
        .init();
}
