//! Typed settings of the `salesforce` connector: the system (where to log in, which API
//! version, how to authenticate, when to stop short of the daily API limit), a flow's
//! `source:` (an sObject read by SOQL) and its `target:` (an sObject upserted by an external
//! id). Each part deserializes with unknown keys refused and validates itself; every
//! problem is a [`ConfigIssue`] at its key path.

use std::time::Duration;

use ferry_kit::http::{AuthSettings, HttpSettings};
use ferry_kit::sink::Renames;
use ferry_model::config::{ConfigIssue, DurationStr};
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings under `systems.<name>` for `kind: salesforce`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// The login host (`https://login.salesforce.com`, `https://test.salesforce.com` for a
    /// sandbox, or the org's My Domain URL), timeouts, retries and the request budget. The
    /// API itself is called on the `instance_url` the token reply names.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// `oauth2_client_credentials` (a connected app with a "Run As" user) or `jwt_bearer`
    /// (a connected app with a certificate); the token URL may be a path under `url`
    /// (`/services/oauth2/token`).
    pub auth: AuthSettings,
    /// The REST API version (`v60.0`, default).
    #[serde(default = "default_version")]
    pub api_version: String,
    /// Stop calling when this share of the daily API allocation is used, as read from
    /// `Sforce-Limit-Info` (default 0.9): the rest is left to the org's other users and
    /// integrations, and the flows pause (`rate limited`) for `limit_pause`.
    #[serde(default = "default_limit_share")]
    pub limit_share: f64,
    /// How long the flows pause once `limit_share` is reached (default 15m). The limit is a
    /// rolling 24 hours: usage falls as old requests age out.
    #[serde(default)]
    pub limit_pause: Option<DurationStr>,
}

fn default_version() -> String {
    "v60.0".into()
}

fn default_limit_share() -> f64 {
    0.9
}

/// A validated system.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    /// `v60.0`.
    pub version: String,
    pub limit_share: f64,
    pub limit_pause: Duration,
}

impl SystemSettings {
    /// Problems with the settings, the HTTP and auth ones aside.
    pub fn check(&self) -> Result<SystemSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let v = self.api_version.trim();
        let version = if v.starts_with('v') {
            v.to_owned()
        } else {
            format!("v{v}")
        };
        let number = version[1..].parse::<f64>().ok();
        if !number.is_some_and(|n| n >= 46.0) || !version[1..].contains('.') {
            issues.push(ConfigIssue::new(
                ["api_version"],
                format!(
                    "`{v}` is not an API version Ferry speaks: write `v46.0` or later, like `v60.0`"
                ),
            ));
        }
        if !(self.limit_share > 0.0 && self.limit_share <= 1.0) {
            issues.push(ConfigIssue::new(
                ["limit_share"],
                format!("must be above 0 and at most 1, not {}", self.limit_share),
            ));
        }
        if !matches!(
            self.auth.scheme(),
            "oauth2_client_credentials" | "jwt_bearer"
        ) {
            issues.push(ConfigIssue::new(
                ["auth", "type"],
                format!(
                    "Salesforce is reached with `oauth2_client_credentials` or `jwt_bearer`, not `{}`",
                    self.auth.scheme()
                ),
            ));
        }
        if issues.is_empty() {
            Ok(SystemSpec {
                version,
                limit_share: self.limit_share,
                limit_pause: self.limit_pause.map_or(Duration::from_secs(900), |d| d.0),
            })
        } else {
            Err(issues)
        }
    }
}

/// Options of a flow's `source:` reading an sObject.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// The sObject (`Account`, `Contact`, `Opportunity`, `Product2`, `PricebookEntry`,
    /// `Order`, a custom `Invoice__c`).
    pub object: String,
    /// Fields to read (`Name`, `ERP_Id__c`, `Account.ERP_Id__c`); `Id` and the modified
    /// field are always read.
    pub fields: Vec<String>,
    /// A SOQL condition ANDed with the change condition (`IsDeleted = false AND Type =
    /// 'Customer'`).
    #[serde(default)]
    pub filter: Option<String>,
    /// The change time field (default `SystemModstamp`: indexed, and moved by system
    /// changes too).
    #[serde(default)]
    pub modified: Option<String>,
    /// How far back each new scan starts, for changes committed late with an earlier time
    /// (default 5m); the window settles when nothing newer comes.
    #[serde(default)]
    pub overlap: Option<DurationStr>,
    /// Child records read with each record as `lines` (Opportunity line items, Order items,
    /// a Product's price book entries).
    #[serde(default)]
    pub lines: Option<LinesSource>,
    /// How changes are found: `soql` (default: the keyset on `modified`) or `cdc` (Change
    /// Data Capture over the Streaming API's CometD, the replay id kept as the cursor; a
    /// full SOQL pass first, and a SOQL backfill when the replay id has aged out).
    #[serde(default)]
    pub changes: Changes,
    /// With `changes: cdc`, the longest one read waits for change events (default 10s): the
    /// CometD long poll is cut there so that a read returns.
    #[serde(default)]
    pub cdc_wait: Option<DurationStr>,
}

/// How a source finds changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Changes {
    /// SOQL keyset on the change time.
    #[default]
    Soql,
    /// Change Data Capture events (CometD), SOQL for the first pass and after a gap.
    Cdc,
}

/// Child records of each record read.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesSource {
    /// The child sObject (`OpportunityLineItem`, `OrderItem`, `PricebookEntry`).
    pub object: String,
    /// Its field holding the parent's id (`OpportunityId`, `OrderId`, `Product2Id`).
    pub parent: String,
    /// Its fields to read (`Product2.ProductCode`, `Quantity`, `UnitPrice`).
    pub fields: Vec<String>,
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub object: String,
    pub fields: Vec<String>,
    pub filter: Option<String>,
    pub modified: String,
    pub overlap: Duration,
    pub lines: Option<LinesSource>,
    pub changes: Changes,
    pub cdc_wait: Duration,
}

impl SourceOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<SourceSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        name(&mut issues, &["object"], &self.object, false);
        if self.fields.is_empty() {
            issues.push(ConfigIssue::new(["fields"], "list the fields to read"));
        }
        for (i, f) in self.fields.iter().enumerate() {
            name(&mut issues, &["fields", &i.to_string()], f, true);
        }
        let modified = self.modified.unwrap_or_else(|| "SystemModstamp".into());
        name(&mut issues, &["modified"], &modified, false);
        if let Some(filter) = &self.filter
            && filter.trim().is_empty()
        {
            issues.push(ConfigIssue::new(["filter"], "is empty: leave it out"));
        }
        if let Some(lines) = &self.lines {
            name(&mut issues, &["lines", "object"], &lines.object, false);
            name(&mut issues, &["lines", "parent"], &lines.parent, false);
            if lines.fields.is_empty() {
                issues.push(ConfigIssue::new(
                    ["lines", "fields"],
                    "list the child fields to read",
                ));
            }
            for (i, f) in lines.fields.iter().enumerate() {
                name(&mut issues, &["lines", "fields", &i.to_string()], f, true);
            }
        }
        if let Some(wait) = self.cdc_wait
            && (wait.0.is_zero() || wait.0 > Duration::from_secs(110))
        {
            issues.push(ConfigIssue::new(
                ["cdc_wait"],
                "must be above 0 and at most 110s (the Streaming API's own long-poll limit)",
            ));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(SourceSpec {
            object: self.object,
            fields: self.fields,
            filter: self.filter,
            modified,
            overlap: self.overlap.map_or(Duration::from_secs(300), |d| d.0),
            lines: self.lines,
            changes: self.changes,
            cdc_wait: self.cdc_wait.map_or(Duration::from_secs(10), |d| d.0),
        })
    }
}

/// Options of a flow's `target:` writing an sObject.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// The sObject (`Account`, `Contact`, `Opportunity`, `OpportunityLineItem`, `Product2`,
    /// `PricebookEntry`, `Order`, `OrderItem`).
    pub object: String,
    /// The external id field records are upserted by (`ERP_Id__c`); it takes the flow's
    /// key. With `create: false` any field the records are found by, `Id` included.
    pub external_id: String,
    /// `false`: only update records that exist, found by `external_id` (SOQL), never create
    /// one; a key no record holds is refused with a message naming it (default `true`:
    /// upsert). For writing facts onto records the CRM owns (`external_id: Id`).
    #[serde(default = "default_create")]
    pub create: bool,
    /// Canonical field → sObject field. Unlisted fields keep their name; `~` leaves one out.
    /// A field written `Account.ERP_Id__c` sets the relationship by the parent's external
    /// id (`{"Account": {"ERP_Id__c": …}}`).
    #[serde(default)]
    pub fields: Renames,
    /// Batches larger than this go through Bulk API 2.0 (one job: create, upload CSV,
    /// close, poll, read results back) instead of sObject Collections (200 per call).
    /// Default 500: the engine hands a sink parts of a batch (`engine.batch_size` 2000
    /// over 2 `workers` by default: 1000 records), so a first load's full batches go
    /// through Bulk while the few changes of a running flow stay on Collections. Raise
    /// `engine.batch_size` with it, or it never applies.
    #[serde(default = "default_bulk_threshold")]
    pub bulk_threshold: usize,
    /// How often a Bulk job is polled (default 2s, growing to 30s).
    #[serde(default)]
    pub bulk_poll: Option<DurationStr>,
    /// The longest a batch waits for its Bulk job (default 30m); then the batch fails as
    /// retryable and the job is left to finish.
    #[serde(default)]
    pub bulk_timeout: Option<DurationStr>,
}

fn default_create() -> bool {
    true
}

fn default_bulk_threshold() -> usize {
    500
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub object: String,
    pub external_id: String,
    pub create: bool,
    pub fields: Renames,
    pub bulk_threshold: usize,
    pub bulk_poll: Duration,
    pub bulk_timeout: Duration,
}

impl TargetOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<TargetSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        name(&mut issues, &["object"], &self.object, false);
        name(&mut issues, &["external_id"], &self.external_id, false);
        if self.create && self.external_id.eq_ignore_ascii_case("Id") {
            issues.push(ConfigIssue::new(
                ["external_id"],
                "records are upserted by an external id field, and `Id` is none: write \
                 `create: false` to update the records found by `Id`",
            ));
        }
        for (canonical, to) in &self.fields {
            if let Some(to) = to {
                name(&mut issues, &["fields", canonical], to, true);
            }
        }
        if self.bulk_threshold == 0 {
            issues.push(ConfigIssue::new(
                ["bulk_threshold"],
                "must be at least 1 (a large number keeps every batch on sObject Collections)",
            ));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(TargetSpec {
            object: self.object,
            external_id: self.external_id,
            create: self.create,
            fields: self.fields,
            bulk_threshold: self.bulk_threshold,
            bulk_poll: self.bulk_poll.map_or(Duration::from_secs(2), |d| d.0),
            bulk_timeout: self.bulk_timeout.map_or(Duration::from_secs(1800), |d| d.0),
        })
    }
}

/// An API name: letters, digits and `_`, and with `dotted`, `.` between relationship names.
/// Anything else would have to be quoted into SOQL, which has no quoting for names.
fn name(issues: &mut Vec<ConfigIssue>, at: &[&str], text: &str, dotted: bool) {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    };
    let ok = if dotted {
        text.split('.').all(part_ok)
    } else {
        part_ok(text)
    };
    if !ok {
        issues.push(ConfigIssue::at(
            at.iter().map(|s| (*s).to_owned()).collect(),
            format!(
                "`{text}` is not a Salesforce API name (letters, digits and `_`{})",
                if dotted {
                    ", `.` between relationships"
                } else {
                    ""
                }
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use ferry_model::config::EngineSettings;

    /// The engine writes a batch in parts; with its defaults, a first load's parts must be
    /// large enough for Bulk, or `bulk_threshold` is a promise that never applies.
    #[test]
    fn a_first_loads_batches_go_through_bulk_with_the_default_settings() {
        let engine = EngineSettings::default();
        let part = engine.batch_size / engine.workers.max(1);
        assert!(
            part > super::default_bulk_threshold(),
            "a part of {part} records never exceeds the default threshold"
        );
    }
}
