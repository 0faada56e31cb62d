//! Typed settings of the `yonyou` connector: the tenant and its self-built app, a flow's
//! `source:` (an object read by its `pubts`) and its `target:` (an object written by code).
//! Each part deserializes with unknown keys refused and validates itself; every problem is
//! a [`ConfigIssue`] at its key path. The app secret never appears in `Debug`.

use std::fmt;
use std::time::Duration;

use chrono::FixedOffset;
use ferry_kit::http::HttpSettings;
use ferry_model::config::{ConfigIssue, DurationStr};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::objects::Object;

/// Settings under `systems.<name>` for `kind: yonyou`.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// Where the tenant's data centre is looked up (`https://apigateway.yonyoucloud.com/`),
    /// timeouts, retries and the request budget (the published free quota of several APIs
    /// is 60 calls a minute).
    #[serde(flatten)]
    pub http: HttpSettings,
    /// The tenant id (租户 ID).
    pub tenant_id: String,
    /// The self-built app's key (自建应用 appKey).
    pub app_key: String,
    /// The self-built app's secret, usually `${YY_APP_SECRET}`: it signs token requests and
    /// decrypts event pushes. Never sent, logged or shown.
    pub app_secret: String,
    /// The business gateway (`https://c2.yonyoucloud.com/iuap-api-gateway`); with
    /// `token_url`, no data-centre lookup is made.
    #[serde(default)]
    pub gateway_url: Option<String>,
    /// The token service (`https://c2.yonyoucloud.com/iuap-api-auth`).
    #[serde(default)]
    pub token_url: Option<String>,
    /// The server's time zone (`+08:00`, default): `pubts` and `vouchdate` carry none.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Take event pushes (事件订阅) at `POST /hooks/<system>` (default false).
    #[serde(default)]
    pub events: bool,
    /// How a push is acknowledged: `encrypted` (default: `success` sealed like a push, as
    /// the documentation asks) or `plain` (`success` as text, as the Python SDK's sample
    /// does). The platform sends a push again for a day until it takes the answer.
    #[serde(default)]
    pub event_reply: EventReply,
}

/// The answer to an event push (see [`SystemSettings::event_reply`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventReply {
    /// `success`, encrypted and signed.
    #[default]
    Encrypted,
    /// `success` as plain text.
    Plain,
}

impl fmt::Debug for SystemSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemSettings")
            .field("http", &self.http)
            .field("tenant_id", &self.tenant_id)
            .field("app_key", &self.app_key)
            .field("app_secret", &"****")
            .field("gateway_url", &self.gateway_url)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl SystemSettings {
    /// Problems with the settings, the HTTP ones aside; and the server's time zone.
    pub fn check(&self) -> Result<FixedOffset, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        for (key, value, what) in [
            ("tenant_id", &self.tenant_id, "the tenant id (租户 ID)"),
            ("app_key", &self.app_key, "the self-built app's appKey"),
            (
                "app_secret",
                &self.app_secret,
                "the app secret, e.g. `${YY_APP_SECRET}`",
            ),
        ] {
            if value.trim().is_empty() {
                issues.push(ConfigIssue::new([key], format!("give {what}")));
            }
        }
        if self.gateway_url.is_some() != self.token_url.is_some() {
            let missing = if self.gateway_url.is_none() {
                "gateway_url"
            } else {
                "token_url"
            };
            issues.push(ConfigIssue::new(
                [missing],
                "give `gateway_url` and `token_url` together, or neither (the data centre is then looked up)",
            ));
        }
        for (key, value) in [
            ("gateway_url", &self.gateway_url),
            ("token_url", &self.token_url),
        ] {
            if let Some(url) = value
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                issues.push(ConfigIssue::new([key], "write a full URL, `https://…`"));
            }
        }
        let zone = match self.time_zone.as_deref() {
            None => FixedOffset::east_opt(8 * 3600),
            Some(text) => text.parse::<FixedOffset>().ok(),
        };
        if zone.is_none() {
            issues.push(ConfigIssue::new(
                ["time_zone"],
                "write the server's offset from UTC, like `+08:00`",
            ));
        }
        match zone {
            Some(zone) if issues.is_empty() => Ok(zone),
            _ => Err(issues),
        }
    }
}

/// Options of a flow's `source:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// `customers` (merchant), `materials` (product) or `sales_orders` (voucherorder, with
    /// their lines under `orderDetails`).
    pub object: Object,
    /// How far back each new scan starts, for records committed late with an earlier
    /// `pubts` (default 2m); records read again unchanged are skipped.
    #[serde(default)]
    pub overlap: Option<DurationStr>,
    /// Records asked for per list call at most (default 100; the caps are 500 or 5000).
    #[serde(default)]
    pub page_size: Option<usize>,
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub object: Object,
    pub overlap: Duration,
    pub page_size: usize,
}

impl SourceOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<SourceSpec, Vec<ConfigIssue>> {
        let page_size = self.page_size.unwrap_or(100);
        if page_size == 0 || page_size > self.object.max_page() {
            return Err(vec![ConfigIssue::new(
                ["page_size"],
                format!(
                    "must be 1 to {} for {}",
                    self.object.max_page(),
                    self.object.name()
                ),
            )]);
        }
        Ok(SourceSpec {
            object: self.object,
            overlap: self.overlap.map_or(Duration::from_secs(120), |d| d.0),
            page_size,
        })
    }
}

/// Options of a flow's `target:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// `customers`, `materials` or `sales_orders`; written by `code`, the flow's key.
    pub object: Object,
    /// Canonical field → Yonyou field. A dotted path builds nested objects
    /// (`name: name.simplifiedName`); keys with `!` are flat, as Yonyou wants them
    /// (`currency: orderPrices!currency`). Unlisted fields keep their name; `~` leaves one
    /// out.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// Values sent whenever the record has none, by Yonyou field, on updates too (the
    /// material and sales-order saves want their required fields on every save):
    /// `{createOrgCode: global00}`, `{salesOrgId: "101", transactionTypeId: SO01}`.
    #[serde(default)]
    pub defaults: Map<String, Value>,
    /// Sales orders: their lines, written as `orderDetails`.
    #[serde(default)]
    pub lines: Option<LinesTarget>,
    /// Sales orders: steps after each save, in order: `[submit]` or `[submit, audit]`.
    #[serde(default)]
    pub after_save: Vec<Operation>,
}

/// The lines of a sales order.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesTarget {
    /// The canonical field holding the lines (default `lines`).
    #[serde(default)]
    pub from: Option<String>,
    /// Canonical line field → line field (`{sku: productId, quantity: qty}`).
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// Values every line gets when it has none (`{stockOrgId: "101", taxId: VAT13}`).
    #[serde(default)]
    pub defaults: Map<String, Value>,
}

/// A sales-order life-cycle step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// 提交 (`batchsubmit`).
    Submit,
    /// 审核 (`batchaudit`).
    Audit,
}

impl Operation {
    /// The API's last path segment.
    pub fn action(self) -> &'static str {
        match self {
            Operation::Submit => "batchsubmit",
            Operation::Audit => "batchaudit",
        }
    }
}

impl TargetOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let orders = self.object == Object::SalesOrders;
        if !orders && self.lines.is_some() {
            issues.push(ConfigIssue::new(["lines"], "only sales orders have lines"));
        }
        if !orders && !self.after_save.is_empty() {
            issues.push(ConfigIssue::new(
                ["after_save"],
                "only sales orders are submitted and audited",
            ));
        }
        if self.after_save.windows(2).any(|w| w[0] == w[1])
            || self.after_save.len() > 2
            || (self.after_save.len() == 2 && self.after_save[0] != Operation::Submit)
        {
            issues.push(ConfigIssue::new(
                ["after_save"],
                "write `[submit]`, `[audit]` or `[submit, audit]`",
            ));
        }
        for (canonical, to) in &self.fields {
            if let Some(to) = to
                && (to.is_empty() || to.split('.').any(str::is_empty))
            {
                issues.push(ConfigIssue::new(
                    ["fields", canonical.as_str()],
                    format!("`{to}` is not a field path"),
                ));
            }
        }
        if issues.is_empty() {
            Ok(self)
        } else {
            Err(issues)
        }
    }

    /// The canonical field holding the lines.
    pub fn lines_from(&self) -> &str {
        self.lines
            .as_ref()
            .and_then(|l| l.from.as_deref())
            .unwrap_or("lines")
    }
}
