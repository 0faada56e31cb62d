//! How a run of the reference double behaves: paging style, auth, credentials, seed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a list endpoint pages (see the README for the exact parameters and bodies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Paging {
    /// `?page=1&per_page=20` → `{"data", "page", "per_page", "total"}`.
    #[value(name = "page")]
    Page,
    /// `?offset=0&limit=20` → `{"data", "offset", "limit", "total"}`.
    #[value(name = "offset")]
    Offset,
    /// `?cursor=…&limit=20` → `{"data", "next_cursor"}` (null on the last page).
    #[value(name = "cursor")]
    Cursor,
    /// `?page=1&per_page=20` → a bare array and `Link: <…>; rel="next"`.
    #[value(name = "link")]
    Link,
    /// `?limit=20` → `{"data", "next"}`: the absolute URL of the next page, absent on the
    /// last one.
    #[value(name = "next_url")]
    NextUrl,
}

impl Paging {
    pub const ALL: [Paging; 5] = [
        Self::Page,
        Self::Offset,
        Self::Cursor,
        Self::Link,
        Self::NextUrl,
    ];

    /// The name of the style in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Offset => "offset",
            Self::Cursor => "cursor",
            Self::Link => "link",
            Self::NextUrl => "next_url",
        }
    }

    /// The query parameters of this style (besides the incremental filters).
    pub(crate) fn params(self) -> [&'static str; 2] {
        match self {
            Self::Page | Self::Link => ["page", "per_page"],
            Self::Offset => ["offset", "limit"],
            Self::Cursor => ["cursor", "limit"],
            Self::NextUrl => ["after", "limit"],
        }
    }
}

/// How clients authenticate to a run (one mode per run; see the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Anyone may call.
    #[value(name = "none")]
    None,
    /// `X-API-Key: <api_key>`.
    #[value(name = "api_key")]
    ApiKey,
    /// `Authorization: Basic base64(username:password)`.
    #[value(name = "basic")]
    Basic,
    /// `Authorization: Bearer <bearer_token>`, a fixed token that never expires.
    #[value(name = "bearer")]
    Bearer,
    /// OAuth 2 client credentials: `POST /oauth/token`, then `Authorization: Bearer <token>`.
    #[value(name = "oauth2")]
    OAuth2,
    /// `POST /session/login`, then the `ref_session` cookie or an `X-Session-Id` header.
    #[value(name = "session")]
    Session,
}

/// How an expired token or session is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ExpiredAnswer {
    /// HTTP 401 with code `TOKEN_EXPIRED` or `SESSION_EXPIRED`.
    #[value(name = "unauthorized")]
    Unauthorized,
    /// HTTP 200 with `{"ok": false, "error": {"code": "SESSION_EXPIRED", …}}`, as vendors
    /// such as Kingdee do.
    #[value(name = "error_in_ok")]
    ErrorInOk,
}

/// The credentials a run accepts. They are test values, printed by the binary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub api_key: String,
    pub username: String,
    pub password: String,
    pub bearer_token: String,
    pub client_id: String,
    pub client_secret: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            api_key: "ref-api-key".into(),
            username: "ferry".into(),
            password: "ferry-pass".into(),
            bearer_token: "ref-bearer-token".into(),
            client_id: "ferry-client".into(),
            client_secret: "ferry-client-secret".into(),
        }
    }
}

/// The starting records: how many of each object, and how many consecutive records of an
/// object share one modified second (ties, from 2026-01-01T00:00:00Z on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed {
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
    pub ties: usize,
}

impl Default for Seed {
    fn default() -> Self {
        Self {
            customers: 30,
            products: 12,
            orders: 20,
            ties: 3,
        }
    }
}

/// One run of the reference double.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceConfig {
    /// The paging style of every object without one of its own.
    pub paging: Paging,
    /// Paging styles of single objects, overriding `paging`.
    pub object_paging: BTreeMap<String, Paging>,
    /// Next-page URLs (`next` in the body, `Link`) as paths (`/api/…?…`) instead of
    /// absolute URLs, as some vendors write them.
    pub relative_next_urls: bool,
    /// Page size when the client gives none.
    pub default_page_size: usize,
    /// Largest page served; a larger request is served this many (and says so).
    pub max_page_size: usize,
    pub auth: AuthMode,
    pub credentials: Credentials,
    /// Lifetime of OAuth tokens and login sessions.
    pub session_ttl: Duration,
    pub expired_answer: ExpiredAnswer,
    /// Most records in one batch request.
    pub max_batch: usize,
    pub seed: Seed,
}

impl Default for ReferenceConfig {
    fn default() -> Self {
        Self {
            paging: Paging::Page,
            object_paging: BTreeMap::new(),
            relative_next_urls: false,
            default_page_size: 20,
            max_page_size: 100,
            auth: AuthMode::ApiKey,
            credentials: Credentials::default(),
            session_ttl: Duration::from_secs(3600),
            expired_answer: ExpiredAnswer::Unauthorized,
            max_batch: 100,
            seed: Seed::default(),
        }
    }
}

impl ReferenceConfig {
    /// The paging style of `object`.
    pub fn paging_of(&self, object: &str) -> Paging {
        self.object_paging
            .get(object)
            .copied()
            .unwrap_or(self.paging)
    }

    /// This configuration with `object` paged by `paging`.
    pub fn with_object_paging(mut self, object: &str, paging: Paging) -> Self {
        self.object_paging.insert(object.to_owned(), paging);
        self
    }
}
