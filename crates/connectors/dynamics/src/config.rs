//! Typed settings of the `dynamics` connector: the system (the org's URL and the Entra ID
//! app registration), a flow's `source:` (a table read through change tracking) and its
//! `target:` (a table written by alternate key). Each part deserializes with unknown keys
//! refused and validates itself; every problem is a [`ConfigIssue`] at its key path.

use std::fmt;

use ferry_kit::http::HttpSettings;
use ferry_model::config::ConfigIssue;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Where Entra ID issues tokens unless `authority` says otherwise.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Settings under `systems.<name>` for `kind: dynamics`. Its `Debug` hides the secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// The org's URL (`https://contoso.crm.dynamics.com`), timeouts, retries and the
    /// request budget. The Web API is under `/api/data/v9.2/` on it, and the token's scope
    /// is `<url>/.default`.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// The directory (tenant) id of the app registration.
    pub tenant: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// The client secret's value, usually from the environment (`${D365_CLIENT_SECRET}`).
    pub client_secret: String,
    /// The Entra ID host (default `https://login.microsoftonline.com`; sovereign clouds
    /// and tests name another).
    #[serde(default)]
    pub authority: Option<String>,
    /// Records written in one `$batch` at most (default 50, at most 1000; each record its
    /// own change set).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

fn default_batch() -> usize {
    50
}

impl fmt::Debug for SystemSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemSettings")
            .field("url", &self.http.url)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &"****")
            .finish_non_exhaustive()
    }
}

impl SystemSettings {
    /// Problems with the settings, the HTTP ones aside.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        for (key, value) in [
            ("tenant", &self.tenant),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ] {
            if value.trim().is_empty() {
                issues.push(ConfigIssue::new(
                    [key],
                    "is empty: give it (e.g. from the environment, `${NAME}`)",
                ));
            }
        }
        if self.tenant.contains('/') {
            issues.push(ConfigIssue::new(
                ["tenant"],
                "is a directory id or domain, not a URL",
            ));
        }
        if let Some(a) = &self.authority
            && !(a.starts_with("https://") || a.starts_with("http://"))
        {
            issues.push(ConfigIssue::new(
                ["authority"],
                "must be an http(s) URL like https://login.microsoftonline.com",
            ));
        }
        if self.batch_size == 0 || self.batch_size > 1000 {
            issues.push(ConfigIssue::new(["batch_size"], "must be 1 to 1000"));
        }
        issues
    }

    /// The v2.0 token endpoint.
    pub fn token_url(&self) -> String {
        let authority = self.authority.as_deref().unwrap_or(DEFAULT_AUTHORITY);
        format!(
            "{}/{}/oauth2/v2.0/token",
            authority.trim_end_matches('/'),
            self.tenant.trim()
        )
    }

    /// `<org url>/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.http.url.trim().trim_end_matches('/'))
    }
}

/// What Ferry knows of a standard table: its primary id and usual alternate key.
#[derive(Debug, Clone, Copy)]
pub struct KnownSet {
    pub set: &'static str,
    pub id: &'static str,
    /// The alternate key to upsert on when the target names none.
    pub key: Option<&'static str>,
}

const KNOWN: &[KnownSet] = &[
    KnownSet {
        set: "accounts",
        id: "accountid",
        key: Some("accountnumber"),
    },
    KnownSet {
        set: "contacts",
        id: "contactid",
        key: None,
    },
    KnownSet {
        set: "opportunities",
        id: "opportunityid",
        key: None,
    },
    KnownSet {
        set: "salesorders",
        id: "salesorderid",
        key: Some("ordernumber"),
    },
    KnownSet {
        set: "salesorderdetails",
        id: "salesorderdetailid",
        key: None,
    },
    KnownSet {
        set: "products",
        id: "productid",
        key: Some("productnumber"),
    },
    KnownSet {
        set: "invoices",
        id: "invoiceid",
        key: Some("invoicenumber"),
    },
    KnownSet {
        set: "leads",
        id: "leadid",
        key: None,
    },
];

pub fn known(set: &str) -> Option<&'static KnownSet> {
    KNOWN.iter().find(|k| k.set == set)
}

fn set_issue(issues: &mut Vec<ConfigIssue>, set: &str) {
    if set.is_empty() || !set.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        issues.push(ConfigIssue::new(
            ["entity_set"],
            format!("`{set}` is not an entity set name (like `accounts`)"),
        ));
    }
}

/// Options of a flow's `source:` reading a table through change tracking (the table must
/// have **Track changes** enabled).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// The entity set (`accounts`, `contacts`, `opportunities`, `salesorders`, …).
    pub entity_set: String,
    /// The columns to read (`$select`; the only query option change tracking allows);
    /// empty (default): all of them.
    #[serde(default)]
    pub select: Vec<String>,
    /// The primary id column (known tables need none; otherwise `<logicalname>id`).
    #[serde(default)]
    pub id: Option<String>,
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct Source {
    pub set: String,
    pub select: Vec<String>,
    pub id: String,
}

impl SourceOptions {
    pub fn validate(self) -> Result<Source, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        set_issue(&mut issues, &self.entity_set);
        let id = self
            .id
            .clone()
            .or_else(|| known(&self.entity_set).map(|k| k.id.to_owned()));
        if id.is_none() {
            issues.push(ConfigIssue::new(
                ["id"],
                format!(
                    "`{}` is not a table Ferry knows: name its primary id column (like `accountid`)",
                    self.entity_set
                ),
            ));
        }
        match id {
            Some(id) if issues.is_empty() => Ok(Source {
                set: self.entity_set,
                select: self.select,
                id,
            }),
            _ => Err(issues),
        }
    }
}

/// How an upsert may act, as Dataverse's headers say it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `PATCH` alone: create or update.
    #[default]
    Upsert,
    /// `If-None-Match: *`: create only; a record that exists is refused (412).
    Create,
    /// `If-Match: *`: update only; a record that does not exist is refused (404).
    Update,
}

/// A lookup column written from another record's alternate key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupOption {
    /// The navigation property (`parentaccountid`, `parentcustomerid_account`,
    /// `customerid_account`).
    pub bind: String,
    /// The entity set of the record named (`accounts`).
    pub set: String,
    /// Its alternate key column (`accountnumber`).
    pub key: String,
}

/// Options of a flow's `target:` writing a table by alternate key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// The entity set written.
    pub entity_set: String,
    /// The alternate key column the flow's key is written to and upserted on (defined on
    /// the table under Settings → Keys). Known: `accountnumber` for accounts,
    /// `ordernumber` for sales orders.
    #[serde(default)]
    pub key: Option<String>,
    /// Canonical field → column, for fields whose column has another name
    /// (`{name: name, phone: telephone1}`); other fields keep their name.
    #[serde(default)]
    pub fields: IndexMap<String, String>,
    /// Column values written with every record unless the record has the column.
    #[serde(default)]
    pub defaults: Map<String, Value>,
    /// Canonical field → lookup bound by another record's alternate key:
    /// `{account_number: {bind: parentaccountid, set: accounts, key: accountnumber}}`.
    #[serde(default)]
    pub lookups: IndexMap<String, LookupOption>,
    /// `upsert` (default), `create` (never update) or `update` (never create).
    #[serde(default)]
    pub mode: Mode,
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct Target {
    pub set: String,
    pub key: String,
    pub fields: IndexMap<String, String>,
    pub defaults: Map<String, Value>,
    pub lookups: IndexMap<String, LookupOption>,
    pub mode: Mode,
}

impl TargetOptions {
    pub fn validate(self) -> Result<Target, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        set_issue(&mut issues, &self.entity_set);
        let key = self
            .key
            .clone()
            .or_else(|| known(&self.entity_set).and_then(|k| k.key.map(str::to_owned)));
        if key.is_none() {
            issues.push(ConfigIssue::new(
                ["key"],
                format!(
                    "name the alternate key column of `{}` the flow's key is written to",
                    self.entity_set
                ),
            ));
        }
        for (field, lookup) in &self.lookups {
            for (what, value) in [
                ("bind", &lookup.bind),
                ("set", &lookup.set),
                ("key", &lookup.key),
            ] {
                if value.trim().is_empty() {
                    issues.push(ConfigIssue::new(
                        ["lookups", field.as_str(), what],
                        "is empty",
                    ));
                }
            }
        }
        match key {
            Some(key) if issues.is_empty() => Ok(Target {
                set: self.entity_set,
                key,
                fields: self.fields,
                defaults: self.defaults,
                lookups: self.lookups,
                mode: self.mode,
            }),
            _ => Err(issues),
        }
    }
}
