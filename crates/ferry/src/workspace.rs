//! Loading a config into a running engine: parse → validate → build → open the store.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use ferry_engine::Engine;
use ferry_model::config::LoadedConfig;
use ferry_server::audit::Actor;
use tokio_util::sync::CancellationToken;

use crate::output::Times;

/// A loaded config with its engine.
pub struct Workspace {
    pub loaded: LoadedConfig,
    pub engine: Arc<Engine>,
    /// How times are shown: in the workspace's zone.
    pub times: Times,
}

impl Workspace {
    /// Writes an operator action of the CLI to the audit log, under the API's action name and
    /// target text (`ferry_server::audit`), from source `cli (user …)`; its outcome `ok` or
    /// the error (its whole chain), secrets of the config masked.
    pub async fn audit<T, E: std::fmt::Display>(
        &self,
        action: &str,
        target: &str,
        result: &Result<T, E>,
    ) {
        let outcome = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| self.loaded.redact(&format!("{e:#}")));
        let store = self.engine.store().as_ref();
        ferry_server::audit::record(store, &Actor::cli(), action, target, &outcome).await;
    }

    /// Checks that the config has a flow called `name`. An unknown name is an error naming
    /// the flows there are (and the nearest one, for a typo), never an empty answer.
    pub fn check_flow(&self, name: &str) -> anyhow::Result<()> {
        let mut names: Vec<&str> = self.engine.flows().map(|f| f.name.as_str()).collect();
        if names.contains(&name) {
            return Ok(());
        }
        names.sort_unstable();
        anyhow::bail!("{}", unknown_flow(name, &names))
    }
}

/// "no flow `x`…" with the flows there are and, when one is a near miss, a suggestion.
fn unknown_flow(name: &str, known: &[&str]) -> String {
    let mut text = format!("no flow `{name}` in this config");
    if let Some(k) = ferry_model::config::words::did_you_mean(name, known.iter().copied()) {
        text.push_str(&format!("; did you mean `{k}`?"));
    }
    if known.is_empty() {
        text.push_str(" (it defines no flows)");
    } else {
        text.push_str(&format!(" (flows: {})", known.join(", ")));
    }
    text
}

/// Loads and checks the config, builds the flows and opens (and migrates) the store.
pub async fn open(path: &Path) -> anyhow::Result<Workspace> {
    let loaded = ferry_model::config::load(path)?;
    let assembly = ferry_engine::assemble(&loaded, &ferry_connectors::builtin())?;
    let url = store_url(&loaded)?;
    let store = ferry_store::open(&url).await.with_context(|| {
        format!(
            "opening the state store {}",
            loaded.redact(&ferry_model::secret::mask_url(&url))
        )
    })?;
    store.migrate().await.context("preparing the state store")?;
    Ok(Workspace {
        times: Times::of(&loaded.config),
        loaded,
        engine: Arc::new(Engine::new(assembly, store)),
    })
}

/// The store URL: `store.url`, or an SQLite file in the data dir.
pub fn store_url(loaded: &LoadedConfig) -> anyhow::Result<String> {
    if let Some(url) = &loaded.config.store.url {
        if let Some(path) = url.strip_prefix("sqlite://") {
            return Ok(format!("sqlite://{}", loaded.resolve(path).display()));
        }
        return Ok(url.clone());
    }
    let dir = loaded.data_dir();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the data dir {}", dir.display()))?;
    Ok(format!("sqlite://{}", dir.join("ferry.db").display()))
}

/// A token cancelled by the first Ctrl-C or SIGTERM; a second one exits at once.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("\nShutting down: finishing the batch in hand (press Ctrl-C again to stop now)…");
        trigger.cancel();
        wait_for_signal().await;
        eprintln!("Stopped at once; uncommitted work will be read again on the next run.");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_flow_names_the_flows_and_a_near_miss() {
        let text = unknown_flow("custmers", &["customers", "orders"]);
        assert_eq!(
            text,
            "no flow `custmers` in this config; did you mean `customers`? \
             (flows: customers, orders)"
        );
        let text = unknown_flow("nosuchflow", &["customers", "orders"]);
        assert_eq!(
            text,
            "no flow `nosuchflow` in this config (flows: customers, orders)"
        );
    }
}
