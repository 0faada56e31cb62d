//! # Credentials on requests
//!
//! [`Auth`] is the hook [`HttpClient`](super::HttpClient) calls before every attempt and
//! after a 401/403; each scheme implements it. [`AuthSettings`] is the `auth:` block a
//! connector embeds in its system settings so that every HTTP connector accepts the same
//! schemes, spelled the same way, checked the same way:
//!
//! ```yaml
//! auth: { type: bearer, token: "${CRM_TOKEN}" }
//! auth: { type: basic, username: integration, password: "${ERP_PASSWORD}" }
//! auth: { type: api_key, header: X-Api-Key, key: "${API_KEY}" }
//! ```

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

pub use encode::Digest;
pub use headers::StaticAuth;
pub use hook::{Auth, NoAuth, Outgoing};
pub use jwt::{JwtAlgorithm, JwtBearerSettings};
pub use netsuite::{NetSuiteSettings, NetSuiteTba};
pub use oauth2::{ClientAuth, ClientCredentialsSettings, RefreshTokenSettings};
pub use session::{BodyFormat, SessionLogin, SessionSettings};
pub use settings::AuthSettings;
pub use signing::{HmacAuth, HmacSettings, SignatureEncoding, TimestampFormat};
pub use token::OAuth2;
