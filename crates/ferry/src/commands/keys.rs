//! `ferry keys create|list|revoke`: API keys, on the store directly (no server needed), so the
//! first admin key exists before `ferry run` serves. Audited with source `cli`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ferry_server::audit::Actor;

use crate::cli::KeysAction;
use crate::output::{Times, out, outln, print_json, table};
use crate::workspace;

/// Runs one `ferry keys` action.
pub async fn keys(config: &Path, action: KeysAction) -> anyhow::Result<ExitCode> {
    let loaded = ferry_model::config::load(config)?;
    let times = Times::of(&loaded.config);
    let url = workspace::store_url(&loaded)?;
    let store = ferry_store::open(&url).await.with_context(|| {
        format!(
            "opening the state store {}",
            loaded.redact(&ferry_model::secret::mask_url(&url))
        )
    })?;
    match action {
        KeysAction::Create {
            name,
            role,
            json,
            token_only,
        } => {
            let created =
                ferry_server::auth::create_key(store.as_ref(), &name, role, &Actor::cli()).await?;
            if token_only {
                eprintln!(
                    "Created key {} ({name}, {role}); its token, on stdout, is shown this once.",
                    created.key.id
                );
                outln!("{}", created.token);
            } else if json {
                print_json(&serde_json::json!({
                    "id": created.key.id,
                    "name": created.key.name,
                    "role": created.key.role,
                    "token": created.token,
                }))?;
            } else {
                outln!(
                    "Created key {} ({name}, {role}). Its token, shown this once:\n\n  {}\n\n\
                     Send it as `Authorization: Bearer <token>`.",
                    created.key.id,
                    created.token
                );
            }
        }
        KeysAction::List { json } => {
            let keys = store.api_keys().await?;
            if json {
                let shown: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "id": k.id, "name": k.name, "role": k.role,
                            "created_at": k.created_at, "revoked_at": k.revoked_at,
                        })
                    })
                    .collect();
                print_json(&shown)?;
            } else {
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.to_string(),
                            k.name.clone(),
                            k.role.clone(),
                            times.show(k.created_at),
                            k.revoked_at
                                .map(|t| format!("revoked {}", times.show(t)))
                                .unwrap_or_else(|| "active".into()),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(&["id", "name", "role", "created", "state"], &rows)
                );
            }
        }
        KeysAction::Revoke { id } => {
            let key = ferry_server::auth::revoke_key(store.as_ref(), id, &Actor::cli()).await?;
            outln!("Revoked key {} ({}, {}).", key.id, key.name, key.role);
        }
    }
    Ok(ExitCode::SUCCESS)
}
