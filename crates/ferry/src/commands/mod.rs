//! One function per subcommand.

pub mod bench;
mod check;
mod conflicts;
mod connectors;
mod dlq;
mod keys;
mod ledger;
mod live_check;
pub mod reconcile;
mod status;
pub mod sync;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the chosen subcommand.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Quickstart {
            dir,
            no_serve,
            customers,
        } => crate::quickstart::run(&dir, no_serve, customers).await,
        Command::Check { file, config, live } => {
            check::check(&config.or_positional(file), live).await
        }
        Command::Schema => check::schema(),
        Command::Connectors { json } => connectors::list(json),
        Command::Run {
            file,
            config,
            no_serve,
            listen,
        } => sync::run(&config.or_positional(file), no_serve, listen).await,
        Command::Keys { action, config } => keys::keys(&config.config, action).await,
        Command::Sync {
            flow,
            ids,
            full,
            json,
            config,
        } => sync::sync(&config.config, &flow, &ids, full, json).await,
        Command::Status { json, config } => status::status(&config.config, json).await,
        Command::Dlq { action, config } => dlq::dlq(&config.config, action).await,
        Command::Conflicts { action, config } => conflicts::conflicts(&config.config, action).await,
        Command::Ledger {
            key,
            flow,
            json,
            config,
        } => ledger::ledger(&config.config, &key, flow.as_deref(), json).await,
        Command::Discover {
            system,
            json,
            config,
        } => check::discover(&config.config, &system, json).await,
        Command::Reconcile(args) => reconcile::reconcile(args).await,
        Command::Bench(args) => bench::bench(args).await,
    }
}
