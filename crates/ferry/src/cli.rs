//! The command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Ferry keeps a CRM and an ERP in agreement.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v info, -vv debug). `FERRY_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The config file used when none is named.
const DEFAULT_CONFIG: &str = "ferry.yaml";

/// A config path as given. Blank means the default: clap takes a set-but-empty
/// `FERRY_CONFIG=` as the value `""`, and "no such file ``" from every command helps nobody.
fn config_path(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(if value.trim().is_empty() {
        DEFAULT_CONFIG
    } else {
        value
    }))
}

/// The config file argument shared by most commands.
#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// The configuration file.
    // Global: `ferry keys create -c FILE` works as well as `ferry keys -c FILE create`.
    #[arg(
        short = 'c',
        long = "config",
        env = "FERRY_CONFIG",
        default_value = DEFAULT_CONFIG,
        value_parser = config_path,
        global = true
    )]
    pub config: PathBuf,
}

impl ConfigArg {
    /// The file named by a command's optional positional argument, else by `-c`,
    /// `FERRY_CONFIG` or the default (`ferry check other.yaml` and `ferry check -c other.yaml`
    /// both work, as for every other command).
    pub fn or_positional(self, positional: Option<PathBuf>) -> PathBuf {
        positional.unwrap_or(self.config)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a demo workspace (a CRM and an ERP as SQLite databases), sync it, and show the result.
    Quickstart {
        /// Where to create the workspace.
        #[arg(long, default_value = "ferry-demo")]
        dir: PathBuf,
        /// Exit after the first sync instead of keeping the flows running.
        #[arg(long)]
        no_serve: bool,
        /// Customers to generate (orders are twice as many, products a fifth).
        #[arg(long, default_value_t = 10_000)]
        customers: u32,
    },
    /// Validate a configuration: connectors, mappings, references. Exits 1 on problems.
    Check {
        /// The configuration file (as `-c FILE`; this one wins when both are given).
        #[arg(value_parser = config_path)]
        file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
        /// Also connect to every system and check that the tables, columns, models, fields
        /// and folders the flows name exist and the credentials work (reads only).
        #[arg(long)]
        live: bool,
    },
    /// Print the JSON Schema of the configuration file.
    Schema,
    /// List the connector kinds compiled into this binary and what each can do (read,
    /// incremental, snapshot, webhook, write, delete, scan).
    Connectors {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run every flow on its trigger and serve the HTTP API until interrupted (Ctrl-C drains
    /// and stops).
    Run {
        /// The configuration file (as `-c FILE`; this one wins when both are given).
        #[arg(value_parser = config_path)]
        file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
        /// Do not serve HTTP (API, webhooks, metrics), whatever `server.enabled` says.
        #[arg(long)]
        no_serve: bool,
        /// Listen here instead of `server.listen` (`0.0.0.0:7878`).
        #[arg(long, env = "FERRY_LISTEN")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Manage API keys in the store directly (the first admin key is made this way).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Sync one flow now: what changed since the last run, or given ids, or everything.
    Sync {
        /// The flow.
        flow: String,
        /// Only these source ids (repeatable).
        #[arg(long = "id")]
        ids: Vec<String>,
        /// Read the whole source, not just what changed (unchanged records are still skipped).
        #[arg(long, conflicts_with = "ids")]
        full: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Show each flow's state: cursor, records, queue, dead letters, last run.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Work with dead letters: records that failed for good.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Two-way pairs: the review queue of conflicts (a shared field changed on both sides
    /// under `conflicts: manual`); pick the version to keep.
    Conflicts {
        #[command(subcommand)]
        action: ConflictsAction,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Everything Ferry did with one business key (or source id).
    Ledger {
        /// The business key or source id.
        #[arg(long)]
        key: String,
        /// Only this flow.
        #[arg(long)]
        flow: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List a live system's objects and fields (to help write mappings).
    Discover {
        /// The system's name under `systems:`.
        system: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Compare a flow's source and target after mapping: missing, extra, differing records and
    /// duplicate keys (table, CSV, JSON or HTML); `--repair` re-queues what differs.
    Reconcile(crate::commands::reconcile::ReconcileArgs),
    /// Measure sync throughput and memory (prints figures; see docs/benchmarks.md).
    Bench(crate::commands::bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// List dead letters (open ones unless --all).
    List {
        /// Only this flow.
        #[arg(long)]
        flow: Option<String>,
        /// Include replayed, skipped and resolved ones.
        #[arg(long)]
        all: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its payload and error.
    Show {
        /// The dead letter id.
        id: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back through their flow (reading the source's current state).
    Replay {
        /// Dead letter ids.
        ids: Vec<i64>,
        /// Every open dead letter (of --flow, if given).
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// With --all: only this flow.
        #[arg(long)]
        flow: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Drop dead letters for good (recorded in the ledger).
    Skip {
        /// Dead letter ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConflictsAction {
    /// List conflicts (open ones unless --all), newest first.
    List {
        /// Only this pair.
        #[arg(long)]
        pair: Option<String>,
        /// Include resolved ones.
        #[arg(long)]
        all: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one conflict: both versions and the last agreed values.
    Show {
        /// The conflict id.
        id: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Keep one version: it is written to the other system and becomes the agreed value
    /// (recorded in the ledger and the audit log).
    Resolve {
        /// The conflict id.
        id: i64,
        /// `source` or `target` (of the conflict's flow, as `show` names them).
        #[arg(long)]
        pick: PickArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// The version of a conflict to keep.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PickArg {
    /// The conflict's flow's source system.
    Source,
    /// Its target system.
    Target,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print its token (shown this once; only its hash is stored).
    Create {
        /// What to call it (`ops`, `grafana`).
        #[arg(long)]
        name: String,
        /// viewer (read), operator (+ sync, replay, skip, edit) or admin (+ keys, audit).
        #[arg(long)]
        role: ferry_server::auth::Role,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Print only the token and a newline on stdout (`export TOKEN=$(ferry keys create …)`);
        /// the rest goes to stderr.
        #[arg(long, conflicts_with = "json")]
        token_only: bool,
    },
    /// List keys (never their tokens).
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it authenticates nothing from now on.
    Revoke {
        /// The key id (`ferry keys list`).
        id: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_config_may_follow_a_nested_subcommand() {
        for args in [
            [
                "ferry", "keys", "create", "-c", "x.yaml", "--name", "n", "--role", "viewer",
            ],
            [
                "ferry", "keys", "-c", "x.yaml", "create", "--name", "n", "--role", "viewer",
            ],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Keys { config, .. } = cli.command else {
                panic!("parsed as another command");
            };
            assert_eq!(config.config, PathBuf::from("x.yaml"));
        }
    }

    /// Every command that reads a workspace takes `-c FILE`, nested ones included; `check` and
    /// `run` also take the file as their argument.
    #[test]
    fn every_command_that_reads_a_config_takes_dash_c() {
        fn walk(cmd: &clap::Command, trail: &str, missing: &mut Vec<String>) {
            const NO_CONFIG: &[&str] = &["quickstart", "schema", "bench", "connectors", "help"];
            for sub in cmd.get_subcommands() {
                let name = format!("{trail} {}", sub.get_name());
                if NO_CONFIG.contains(&sub.get_name()) {
                    continue;
                }
                if sub.has_subcommands() {
                    walk(sub, &name, missing);
                } else if !sub.get_arguments().any(|a| a.get_short() == Some('c')) {
                    missing.push(name);
                }
            }
        }
        let mut missing = Vec::new();
        let mut cli = Cli::command();
        cli.build(); // propagates global arguments to nested subcommands
        walk(&cli, "ferry", &mut missing);
        assert!(missing.is_empty(), "no -c on: {missing:?}");
        for args in [
            &["ferry", "check", "-c", "x.yaml"][..],
            &["ferry", "check", "x.yaml"],
        ] {
            let Command::Check { file, config, .. } = Cli::try_parse_from(args).unwrap().command
            else {
                panic!("parsed as another command");
            };
            assert_eq!(config.or_positional(file), PathBuf::from("x.yaml"));
        }
    }

    #[test]
    fn a_blank_config_path_means_the_default() {
        for blank in ["", "  "] {
            assert_eq!(config_path(blank).unwrap(), PathBuf::from(DEFAULT_CONFIG));
        }
        assert_eq!(config_path("a.yaml").unwrap(), PathBuf::from("a.yaml"));
    }
}
