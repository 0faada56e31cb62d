//! Typed settings of the `jiandaoyun` connector: the account (API key, push secret), a
//! flow's `source:` (a form read by its update time) and its `target:` (a form written by a
//! key widget). Each part deserializes with unknown keys refused and validates itself;
//! every problem is a [`ConfigIssue`] at its key path.

use std::fmt;
use std::time::Duration;

use ferry_kit::http::HttpSettings;
use ferry_model::config::{ConfigIssue, DurationStr};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// Settings under `systems.<name>` for `kind: jiandaoyun`.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// The API root (`https://api.jiandaoyun.com/api`; Jodoo: `https://api.jodoo.com/api`),
    /// timeouts, retries and the request budget. Jiandaoyun allows 50 requests a second per
    /// company and less per API (30/s to list, 10/s for batches): without a `rate`, Ferry
    /// keeps to 10 a second.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// The API key (开放平台 → API Key), usually `${JDY_API_KEY}`.
    pub api_key: String,
    /// The data push (数据推送) secret, to verify pushes at `POST /hooks/<system>`.
    #[serde(default)]
    pub push_secret: Option<String>,
    /// Requests in flight at once when writing record by record (default 4).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_concurrency() -> usize {
    4
}

impl fmt::Debug for SystemSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemSettings")
            .field("http", &self.http)
            .field("api_key", &"****")
            .field("push_secret", &self.push_secret.as_ref().map(|_| "****"))
            .finish()
    }
}

impl SystemSettings {
    /// Problems with the settings, the HTTP ones aside.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.api_key.trim().is_empty() {
            issues.push(ConfigIssue::new(
                ["api_key"],
                "give the API key, e.g. `${JDY_API_KEY}`",
            ));
        }
        if self
            .push_secret
            .as_ref()
            .is_some_and(|s| s.trim().is_empty())
        {
            issues.push(ConfigIssue::new(
                ["push_secret"],
                "is empty: leave it out, or give the push's secret",
            ));
        }
        if self.concurrency == 0 {
            issues.push(ConfigIssue::new(["concurrency"], "must be at least 1"));
        }
        issues
    }
}

/// Options of a flow's `source:` reading a form.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// The app (`app_id`).
    pub app: String,
    /// The form (`entry_id`).
    pub form: String,
    /// Widgets to read (names `_widget_…` or aliases); default all.
    #[serde(default)]
    pub fields: Vec<String>,
    /// An extra filter, as the API takes it (`{rel: and, cond: [{field: flowState, method:
    /// eq, value: [1]}]}`), ANDed with the update-time window.
    #[serde(default)]
    pub filter: Option<Value>,
    /// How far back each new scan starts, for records saved late with an earlier time
    /// (default 1m). Records read already are skipped unless their content changed.
    #[serde(default)]
    pub overlap: Option<DurationStr>,
}

impl SourceOptions {
    /// Checks the options; the overlap.
    pub fn validate(&self) -> Result<Duration, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        required(&mut issues, "app", &self.app, "the app id (`app_id`)");
        required(&mut issues, "form", &self.form, "the form id (`entry_id`)");
        if let Some(filter) = &self.filter
            && !filter.get("cond").is_some_and(Value::is_array)
        {
            issues.push(ConfigIssue::new(
                ["filter"],
                "write the API's filter: `{rel: and, cond: [{field: …, method: …, value: […]}]}`",
            ));
        }
        if issues.is_empty() {
            Ok(self.overlap.map_or(Duration::from_secs(60), |d| d.0))
        } else {
            Err(issues)
        }
    }
}

/// Options of a flow's `target:` writing a form.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// The app (`app_id`).
    pub app: String,
    /// The form (`entry_id`).
    pub form: String,
    /// The widget holding the business key (a text widget, its alias or `_widget_…` name):
    /// Jiandaoyun has no upsert, so Ferry finds records by it (`in` filter), then updates
    /// them by `_id` or creates them.
    pub key: String,
    /// Canonical field → widget. Unlisted fields keep their name; `~` leaves one out.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// The lines, written as a sub-form: `{to: lines_widget, fields: {sku: _widget_…}}`.
    #[serde(default)]
    pub lines: Option<LinesTarget>,
    /// Start the form's workflow on records created (default false).
    #[serde(default)]
    pub start_workflow: bool,
    /// Run the form's data triggers (智能助手) on writes (default false).
    #[serde(default)]
    pub start_trigger: bool,
    /// Create records no key finds (default true). `false` writes back onto records the
    /// form holds already (an ERP's delivery onto the CRM's order): a record whose key no
    /// record holds is refused, a dead letter naming the key, never a half-empty new one.
    #[serde(default = "yes")]
    pub create: bool,
}

fn yes() -> bool {
    true
}

/// A document's lines written as a sub-form.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesTarget {
    /// The sub-form widget.
    pub to: String,
    /// The canonical field holding the lines (default `lines`).
    #[serde(default)]
    pub from: Option<String>,
    /// Canonical line field → sub-form item widget.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
}

impl TargetOptions {
    /// Checks the options.
    pub fn validate(&self) -> Result<(), Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        required(&mut issues, "app", &self.app, "the app id (`app_id`)");
        required(&mut issues, "form", &self.form, "the form id (`entry_id`)");
        required(
            &mut issues,
            "key",
            &self.key,
            "the widget holding the business key",
        );
        if let Some(lines) = &self.lines
            && lines.to.trim().is_empty()
        {
            issues.push(ConfigIssue::new(
                ["lines", "to"],
                "name the sub-form widget",
            ));
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }
}

fn required(issues: &mut Vec<ConfigIssue>, key: &str, value: &str, what: &str) {
    if value.trim().is_empty() {
        issues.push(ConfigIssue::new([key], format!("give {what}")));
    }
}
