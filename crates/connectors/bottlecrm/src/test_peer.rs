//! Finding the real BottleCRM the tests run against: `scripts/peers/crm-up.sh DIR 8100`
//! writes `DIR/crm/env`, read here from `$FERRY_PEERS_DIR` (default `/var/tmp/ferry-peers`).
//! Shared by the peer tests and the conformance fixture.

use std::collections::HashMap;
use std::path::PathBuf;

/// The peer's `KEY=VALUE` env file, if the peer was started.
pub(crate) fn peer_env() -> Result<HashMap<String, String>, String> {
    let dir = std::env::var("FERRY_PEERS_DIR").unwrap_or_else(|_| "/var/tmp/ferry-peers".into());
    let path = PathBuf::from(dir).join("crm/env");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{} cannot be read ({e}); start it with scripts/peers/crm-up.sh",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// Whether a server test may run: in CI a missing server fails the test, elsewhere it is a
/// visible skip (the convention of `crates/ferry/tests/common::require_server`).
pub(crate) fn require_server(reachable: Result<(), String>) -> bool {
    match reachable {
        Ok(()) => true,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("bottlecrm is required in CI but not reachable: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: bottlecrm not reachable: {why}");
            false
        }
    }
}
