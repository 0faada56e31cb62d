//! The audit log: every operator action (sync trigger, replay, edit, skip, key created or
//! revoked) with who (key id, name, role), what, on what, when, from where and how it ended.
//! Read it with `GET /api/v1/audit` (admins).

use ferry_store::{NewAuditEntry, Store};

/// Who acted.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The API key, when the action came through the API.
    pub key_id: Option<i64>,
    /// Its name.
    pub key_name: Option<String>,
    /// Its role.
    pub role: Option<String>,
    /// The client address, or `cli`.
    pub source: Option<String>,
}

impl Actor {
    /// The command line, working on the store directly (the first admin key is made so).
    pub fn cli() -> Self {
        Self {
            source: Some("cli".into()),
            ..Self::default()
        }
    }
}

/// Appends one entry: `ok`, or the error's message. An audit write that fails is logged as
/// an error; the action itself has already happened and is not undone.
pub async fn record<T, E: std::fmt::Display>(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    target: &str,
    result: &Result<T, E>,
) {
    let entry = NewAuditEntry {
        key_id: actor.key_id,
        key_name: actor.key_name.clone(),
        role: actor.role.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        source: actor.source.clone(),
        outcome: match result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        },
    };
    if let Err(e) = store.record_audit(&entry).await {
        tracing::error!(error = ?e.to_string(), action = ?action, target = ?target, "Could not write the audit log.");
    }
}
