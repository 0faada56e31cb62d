//! Typed settings of the `netsuite` connector: the account and its token, a flow's
//! `source:` (an object read by SuiteQL) and its `target:` (a record type written by
//! external id). Each part refuses unknown keys and validates itself; every problem is a
//! [`ConfigIssue`] at its key path.

use std::fmt;
use std::time::Duration;

use ferry_kit::http::{HttpSettings, NetSuiteSettings, RateSettings};
use ferry_kit::sink::Renames;
use ferry_model::config::{ConfigIssue, DurationStr};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Settings under `systems.<name>` for `kind: netsuite`.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// The account id (`1234567`, `1234567-sb1` or `1234567_SB1`): the host is
    /// `<account in lower case, _ as ->.suitetalk.api.netsuite.com`, the OAuth realm the
    /// account in upper case with `_`.
    pub account: String,
    /// The integration record's consumer key.
    pub consumer_key: String,
    /// The integration record's consumer secret.
    pub consumer_secret: String,
    /// The access token's id (one user and role).
    pub token_id: String,
    /// The access token's secret.
    pub token_secret: String,
    /// Another host than the account's (a test double): `http://127.0.0.1:8090`.
    #[serde(default)]
    pub url: Option<String>,
    /// How long one request may take (default 30s; SuiteQL over large tables is slow).
    #[serde(default)]
    pub timeout: Option<DurationStr>,
    /// Retries of a transient failure or a concurrency refusal (default 5).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First wait before a retry, doubled each time (default 1s).
    #[serde(default)]
    pub backoff: Option<DurationStr>,
    /// Most requests per second across every flow on the account.
    #[serde(default)]
    pub rate: Option<RateSettings>,
    /// Records written at once by one sink (default 4): keep it under the account's
    /// concurrency limit (5 on a shared tier without SuiteCloud Plus), which every
    /// integration on the account shares.
    #[serde(default)]
    pub concurrency: Option<usize>,
}

fn default_retries() -> u32 {
    5
}

impl fmt::Debug for SystemSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemSettings")
            .field("account", &self.account)
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"****")
            .field("token_id", &self.token_id)
            .field("token_secret", &"****")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SystemSettings {
    /// The account id as the host spells it (`1234567-sb1`).
    pub fn host_account(&self) -> String {
        self.account.trim().to_ascii_lowercase().replace('_', "-")
    }

    /// Problems of the settings the kit does not check.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut out = Vec::new();
        let account = self.account.trim();
        if account.is_empty()
            || !account
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            out.push(ConfigIssue::new(
                ["account"],
                format!("`{account}` is not a NetSuite account id (like 1234567 or 1234567_SB1)"),
            ));
        }
        if self.concurrency == Some(0) {
            out.push(ConfigIssue::new(["concurrency"], "must be at least 1"));
        }
        out
    }

    /// The HTTP settings: the account's host unless `url` names another (an empty `url`,
    /// as `${NS_URL:-}` gives when unset, is the account's host too).
    pub fn http(&self) -> HttpSettings {
        let url = self
            .url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| {
                format!("https://{}.suitetalk.api.netsuite.com", self.host_account())
            });
        HttpSettings {
            url,
            timeout: self.timeout,
            retries: self.retries,
            backoff: Some(self.backoff.unwrap_or(DurationStr(Duration::from_secs(1)))),
            rate: self.rate.clone(),
            daily_quota: None,
        }
    }

    /// The kit's TBA settings (the kit derives the realm from the account).
    pub fn tba(&self) -> NetSuiteSettings {
        NetSuiteSettings {
            account: self.host_account(),
            consumer_key: self.consumer_key.clone(),
            consumer_secret: self.consumer_secret.clone(),
            token_id: self.token_id.clone(),
            token_secret: self.token_secret.clone(),
        }
    }
}

/// What a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// `customer`.
    Customers,
    /// `item`, every type.
    Items,
    /// `transaction` of type `SalesOrd`, with `lines`.
    SalesOrders,
    /// `transaction` of type `CustInvc`, with `lines`.
    Invoices,
    /// `transaction` of type `ItemShip` (item fulfilments), with `lines` and the external
    /// id of the order they ship (`createdfrom_externalid`).
    Fulfilments,
    /// Inventory items with their quantities per location (`inventoryitemlocations`).
    Stock,
}

/// Options of a flow's `source:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// `customers`, `items`, `sales_orders`, `invoices`, `fulfilments` or `stock`.
    pub object: ObjectKind,
    /// More columns to read (SuiteQL names, lower case: `custentity_region`).
    #[serde(default)]
    pub fields: Vec<String>,
    /// A SuiteQL condition ANDed to the read (`subsidiary = 2`).
    #[serde(default)]
    pub filter: Option<String>,
    /// How far back each new scan starts, for records saved late with an earlier
    /// `lastmodifieddate` (default 2m); the window settles when nothing newer comes.
    #[serde(default)]
    pub overlap: Option<DurationStr>,
    /// Stock only: location id or name → the name the record uses. Listed locations only;
    /// absent: every location, by id.
    #[serde(default)]
    pub locations: IndexMap<String, String>,
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub object: ObjectKind,
    pub fields: Vec<String>,
    pub filter: Option<String>,
    pub overlap: Duration,
    pub locations: IndexMap<String, String>,
}

/// A SuiteQL column name: lower-case letters, digits, `_`.
fn column_issue(issues: &mut Vec<ConfigIssue>, at: &[&str], name: &str) {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        issues.push(ConfigIssue::at(
            at.iter().map(|s| (*s).to_owned()).collect(),
            format!("`{name}` is not a SuiteQL column name (lower-case letters, digits, `_`)"),
        ));
    }
}

impl SourceOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<SourceSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            column_issue(&mut issues, &["fields", &i.to_string()], f);
        }
        if self.filter.as_deref().is_some_and(|f| f.trim().is_empty()) {
            issues.push(ConfigIssue::new(["filter"], "is empty: leave it out"));
        }
        if !self.locations.is_empty() && self.object != ObjectKind::Stock {
            issues.push(ConfigIssue::new(
                ["locations"],
                "applies to `object: stock` only",
            ));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(SourceSpec {
            object: self.object,
            fields: self.fields,
            filter: self.filter,
            overlap: self.overlap.map_or(Duration::from_secs(120), |d| d.0),
            locations: self.locations,
        })
    }
}

/// Options of a flow's `target:`: a record type written by external id.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// The REST record type (`customer`, `salesOrder`, `invoice`, `inventoryItem`,
    /// `itemFulfillment`): each record is upserted with `PUT record/v1/<record>/eid:<key>`,
    /// the flow's key being its external id.
    pub record: String,
    /// Canonical field → REST field (`{name: companyName}`). Unlisted fields keep their
    /// name; `~` leaves one out.
    #[serde(default)]
    pub fields: Renames,
    /// REST fields set when the record has no value for them (`{subsidiary: {id: "1"}}`).
    #[serde(default)]
    pub defaults: Map<String, Value>,
    /// REST reference fields whose value is a business key, and where to look it up:
    /// `{entity: customer.externalid}` sends `{"entity": {"id": <the customer's id>}}`.
    #[serde(default)]
    pub refs: IndexMap<String, String>,
    /// The lines, written as the `item` sublist.
    #[serde(default)]
    pub lines: Option<LinesTarget>,
    /// For records made from a sales order (`itemFulfillment`, `invoice`): the canonical
    /// field holding the order's external id (`order_id`). A record not there yet is the
    /// order transformed (`POST salesOrder/eid:<order>/!transform/<record>`, all its lines);
    /// one there already (found by its external id) is updated.
    #[serde(default)]
    pub from_order: Option<String>,
}

/// The lines of a record, written as a sublist (replacing the lines it had).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesTarget {
    /// The canonical field holding the lines (default `lines`).
    #[serde(default)]
    pub from: Option<String>,
    /// The sublist (default `item`).
    #[serde(default)]
    pub sublist: Option<String>,
    /// Canonical line field → sublist field (`{sku: item, price: rate}`).
    #[serde(default)]
    pub fields: Renames,
    /// Line reference fields looked up by business key (`{item: item.itemid}`).
    #[serde(default)]
    pub refs: IndexMap<String, String>,
}

/// Where a reference's business key is looked up: `customer.externalid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lookup {
    pub table: String,
    pub column: String,
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub record: String,
    pub fields: Renames,
    pub defaults: Map<String, Value>,
    pub refs: Vec<(String, Lookup)>,
    pub lines: Option<LinesSpec>,
    pub from_order: Option<String>,
}

/// Validated lines.
#[derive(Debug, Clone)]
pub struct LinesSpec {
    pub from: String,
    pub sublist: String,
    pub fields: Renames,
    pub refs: Vec<(String, Lookup)>,
}

fn lookups(
    issues: &mut Vec<ConfigIssue>,
    at: &[&str],
    refs: &IndexMap<String, String>,
) -> Vec<(String, Lookup)> {
    let mut out = Vec::new();
    for (field, to) in refs {
        let mut path: Vec<&str> = at.to_vec();
        path.push(field);
        match to.split_once('.') {
            Some((table, column)) => {
                let before = issues.len();
                column_issue(issues, &path, table);
                column_issue(issues, &path, column);
                if issues.len() == before {
                    let lookup = Lookup {
                        table: table.to_owned(),
                        column: column.to_owned(),
                    };
                    out.push((field.clone(), lookup));
                }
            }
            None => issues.push(ConfigIssue::at(
                path.iter().map(|s| (*s).to_owned()).collect(),
                format!("`{to}` is not `table.column` (like customer.externalid)"),
            )),
        }
    }
    out
}

impl TargetOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<TargetSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let record_ok = !self.record.is_empty()
            && self.record.chars().all(|c| c.is_ascii_alphanumeric())
            && self.record.starts_with(|c: char| c.is_ascii_lowercase());
        if !record_ok {
            issues.push(ConfigIssue::new(
                ["record"],
                format!(
                    "`{}` is not a REST record type (like customer or salesOrder)",
                    self.record
                ),
            ));
        }
        let refs = lookups(&mut issues, &["refs"], &self.refs);
        let lines = self.lines.map(|l| LinesSpec {
            from: l.from.unwrap_or_else(|| "lines".into()),
            sublist: l.sublist.unwrap_or_else(|| "item".into()),
            fields: l.fields,
            refs: lookups(&mut issues, &["lines", "refs"], &l.refs),
        });
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(TargetSpec {
            record: self.record,
            fields: self.fields,
            defaults: self.defaults,
            refs,
            lines,
            from_order: self.from_order,
        })
    }
}
