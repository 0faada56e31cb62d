//! Finding the real Tryton server the tests run against: `scripts/peers/tryton-up.sh DIR
//! 8000` writes `DIR/tryton/env`, read here from `$FERRY_PEERS_DIR` (default
//! `/var/tmp/ferry-peers`). Shared by the peer tests and the conformance fixture.

use std::collections::HashMap;
use std::path::PathBuf;

/// The `KEY=VALUE` lines `tryton-up.sh` wrote, or why there are none.
pub(crate) fn env() -> Result<HashMap<String, String>, String> {
    let dir = std::env::var("FERRY_PEERS_DIR").unwrap_or_else(|_| "/var/tmp/ferry-peers".into());
    let file = PathBuf::from(dir).join("tryton/env");
    let text = std::fs::read_to_string(&file).map_err(|_| format!("no {}", file.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// `None` after saying why the server is absent; under `CI=true` an absent server fails.
pub(crate) fn skip<T>(why: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("tryton is required in CI but {why}");
    }
    eprintln!("SKIPPED: tryton not reachable ({why}); start it with scripts/peers/tryton-up.sh");
    None
}
