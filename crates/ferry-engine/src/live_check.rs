//! `ferry check --live`: the assembled configuration checked against the systems themselves.
//!
//! Every system is connected once (is it reachable, are the credentials good?), then each
//! enabled flow's source and target on it are probed ([`Source::probe`], [`Sink::probe`]):
//! does the table, model or folder exist, and each column or field the options name? The
//! fields the mapping reads are checked against those the source's records carry, when the
//! connector can tell. Nothing is written, no cursor moves, no file is moved.
//!
//! Systems are checked concurrently and each step has a time limit, so a system that does not
//! answer is reported without hiding what the others have to say. Problems are
//! [`ConfigIssue`]s at `systems.<name>`, `flows.<name>.source…`, `flows.<name>.target…` or
//! `flows.<name>.mapping.<field>`, reported all together, in the order of the file.

use std::sync::Arc;
use std::time::Duration;

use ferry_kit::{Connector, KnownFields, Probe, ProbeAt};
use ferry_mapping::lineage::{self, Feeds};
use ferry_model::ErrorKind;
use ferry_model::config::words::did_you_mean;
use ferry_model::config::{ConfigError, ConfigIssue, LoadedConfig};
use futures::future::join_all;

use crate::{Assembly, Flow};

/// Which end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Source,
    Target,
}

impl Side {
    fn key(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// One end of a flow to probe: the flow's place in the file, and which end.
struct End {
    index: usize,
    flow: Arc<Flow>,
    side: Side,
}

/// What the probe of one end found, with where it goes in the report.
type Found = ((usize, Side), Vec<ConfigIssue>);

/// Checks `assembly` (built from `loaded`) against the live systems; every problem found,
/// located in the config file. `timeout` bounds each step: connecting to a system, and
/// probing one end of a flow.
pub async fn live_check(
    loaded: &LoadedConfig,
    assembly: &Assembly,
    timeout: Duration,
) -> Result<(), ConfigError> {
    let checks = assembly.systems.iter().map(|(name, connector)| {
        let ends = ends_on(assembly, name);
        check_system(name, connector.clone(), ends, timeout)
    });
    let mut issues = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    for (system, ends) in join_all(checks).await {
        issues.extend(system);
        found.extend(ends);
    }
    found.sort_by_key(|(place, _)| *place);
    issues.extend(found.into_iter().flat_map(|(_, i)| i));
    if issues.is_empty() {
        Ok(())
    } else {
        Err(loaded.error(&issues))
    }
}

/// The ends of enabled flows that are on system `name`, in file order.
fn ends_on(assembly: &Assembly, name: &str) -> Vec<End> {
    let mut ends = Vec::new();
    for (index, flow) in assembly.flows.values().enumerate() {
        if flow.config.disabled {
            continue;
        }
        for (side, system) in [
            (Side::Source, &flow.config.source.system),
            (Side::Target, &flow.config.target.system),
        ] {
            if system == name {
                ends.push(End {
                    index,
                    flow: flow.clone(),
                    side,
                });
            }
        }
    }
    ends
}

/// Connects to one system, then (if that worked) probes its flows' ends concurrently.
async fn check_system(
    name: &str,
    connector: Arc<dyn Connector>,
    ends: Vec<End>,
    timeout: Duration,
) -> (Option<ConfigIssue>, Vec<Found>) {
    let at = || vec!["systems".to_owned(), name.to_owned()];
    let problem = match tokio::time::timeout(timeout, connector.probe()).await {
        Err(_) => Some(format!(
            "no answer within {}: is the system reachable?",
            humantime::format_duration(timeout)
        )),
        Ok(Err(e)) if e.kind() == ErrorKind::Auth => {
            Some(format!("the credentials were refused: {}", e.message()))
        }
        Ok(Err(e)) => Some(format!("cannot connect: {}", e.message())),
        Ok(Ok(())) => None,
    };
    if let Some(message) = problem {
        tracing::debug!(
            system = name,
            "live check: the system failed; its flows are not probed"
        );
        return (Some(ConfigIssue::at(at(), message)), Vec::new());
    }
    let probes = ends.into_iter().map(|end| probe_end(end, timeout));
    (None, join_all(probes).await)
}

/// Probes one end of a flow and turns what it found into located issues.
async fn probe_end(end: End, timeout: Duration) -> Found {
    let probe = match end.side {
        Side::Source => end.flow.source.probe(),
        Side::Target => end.flow.sink.probe(),
    };
    let name = &end.flow.name;
    let side = end.side.key();
    let here = |rest: &[&str]| -> Vec<String> {
        ["flows", name.as_str()]
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let probe: Probe = match tokio::time::timeout(timeout, probe).await {
        Ok(probe) => probe,
        Err(_) => {
            let message = format!("no answer within {}", humantime::format_duration(timeout));
            let issue = ConfigIssue::at(here(&[side]), message);
            return ((end.index, end.side), vec![issue]);
        }
    };
    let mut issues: Vec<ConfigIssue> = probe
        .issues
        .into_iter()
        .map(|issue| {
            let path = match issue.at {
                ProbeAt::Option(path) => {
                    let mut p = here(&[side]);
                    p.extend(path);
                    p
                }
                ProbeAt::Mapped(field) => here(&["mapping", &field]),
            };
            ConfigIssue::at(path, issue.message)
        })
        .collect();
    if let Some(known) = &probe.fields {
        issues.extend(unread_fields(&end.flow, known));
    }
    ((end.index, end.side), issues)
}

/// The mapping's reads that the source's records do not carry, at the rule that reads them.
fn unread_fields(flow: &Flow, known: &KnownFields) -> Vec<ConfigIssue> {
    let carried = |path: &str| {
        let mut prefix = path;
        loop {
            if known.names.iter().any(|n| n == prefix) {
                return true;
            }
            match prefix.rsplit_once('.') {
                Some((head, _)) => prefix = head,
                None => return false,
            }
        }
    };
    let mut issues = Vec::new();
    for (rule, feeds) in lineage::reads(&flow.config.mapping) {
        let Feeds::Fields(paths) = feeds else {
            continue;
        };
        for path in paths.iter().filter(|p| !carried(p)) {
            let hint = did_you_mean(path, known.names.iter().map(String::as_str))
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            issues.push(ConfigIssue::at(
                vec![
                    "flows".to_owned(),
                    flow.name.clone(),
                    "mapping".to_owned(),
                    rule.clone(),
                ],
                format!(
                    "reads source field `{path}`, which is not among {} ({}){hint}",
                    known.origin,
                    shown(&known.names)
                ),
            ));
        }
    }
    issues
}

/// Field names for a message: the first few, and how many more.
fn shown(names: &[String]) -> String {
    const FEW: usize = 12;
    let mut text = names
        .iter()
        .take(FEW)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > FEW {
        text.push_str(&format!(" and {} more", names.len() - FEW));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Instant;

    use super::*;

    /// A system that accepts connections and never answers is reported once its time is up,
    /// and does not hide what the other systems have to say, which are checked meanwhile.
    #[tokio::test]
    async fn a_silent_system_times_out_without_hiding_the_others() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "systems:\n  crm: {{ kind: sql, url: \"sqlite://crm.db\" }}\n  \
             slow: {{ kind: sql, url: \"postgres://u@127.0.0.1:{port}/x\", connect_timeout: 60s }}\n\
             flows:\n  customers:\n    entity: customer\n    \
             source: {{ system: crm, table: customers }}\n    \
             target: {{ system: slow, table: t }}\n    mapping: {{ code: id }}\n"
        );
        let loaded = ferry_model::config::parse_str(&dir.path().join("ferry.yaml"), &yaml).unwrap();
        let assembly = crate::assemble(&loaded, &ferry_connectors::builtin()).unwrap();
        let started = Instant::now();
        let problems = live_check(&loaded, &assembly, Duration::from_secs(1))
            .await
            .unwrap_err()
            .problems;
        assert!(started.elapsed() < Duration::from_secs(10), "{problems:?}");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("systems.slow: no answer within 1s"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("flows.customers.source.table: table `customers` not found")
                && problems[1].contains("crm.db does not exist"),
            "{problems:?}"
        );
        assert!(!Path::new(&dir.path().join("crm.db")).exists());
        drop(silent);
    }
}
