//! How a run of the SAP double behaves: the communication user, the OAuth client, lifetimes,
//! the server page size, whether updates must carry `If-Match`, and the seed sizes.

use std::time::Duration;

/// How many records of each kind the seed writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SapSeed {
    /// Business partners that are customers (`10100001`…), each with a sales area and a
    /// credit account.
    pub customers: usize,
    /// Products (`TG11`, `TG12`, …), each with a description and a standard price.
    pub products: usize,
    /// Sales orders (`4000001`…), 1 to 3 items each; the first half delivered and billed.
    pub sales_orders: usize,
}

impl Default for SapSeed {
    fn default() -> Self {
        Self {
            customers: 4,
            products: 5,
            sales_orders: 6,
        }
    }
}

/// Whether PATCH, MERGE, PUT and DELETE must carry `If-Match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum IfMatch {
    /// Missing `If-Match` → 428 Precondition Required (the stricter services).
    #[default]
    Required,
    /// Missing `If-Match` is let through; a stale one is still 412.
    Optional,
}

/// One run of the SAP double. `SapConfig::default()` holds the test values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SapConfig {
    /// The communication user for Basic auth.
    pub user: String,
    pub password: String,
    /// The OAuth 2.0 client (client credentials, Basic client auth at the token endpoint).
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of OAuth access tokens (`expires_in`).
    pub token_ttl: Duration,
    /// Lifetime of a session cookie and the CSRF token bound to it.
    pub session_ttl: Duration,
    /// Server-driven page size: a longer answer ends with `__next` and a `$skiptoken`.
    pub page_size: usize,
    pub if_match: IfMatch,
    /// The system id and client in the session cookie name (`SAP_SESSIONID_FER_100`).
    pub system_id: String,
    pub client: String,
    pub seed: SapSeed,
    /// How long saving one change set of a `$batch` takes (default none). Like Gateway,
    /// the double goes on saving a `$batch` after its caller has gone away: with a time
    /// set, modifying requests run on a task of their own that a dropped connection does
    /// not cancel, so a test can kill a client mid-`$batch` and watch SAP finish it.
    pub change_set_time: Duration,
}

impl Default for SapConfig {
    fn default() -> Self {
        Self {
            user: "FERRY_COMM_USER".into(),
            password: "sap-Pa55word".into(),
            client_id: "ferry-oauth-client".into(),
            client_secret: "sap-oauth-s3cret".into(),
            token_ttl: Duration::from_secs(3600),
            session_ttl: Duration::from_secs(30 * 60),
            page_size: 50,
            if_match: IfMatch::Required,
            system_id: "FER".into(),
            client: "100".into(),
            seed: SapSeed::default(),
            change_set_time: Duration::ZERO,
        }
    }
}

impl SapConfig {
    /// The session cookie's name: `SAP_SESSIONID_<SID>_<client>`.
    pub fn session_cookie(&self) -> String {
        format!("SAP_SESSIONID_{}_{}", self.system_id, self.client)
    }
}
