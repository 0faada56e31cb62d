//! How a run of the Yonyou double behaves: the tenant and its self-built app, token and
//! idempotency lifetimes, rate limits, event pushes and the seed sizes.

use std::time::Duration;

use chrono::FixedOffset;

/// How many records of each object the seed writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YonyouSeed {
    /// Customers (`merchant`), codes `C0001`…
    pub customers: usize,
    /// Materials (`product`), codes `M0001`…
    pub materials: usize,
    /// Sales orders (`voucherorder`), codes `UO-20240501000001`…, 1 to 3 lines each.
    pub sales_orders: usize,
    /// Records of one object sharing one `pubts` second (ties for watermark readers).
    pub ties: usize,
}

impl Default for YonyouSeed {
    fn default() -> Self {
        Self {
            customers: 6,
            materials: 5,
            sales_orders: 4,
            ties: 2,
        }
    }
}

/// A call quota, answered with a rate-limit code once used up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls allowed per API (path) in one window.
    pub calls: u32,
    /// The window, counted by the machine's real clock from the first call in it.
    pub window: Duration,
}

impl RateLimit {
    /// The published "free call" quota of the sales-order list, detail and single save:
    /// 60 calls a minute.
    pub fn published_sales_order_quota() -> Self {
        Self {
            calls: 60,
            window: Duration::from_secs(60),
        }
    }
}

/// Event-subscription pushes (事件订阅): where they go and how they are retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushConfig {
    /// The callback URL; no pushes while absent. Tests usually set it at run time with
    /// [`super::YonyouDouble::set_push_url`].
    pub url: Option<String>,
    /// Push the documented event after each successful write through the API (customer
    /// insert/update, material save, sales-order save and life cycle).
    pub on_write: bool,
    /// Further attempts after a failed one (the platform's configurable retry count).
    pub retries: u32,
    /// Pause before each further attempt (the platform retries for 24 hours; a test
    /// double retries quickly).
    pub retry_delay: Duration,
    /// How long the callback may take to answer (5 s documented).
    pub timeout: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            url: None,
            on_write: true,
            retries: 2,
            retry_delay: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
        }
    }
}

/// One run of the Yonyou double. `YonyouConfig::default()` holds the test values connector
/// tests use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YonyouConfig {
    /// The tenant the gateway lookup knows (`tenantId`).
    pub tenant_id: String,
    /// The self-built app (自建应用) allowed to take tokens.
    pub app_key: String,
    pub app_secret: String,
    /// Token lifetime, answered as `expire` (7200 s documented).
    pub token_lifetime: Duration,
    /// How far a token request's `timestamp` (milliseconds) may be from the machine's real
    /// clock, either way. Not documented: a guess.
    pub timestamp_tolerance: Duration,
    /// How long a `resubmitCheckKey` replay returns the first result (1 hour documented);
    /// later the duplicate code answers. Counted on the harness clock, so tests advance it.
    pub idempotency_window: Duration,
    /// The duplicate-submission code answered after the window: `100004` (idempotency page)
    /// or `10004` (code table); the documentation has both.
    pub duplicate_code: String,
    /// Require every sales-order line field the source's parameter table marks required
    /// (`subQty`, `invExchRate`, the `nat*` prices …), not only those the dossier lists.
    pub strict_order_lines: bool,
    /// A per-API call quota (310046 once used up); none by default.
    pub rate_limit: Option<RateLimit>,
    /// The server's local time, in which `pubts`, `vouchdate` and filters are written
    /// without a zone: UTC+08:00 (Asia/Shanghai).
    pub utc_offset: FixedOffset,
    pub push: PushConfig,
    pub seed: YonyouSeed,
}

/// UTC+8, the time of Asia/Shanghai all year.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

impl Default for YonyouConfig {
    fn default() -> Self {
        Self {
            tenant_id: "ferry-tenant".into(),
            app_key: "yy-app-key".into(),
            app_secret: "yy-app-s3cret".into(),
            token_lifetime: Duration::from_secs(7200),
            timestamp_tolerance: Duration::from_secs(5 * 60),
            idempotency_window: Duration::from_secs(3600),
            duplicate_code: "100004".into(),
            strict_order_lines: false,
            rate_limit: None,
            utc_offset: beijing(),
            push: PushConfig::default(),
            seed: YonyouSeed::default(),
        }
    }
}
