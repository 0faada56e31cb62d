//! How a run of the Kingdee double behaves: the data centre, who may log in, the server's
//! time zone, the session lifetime and the seed sizes.

use std::time::Duration;

use chrono::FixedOffset;

/// A user who may log in with `ValidateUser` (password) or with the app secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KingdeeUser {
    /// The login name (`username` in the login body).
    pub name: String,
    pub password: String,
    /// The internal user id answered in `Context.UserId`.
    pub user_id: u64,
}

/// How many records of each kind the seed writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KingdeeSeed {
    /// `BD_Customer` records (CUST0001…).
    pub customers: usize,
    /// `BD_MATERIAL` records (each with stock rows in `STK_Inventory` and a price in the
    /// one price list).
    pub materials: usize,
    /// `SAL_SaleOrder` records (XSDD000001…), 1 to 3 lines each.
    pub sales_orders: usize,
}

impl Default for KingdeeSeed {
    fn default() -> Self {
        Self {
            customers: 6,
            materials: 5,
            sales_orders: 4,
        }
    }
}

/// One run of the Kingdee double. `KingdeeConfig::default()` holds the test values the
/// connector tests use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KingdeeConfig {
    /// The data-centre id (`acctid`) logins must name.
    pub acct_id: String,
    /// The data-centre name answered in `Context.DataCenterName`.
    pub data_center_name: String,
    pub users: Vec<KingdeeUser>,
    /// The third-party app (第三方系统登录授权) for `LoginByAppSecret`, `LoginBySign` and
    /// the signature headers.
    pub app_id: String,
    pub app_secret: String,
    /// A session not used for this long is lost (each call renews it).
    pub session_idle: Duration,
    /// How old a `LoginBySign` timestamp may be (by the machine's real clock).
    pub sign_max_age: Duration,
    /// The server's local time zone: dates are answered and filtered in it, without a zone.
    /// Asia/Shanghai (+08:00, no daylight saving) by default.
    pub utc_offset: FixedOffset,
    pub seed: KingdeeSeed,
}

/// UTC+8, the time of Asia/Shanghai all year.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

impl Default for KingdeeConfig {
    fn default() -> Self {
        Self {
            acct_id: "ferry-test-acct".into(),
            data_center_name: "Ferry 测试账套".into(),
            users: vec![KingdeeUser {
                name: "Administrator".into(),
                password: "kd-Pa55word".into(),
                user_id: 100008,
            }],
            app_id: "ferry_app_0123456789abcdef0123456789abcdef".into(),
            app_secret: "kd-app-s3cret".into(),
            session_idle: Duration::from_secs(20 * 60),
            sign_max_age: Duration::from_secs(5 * 60),
            utc_offset: shanghai(),
            seed: KingdeeSeed::default(),
        }
    }
}

impl KingdeeConfig {
    /// The user called `name` (login names compare without case, as on the server).
    pub fn user(&self, name: &str) -> Option<&KingdeeUser> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }
}
