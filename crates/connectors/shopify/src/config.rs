//! Typed settings of the `shopify` connector: the shop (URL, Admin API token, API version,
//! the app's client secret for webhooks), a flow's `source:` (customers, products or orders
//! read by `updated_at`) and its `target:` (customers, products, inventory quantities or
//! fulfilments). Each part deserializes with unknown keys refused and validates itself;
//! every problem is a [`ConfigIssue`] at its key path.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ferry_kit::http::HttpSettings;
use ferry_kit::sink::Renames;
use ferry_model::config::{ConfigIssue, DurationStr};
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings under `systems.<name>` for `kind: shopify`.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// The shop (`https://<shop>.myshopify.com`), timeouts and retries. Calls go to
    /// `<url>/admin/api/<api_version>/graphql.json`.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// The Admin API access token (`shpat_…`, a custom app's, or an OAuth offline token),
    /// sent as `X-Shopify-Access-Token`; usually `${SHOPIFY_TOKEN}`.
    pub access_token: String,
    /// The app's client secret: webhooks at `POST /hooks/<system>` are verified with it
    /// (HMAC-SHA256). Without it, Shopify's webhooks are not taken.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The Admin API version (`2025-07`, default). Shopify supports each for a year.
    #[serde(default = "default_version")]
    pub api_version: String,
}

fn default_version() -> String {
    "2025-07".into()
}

impl fmt::Debug for SystemSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemSettings")
            .field("http", &self.http)
            .field("access_token", &"****")
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "****"),
            )
            .field("api_version", &self.api_version)
            .finish()
    }
}

impl SystemSettings {
    /// Problems with the settings, the HTTP ones aside.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.access_token.trim().is_empty() {
            issues.push(ConfigIssue::new(
                ["access_token"],
                "give the Admin API access token, e.g. `${SHOPIFY_TOKEN}`",
            ));
        }
        if self
            .client_secret
            .as_ref()
            .is_some_and(|s| s.trim().is_empty())
        {
            issues.push(ConfigIssue::new(
                ["client_secret"],
                "is empty: leave it out, or give the app's client secret",
            ));
        }
        let v = self.api_version.as_bytes();
        let shaped =
            v.len() == 7 && v[4] == b'-' && v[..4].iter().chain(&v[5..]).all(u8::is_ascii_digit);
        if !shaped && self.api_version != "unstable" {
            issues.push(ConfigIssue::new(
                ["api_version"],
                format!(
                    "`{}` is not a Shopify API version: write one like `2025-07`",
                    self.api_version
                ),
            ));
        }
        issues
    }
}

/// The objects a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Object {
    /// Customers, with their default address and the metafields named in `metafields`.
    Customers,
    /// Products with their variants, each variant's stock per location and summed.
    Products,
    /// Orders with line items (taxes, discounts), fulfilments and transactions.
    Orders,
}

impl Object {
    pub fn name(self) -> &'static str {
        match self {
            Object::Customers => "customers",
            Object::Products => "products",
            Object::Orders => "orders",
        }
    }
}

/// When a source reads through a bulk operation instead of paged queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bulk {
    /// On a first read (no cursor), and on a scan whose changes are more than
    /// `bulk_threshold` (default).
    #[default]
    Auto,
    /// Never: paged queries only.
    Never,
}

/// Options of a flow's `source:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// `customers`, `products` or `orders`.
    pub object: Object,
    /// A Shopify search ANDed with the change condition (`status:active`, `tag:wholesale`).
    #[serde(default)]
    pub query: Option<String>,
    /// Metafields read with each record, `namespace.key` (`erp.customer_no`): they come as
    /// `metafields: {namespace: {key: value}}`.
    #[serde(default)]
    pub metafields: Vec<String>,
    /// How far back each new scan starts (default 2m): Shopify's search index trails a
    /// write by a moment, so a scan started right after one may not find it yet. The window
    /// settles when nothing newer comes.
    #[serde(default)]
    pub overlap: Option<DurationStr>,
    /// `auto` (default): a first read, and a later scan with more than `bulk_threshold`
    /// changes, go through a bulk operation (one JSONL download instead of thousands of
    /// throttled pages); `never`: always paged.
    #[serde(default)]
    pub bulk: Bulk,
    /// Changes in a scan above which it reads by bulk operation (default 10000); the count
    /// is asked (`<object>Count`) at the start of each scan.
    #[serde(default = "default_bulk_threshold")]
    pub bulk_threshold: u64,
    /// How often a running bulk operation is polled (default 2s).
    #[serde(default)]
    pub bulk_poll: Option<DurationStr>,
    /// The longest a bulk operation is waited for (default 30m); then the read fails as
    /// retryable and starts over.
    #[serde(default)]
    pub bulk_timeout: Option<DurationStr>,
}

fn default_bulk_threshold() -> u64 {
    10_000
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub object: Object,
    pub query: Option<String>,
    pub metafields: Vec<(String, String)>,
    pub overlap: Duration,
    pub bulk: Bulk,
    pub bulk_threshold: u64,
    pub bulk_poll: Duration,
    pub bulk_timeout: Duration,
}

impl SourceOptions {
    pub fn validate(self) -> Result<SourceSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let metafields = metafields(&mut issues, &self.metafields);
        if self.query.as_ref().is_some_and(|q| q.trim().is_empty()) {
            issues.push(ConfigIssue::new(["query"], "is empty: leave it out"));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(SourceSpec {
            object: self.object,
            query: self.query,
            metafields,
            overlap: self.overlap.map_or(Duration::from_secs(120), |d| d.0),
            bulk: self.bulk,
            bulk_threshold: self.bulk_threshold,
            bulk_poll: self.bulk_poll.map_or(Duration::from_secs(2), |d| d.0),
            bulk_timeout: self.bulk_timeout.map_or(Duration::from_secs(1800), |d| d.0),
        })
    }
}

fn metafields(issues: &mut Vec<ConfigIssue>, names: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, m) in names.iter().enumerate() {
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        match m.split_once('.') {
            Some((ns, key)) if ok(ns) && ok(key) => out.push((ns.to_owned(), key.to_owned())),
            _ => issues.push(ConfigIssue::at(
                vec!["metafields".to_owned(), i.to_string()],
                format!("`{m}` is not `namespace.key` (letters, digits, `_`, `-`)"),
            )),
        }
    }
    out
}

/// What a target writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetObject {
    /// `customerSet`, found by the flow's key.
    Customers,
    /// `productSet` by handle (the flow's key).
    Products,
    /// `inventorySetQuantities`: the available quantity of an item (by SKU) at a location.
    Inventory,
    /// `fulfillmentCreate` on an order's open fulfilment orders, with tracking.
    Fulfillments,
}

/// How a customer is found: by the key in a metafield (`erp.customer_no`), or by email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerKey {
    Email,
    Metafield(String, String),
}

/// Options of a flow's `target:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// `customers`, `products`, `inventory` or `fulfillments`.
    pub object: TargetObject,
    /// Canonical field → Shopify input field (`name: lastName`, `code: ~`). Unlisted fields
    /// keep their name; `~` leaves one out. For `inventory` and `fulfillments` the fields
    /// read are fixed (see `sku`, `location`, `quantity`, `order`, …) and renames say which
    /// canonical field holds each.
    #[serde(default)]
    pub fields: Renames,
    /// Customers: `email`, or a metafield `namespace.key` (default `erp.customer_no`)
    /// holding the flow's key, which `customerSet` finds the customer by (a `customId`: the
    /// metafield's definition must have a unique-values constraint).
    #[serde(default)]
    pub key: Option<String>,
    /// Inventory: the reason Shopify records (default `correction`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Inventory: location code → location (its GID or name); a code not listed is taken
    /// as a location's GID or name.
    #[serde(default)]
    pub locations: BTreeMap<String, String>,
    /// Fulfilments: e-mail the customer (default false).
    #[serde(default)]
    pub notify_customer: bool,
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub object: TargetObject,
    pub fields: Renames,
    pub key: CustomerKey,
    pub reason: String,
    pub locations: BTreeMap<String, String>,
    pub notify_customer: bool,
}

impl TargetOptions {
    pub fn validate(self) -> Result<TargetSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let key = match self.key.as_deref().unwrap_or("erp.customer_no") {
            "email" => CustomerKey::Email,
            other => {
                let found = metafields(&mut issues, &[other.to_owned()]);
                for i in &mut issues {
                    i.path = vec!["key".into()];
                }
                found
                    .into_iter()
                    .next()
                    .map_or(CustomerKey::Email, |(ns, k)| CustomerKey::Metafield(ns, k))
            }
        };
        if self.key.is_some() && self.object != TargetObject::Customers {
            issues.push(ConfigIssue::new(["key"], "is for `object: customers` only"));
        }
        let reason = self.reason.unwrap_or_else(|| "correction".into());
        if reason.trim().is_empty() || !reason.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            issues.push(ConfigIssue::new(
                ["reason"],
                format!("`{reason}` is not a Shopify inventory reason (`correction`, `received`, `cycle_count_available`, …)"),
            ));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(TargetSpec {
            object: self.object,
            fields: self.fields,
            key,
            reason,
            locations: self.locations,
            notify_customer: self.notify_customer,
        })
    }
}
