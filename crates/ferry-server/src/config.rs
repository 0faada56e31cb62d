//! [`ServerSettings`]: the `server:` section of `ferry.yaml`, resolved for serving (addresses
//! parsed, paths made absolute, secrets held apart so they never reach a log line).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferry_model::config::{LoadedConfig, RateLimitConfig};
use ipnet::IpNet;

use crate::error::ServerError;
use crate::mask::Masks;

/// The server's settings, ready to use.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Serve at all (`server.enabled`; `ferry run --no-serve` turns it off).
    pub enabled: bool,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Certificate and key files, when serving HTTPS.
    pub tls: Option<TlsPaths>,
    /// Client networks allowed; empty: every address.
    pub allow: Vec<IpNet>,
    /// Requests per API key (webhooks: see [`Hook`]).
    pub rate_limit: RateLimitConfig,
    /// How far a webhook's timestamp may be from our clock.
    pub tolerance: Duration,
    /// Largest webhook body, in bytes.
    pub max_body: usize,
    /// Systems sending webhooks: signing secret and rate limit, by system.
    pub hooks: HashMap<String, Hook>,
    /// Fields the API and the console show masked, by flow (see [`Masks`]).
    pub mask: Masks,
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// One system allowed to send webhooks.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The signing secret.
    pub secret: HookSecret,
    /// Notices per second accepted from the system.
    pub rate_limit: RateLimitConfig,
}

/// A webhook signing secret. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct HookSecret(Vec<u8>);

impl HookSecret {
    /// The secret's bytes (for the HMAC key).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HookSecret(****)")
    }
}

impl ServerSettings {
    /// Resolves a loaded (and validated) config's `server:` section.
    pub fn from_config(loaded: &LoadedConfig) -> Result<Self, ServerError> {
        let server = &loaded.config.server;
        let listen = server.listen.parse().map_err(|_| {
            ServerError::Config(format!(
                "server.listen: `{}` is not an address and port",
                server.listen
            ))
        })?;
        Ok(Self {
            enabled: server.enabled,
            listen,
            tls: server.tls.as_ref().map(|t| TlsPaths {
                cert: loaded.resolve(&t.cert),
                key: loaded.resolve(&t.key),
            }),
            allow: server.allowed_networks(),
            rate_limit: server.rate_limit.clone(),
            tolerance: server.webhook.tolerance.0,
            max_body: server.webhook.max_body,
            hooks: server
                .hooks
                .iter()
                .map(|(system, hook)| {
                    let settings = Hook {
                        secret: HookSecret(hook.secret.as_bytes().to_vec()),
                        rate_limit: hook.rate(),
                    };
                    (system.clone(), settings)
                })
                .collect(),
            mask: Masks::new(server.mask.clone(), &loaded.config.flows),
        })
    }

    /// Whether a client address may use the server.
    pub fn allows(&self, addr: std::net::IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&addr))
    }
}
