//! How a run of the Jiandaoyun double behaves: the API key, the apps and forms with their
//! widgets, the company's members and departments, rate limits, the data push and the seed
//! sizes.

use std::time::Duration;

use super::forms::{self, App};
use super::limits::RateLimits;

/// The test API key of `JiandaoyunConfig::default()`.
pub const API_KEY: &str = "jdy-test-key";
/// The test push secret of `JiandaoyunConfig::default()`.
pub const PUSH_SECRET: &str = "jdy-push-s3cret";

/// A member (成员) of the company: member widgets, `data_creator` and the record's
/// `creator`/`updater` name members by `username`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub username: String,
    /// The display name answered beside the username.
    pub name: String,
    /// The `dept_no`s of the member's departments.
    pub departments: Vec<i64>,
}

/// A department (部门): department widgets are written with its `dept_no`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Department {
    pub dept_no: i64,
    pub name: String,
}

/// The data push (数据推送) of the company's forms: where notices go and how they are signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushConfig {
    /// Where notices are POSTed; none means no push is configured (nothing is sent).
    pub url: Option<String>,
    /// The secret the `X-JDY-Signature` is computed with.
    pub secret: String,
    /// After this many failed deliveries in a row the push is disabled (a guess: the
    /// platform's number is not documented).
    pub disable_after: u32,
    /// How long one delivery may take before it counts as failed.
    pub timeout: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            url: None,
            secret: PUSH_SECRET.into(),
            disable_after: 5,
            timeout: Duration::from_secs(5),
        }
    }
}

/// How many records the seed writes into the two default forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JiandaoyunSeed {
    /// Records of the 客户 form.
    pub customers: usize,
    /// Records of the 订单 form, each with one to three lines in its sub-form.
    pub orders: usize,
}

impl Default for JiandaoyunSeed {
    fn default() -> Self {
        Self {
            customers: 7,
            orders: 5,
        }
    }
}

/// One run of the Jiandaoyun double. `JiandaoyunConfig::default()` holds the test values the
/// connector tests use: key [`API_KEY`], app [`forms::APP_ID`] with the forms
/// [`forms::CUSTOMER_FORM`] and [`forms::ORDER_FORM`], push secret [`PUSH_SECRET`].
#[derive(Clone, Debug, PartialEq)]
pub struct JiandaoyunConfig {
    /// The one API key accepted (`Authorization: Bearer <key>`).
    pub api_key: String,
    pub apps: Vec<App>,
    pub members: Vec<Member>,
    pub departments: Vec<Department>,
    pub rate_limits: RateLimits,
    pub push: PushConfig,
    /// Refuse writes that leave a required widget empty. Off by default: the dossier says
    /// data created through the API skips required validation; turn it on to test a
    /// connector's handling of a refusal naming a field.
    pub enforce_required: bool,
    pub seed: JiandaoyunSeed,
}

impl Default for JiandaoyunConfig {
    fn default() -> Self {
        Self {
            api_key: API_KEY.into(),
            apps: vec![forms::default_app()],
            members: default_members(),
            departments: default_departments(),
            rate_limits: RateLimits::default(),
            push: PushConfig::default(),
            enforce_required: false,
            seed: JiandaoyunSeed::default(),
        }
    }
}

fn default_members() -> Vec<Member> {
    let member = |username: &str, name: &str, departments: &[i64]| Member {
        username: username.into(),
        name: name.into(),
        departments: departments.to_vec(),
    };
    vec![
        member("zhangsan", "张三", &[2]),
        member("lisi", "李四", &[2]),
        member("wangwu", "王五", &[3]),
        member("zhaoliu", "赵六", &[1, 3]),
    ]
}

fn default_departments() -> Vec<Department> {
    let dept = |dept_no: i64, name: &str| Department {
        dept_no,
        name: name.into(),
    };
    vec![
        dept(1, "摆渡科技有限公司"),
        dept(2, "销售部"),
        dept(3, "财务部"),
    ]
}

impl JiandaoyunConfig {
    /// The app with this id.
    pub fn app(&self, app_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.app_id == app_id)
    }

    /// The member with this username.
    pub fn member(&self, username: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.username == username)
    }

    /// The department with this number.
    pub fn department(&self, dept_no: i64) -> Option<&Department> {
        self.departments.iter().find(|d| d.dept_no == dept_no)
    }
}
