//! Creating and revoking API keys: shared by the API (`/api/v1/keys`) and the CLI
//! (`ferry keys`), and audited either way.

use std::fmt;

use ferry_store::{ApiKey, NewApiKey, Store};
use sha2::{Digest, Sha256};

use super::Role;
use crate::audit::{self, Actor};

/// A fresh random token: `fy_` and 32 random bytes in hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("fy_{}", hex::encode(bytes))
}

/// The hex SHA-256 of a token: what the store keeps.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A key just created, with its token: the only time the token exists outside the client.
pub struct CreatedKey {
    /// The stored key.
    pub key: ApiKey,
    /// The token to hand to the client.
    pub token: String,
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field("token", &"****")
            .finish()
    }
}

/// Creates a key and records it in the audit log.
pub async fn create_key(
    store: &dyn Store,
    name: &str,
    role: Role,
    actor: &Actor,
) -> Result<CreatedKey, ferry_store::StoreError> {
    let token = new_token();
    let result = store
        .create_api_key(&NewApiKey {
            name: name.to_owned(),
            role: role.as_str().to_owned(),
            token_hash: hash_token(&token),
        })
        .await;
    let target = match &result {
        Ok(key) => format!("key {} ({name}, {role})", key.id),
        Err(_) => format!("key ({name}, {role})"),
    };
    audit::record(store, actor, audit::action::KEY_CREATE, &target, &result).await;
    Ok(CreatedKey {
        key: result?,
        token,
    })
}

/// Revokes a key and records it in the audit log.
pub async fn revoke_key(
    store: &dyn Store,
    id: i64,
    actor: &Actor,
) -> Result<ApiKey, ferry_store::StoreError> {
    let result = store.revoke_api_key(id).await;
    audit::record(
        store,
        actor,
        audit::action::KEY_REVOKE,
        &format!("key {id}"),
        &result,
    )
    .await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("fy_") && a.len() == 67);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a).len(), 64);
        assert!(!hash_token(&a).contains(&a[3..]));
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("operator".parse::<Role>(), Ok(Role::Operator));
        assert!("root".parse::<Role>().is_err());
    }
}
