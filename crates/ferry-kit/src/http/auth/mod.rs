//! # Credentials on requests
//!
//! [`Auth`] is the hook [`HttpClient`](super::HttpClient) calls before every attempt (with
//! the whole [`Outgoing`] request, so that a scheme can sign method, URL and body) and after
//! a refusal (401/403, or a 200 body a [`ReplyCheck`](super::ReplyCheck) reads as an expired
//! session); each scheme implements it. [`AuthSettings`] is the `auth:` block a connector
//! embeds in its system settings so that every HTTP connector accepts the same schemes,
//! spelled the same way, checked the same way (each problem at its key, no secret quoted).
//! Every scheme's `Debug` hides its secrets, and every secret it holds or is issued (tokens,
//! sessions) is scrubbed from error messages.
//!
//! The YAML of each scheme is on [`AuthSettings`].

mod encode;
mod headers;
mod hook;
mod jwt;
mod netsuite;
mod oauth2;
mod session;
mod settings;
mod signing;
mod token;

#[cfg(test)]
mod tests;

pub use encode::{Digest, hmac, pct};
pub use headers::StaticAuth;
pub use hook::{Auth, NoAuth, Outgoing};
pub use jwt::{JwtAlgorithm, JwtBearerSettings};
pub use netsuite::{NetSuiteSettings, NetSuiteTba};
pub use oauth2::{ClientAuth, ClientCredentialsSettings, RefreshTokenSettings};
pub use session::{BodyFormat, SessionLogin, SessionSettings};
pub use settings::AuthSettings;
pub use signing::{HmacAuth, HmacSettings, SignatureEncoding, TimestampFormat};
pub use token::{Held, Issued, OAuth2};
