//! Typed settings of the `kingdee` connector: the system (where K/3 Cloud is, the data
//! centre, how to log in), a flow's `source:` (a form read by `ExecuteBillQuery`) and its
//! `target:` (a form written by `BatchSave`, then taken through its life cycle). Each part
//! deserializes with unknown keys refused and validates itself; every problem is a
//! [`ConfigIssue`] at its key path.

use std::fmt;
use std::time::Duration;

use chrono::FixedOffset;
use ferry_kit::http::HttpSettings;
use ferry_model::config::{ConfigIssue, DurationStr};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::forms;

/// Settings under `systems.<name>` for `kind: kingdee`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// The WebAPI root, ending in `/k3cloud/` (`https://erp.example.com/k3cloud/`, or the
    /// public-cloud tenant's URL), timeouts, retries and the request budget.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// The data centre (账套) id, `acctid` at login (`5dde42aa8b86d7`).
    pub acct_id: String,
    /// How to log in: `by: password`, `by: app_secret` (第三方系统登录授权) or `by: signature`
    /// (`LoginBySign`).
    pub login: Login,
    /// The language of messages: 2052 (简体中文, default), 1033 (English), 3076 (繁體).
    #[serde(default = "default_lcid")]
    pub lcid: u32,
    /// The server's time zone as an offset (`+08:00`, default): K/3 Cloud answers and takes
    /// dates in its local time without a zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Records written in one `BatchSave` call at most (default 50).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

fn default_lcid() -> u32 {
    2052
}

fn default_batch() -> usize {
    50
}

/// How the connector logs in. Secrets never appear in `Debug`, logs or errors.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Login {
    /// `AuthService.ValidateUser`: a user and its password.
    Password {
        /// The user name (`Administrator`).
        user: String,
        /// The password, usually `${KINGDEE_PASSWORD}`.
        password: String,
    },
    /// `AuthService.LoginByAppSecret`: an app registered in 第三方系统登录授权, acting as
    /// `user`.
    AppSecret {
        /// The user the app acts as.
        user: String,
        /// The app id (`203502_5f6p2avO…`).
        app_id: String,
        /// The app secret, usually `${KINGDEE_APP_SECRET}`.
        app_secret: String,
    },
    /// `AuthService.LoginBySign`: like `app_secret`, but the secret never travels: a SHA-256
    /// signature over the sorted values and the current time does.
    Signature {
        /// The user the app acts as.
        user: String,
        /// The app id.
        app_id: String,
        /// The app secret, usually `${KINGDEE_APP_SECRET}`.
        app_secret: String,
    },
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Login::Password { user, .. } => write!(f, "Password {{ user: {user:?}, .. }}"),
            Login::AppSecret { user, app_id, .. } => {
                write!(f, "AppSecret {{ user: {user:?}, app_id: {app_id:?}, .. }}")
            }
            Login::Signature { user, app_id, .. } => {
                write!(f, "Signature {{ user: {user:?}, app_id: {app_id:?}, .. }}")
            }
        }
    }
}

impl Login {
    /// The user logged in as.
    pub fn user(&self) -> &str {
        match self {
            Login::Password { user, .. }
            | Login::AppSecret { user, .. }
            | Login::Signature { user, .. } => user,
        }
    }

    /// The secrets to keep out of every message.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Login::Password { password, .. } => vec![password.clone()],
            Login::AppSecret { app_secret, .. } | Login::Signature { app_secret, .. } => {
                vec![app_secret.clone()]
            }
        }
    }

    fn issues(&self, out: &mut Vec<ConfigIssue>) {
        let mut required = |key: &str, value: &str, what: &str| {
            if value.trim().is_empty() {
                out.push(ConfigIssue::new(["login", key], format!("give the {what}")));
            }
        };
        required("user", self.user(), "user name");
        match self {
            Login::Password { password, .. } => required("password", password, "password"),
            Login::AppSecret {
                app_id, app_secret, ..
            }
            | Login::Signature {
                app_id, app_secret, ..
            } => {
                required("app_id", app_id, "app id");
                required("app_secret", app_secret, "app secret");
            }
        }
    }
}

impl SystemSettings {
    /// Problems with the settings, the HTTP ones aside; and the server's time zone.
    pub fn check(&self) -> Result<FixedOffset, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        if self.acct_id.trim().is_empty() {
            issues.push(ConfigIssue::new(
                ["acct_id"],
                "give the data centre id (数据中心 ID, `acctid`)",
            ));
        }
        self.login.issues(&mut issues);
        if self.batch_size == 0 || self.batch_size > 1000 {
            issues.push(ConfigIssue::new(["batch_size"], "must be 1 to 1000"));
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

/// Options of a flow's `source:` reading a form.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// The form (`BD_Customer`, `BD_MATERIAL`, `SAL_SaleOrder`, `STK_Inventory`, …).
    pub form: String,
    /// Header field keys to read (`FNumber`, `FName`, `FCustId.FNumber`); each becomes a
    /// field of the record under its key.
    pub fields: Vec<String>,
    /// The form's primary key (`FCUSTID`, `FMATERIALID`, `FID`); known forms need none.
    #[serde(default)]
    pub id: Option<String>,
    /// The change time field (default `FModifyDate`); `poll: all` reads without one.
    #[serde(default)]
    pub modified: Option<String>,
    /// `modified` (default): what changed since the cursor. `all`: the whole form at every
    /// scan, for forms without a change time (stock, `STK_Inventory`).
    #[serde(default)]
    pub poll: Poll,
    /// With `poll: all`: one record per value of this field (`FMaterialId.FNumber`), its id
    /// that value, its numeric `fields` summed over the rows holding it — stock on hand
    /// over warehouses and lots. A field that is not a number keeps the first row's value.
    #[serde(default)]
    pub sum_by: Option<String>,
    /// How far back each new scan starts, for changes committed late with an earlier time
    /// (default 2m); the window settles when nothing newer comes.
    #[serde(default)]
    pub overlap: Option<DurationStr>,
    /// An extra `FilterString`, ANDed with the change-time condition
    /// (`FForbidStatus = 'A' AND FUseOrgId.FNumber = '100'`).
    #[serde(default)]
    pub filter: Option<String>,
    /// The entry (lines) read with each bill: `{entry: FSaleOrderEntry, fields:
    /// [FMaterialId.FNumber, FQty, FTaxPrice]}` gives `lines: [{id, FMaterialId.FNumber, …}]`.
    #[serde(default)]
    pub lines: Option<LinesSource>,
}

/// How a source finds changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Poll {
    /// Records whose change time moved.
    #[default]
    Modified,
    /// Every record, every scan.
    All,
}

/// The lines of a bill, read with it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesSource {
    /// The entry key (`FSaleOrderEntry`, `FEntity`, `FEntityDetail`).
    pub entry: String,
    /// Entry field keys (`FMaterialId.FNumber`, `FQty`, `FTaxPrice`, `FEntryTaxRate`).
    pub fields: Vec<String>,
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub form: String,
    pub fields: Vec<String>,
    pub id: String,
    /// `None` with `poll: all`.
    pub modified: Option<String>,
    pub overlap: Duration,
    pub filter: Option<String>,
    pub lines: Option<LinesSource>,
    /// `sum_by`: rows grouped by this field.
    pub sum_by: Option<String>,
}

impl SourceOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<SourceSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        form_name(&mut issues, &self.form);
        let id = self
            .id
            .clone()
            .or_else(|| forms::known(&self.form).map(|f| f.id.to_owned()));
        if id.is_none() {
            issues.push(ConfigIssue::new(
                ["id"],
                format!(
                    "`{}` is not a form Ferry knows: name its primary key (`FID`, `FCUSTID`, …)",
                    self.form
                ),
            ));
        }
        if self.fields.is_empty() {
            issues.push(ConfigIssue::new(["fields"], "list the field keys to read"));
        }
        for (i, f) in self.fields.iter().enumerate() {
            field_key(&mut issues, &["fields", &i.to_string()], f);
        }
        let modified = match self.poll {
            Poll::Modified => Some(
                self.modified
                    .clone()
                    .unwrap_or_else(|| "FModifyDate".into()),
            ),
            Poll::All => None,
        };
        if self.poll == Poll::All && (self.modified.is_some() || self.overlap.is_some()) {
            let key = if self.modified.is_some() {
                "modified"
            } else {
                "overlap"
            };
            issues.push(ConfigIssue::new([key], "applies to `poll: modified` only"));
        }
        if let Some(lines) = &self.lines {
            field_key(&mut issues, &["lines", "entry"], &lines.entry);
            if lines.fields.is_empty() {
                issues.push(ConfigIssue::new(
                    ["lines", "fields"],
                    "list the entry field keys to read",
                ));
            }
            for (i, f) in lines.fields.iter().enumerate() {
                field_key(&mut issues, &["lines", "fields", &i.to_string()], f);
            }
        }
        if let Some(filter) = &self.filter
            && filter.trim().is_empty()
        {
            issues.push(ConfigIssue::new(["filter"], "is empty: leave it out"));
        }
        if let Some(by) = &self.sum_by {
            field_key(&mut issues, &["sum_by"], by);
            if self.poll != Poll::All {
                issues.push(ConfigIssue::new(
                    ["sum_by"],
                    "sums the whole form: set `poll: all` with it",
                ));
            }
            if self.lines.is_some() {
                issues.push(ConfigIssue::new(
                    ["sum_by"],
                    "sums rows into one record each: leave `lines` out",
                ));
            }
        }
        match id {
            Some(id) if issues.is_empty() => Ok(SourceSpec {
                form: self.form,
                fields: self.fields,
                id,
                modified,
                overlap: self.overlap.map_or(Duration::from_secs(120), |d| d.0),
                filter: self.filter,
                lines: self.lines,
                sum_by: self.sum_by,
            }),
            _ => Err(issues),
        }
    }
}

/// Options of a flow's `target:` writing a form.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// The form (`BD_Customer`, `BD_MATERIAL`, `SAL_SaleOrder`, `AR_RECEIVEBILL`, …).
    pub form: String,
    /// The field holding the business key, looked up before saving (`FNumber` for base
    /// data, `FBillNo` for bills; known forms need none). Kingdee has no upsert by key:
    /// Ferry queries it, then saves with the internal id.
    #[serde(default)]
    pub number: Option<String>,
    /// The form's primary key; known forms need none.
    #[serde(default)]
    pub id: Option<String>,
    /// Canonical field → field key. Unlisted fields keep their name; `~` leaves one out.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// Field keys holding another record's number, sent as `{"FNumber": …}`
    /// (`[FCustId, FSaleOrgId, FSettleCurrId]`).
    #[serde(default)]
    pub refs: Vec<String>,
    /// Values set on create when the record has none, by field key (`{FSaleOrgId: "100",
    /// FBillTypeID: {FNUMBER: XSDD01_SYS}}`); a field listed in `refs` takes the number.
    #[serde(default)]
    pub defaults: Map<String, Value>,
    /// The organisation that creates and uses base data (创建组织/使用组织), by number:
    /// sets `FCreateOrgId` and `FUseOrgId` on create.
    #[serde(default)]
    pub org: Option<String>,
    /// Organisations base data is allocated (分配) to after it is created, by internal id.
    #[serde(default)]
    pub allocate_to: Vec<i64>,
    /// The lines, written as the bill's entry (lines not sent are deleted).
    #[serde(default)]
    pub lines: Option<LinesTarget>,
    /// Operations after each save, in order: `[submit, audit]` takes a bill or base data
    /// to 已审核. Empty (default): saved as 创建.
    #[serde(default)]
    pub after_save: Vec<Operation>,
    /// What to do with a record that is already audited (已审核) when it changes:
    /// `refuse` (default: a dead letter saying so) or `unaudit` (反审核, save, then
    /// `after_save` again; refused by Kingdee where a downstream bill exists).
    #[serde(default)]
    pub when_audited: WhenAudited,
    /// Bills pushed (下推) from each new record once `after_save` is done
    /// (`[SAL_OUTSTOCK]`), with the conversion rule Kingdee has by default.
    #[serde(default)]
    pub push_to: Vec<String>,
}

/// The lines of a bill, written as its entry.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesTarget {
    /// The entry key (`FSaleOrderEntry`).
    pub entry: String,
    /// The canonical field holding the lines (default `lines`).
    #[serde(default)]
    pub from: Option<String>,
    /// Canonical line field → entry field key (`{sku: FMaterialId, quantity: FQty,
    /// unit_price: FPrice, tax_rate: FEntryTaxRate}`). Unlisted fields keep their name.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// Entry field keys holding a number, sent as `{"FNumber": …}` (`[FMaterialId,
    /// FUnitID]`).
    #[serde(default)]
    pub refs: Vec<String>,
    /// Entry field keys Kingdee keeps in percent (`[FEntryTaxRate]`): the canonical
    /// fraction (0.13) is sent as 13.
    #[serde(default)]
    pub percent: Vec<String>,
}

/// A life-cycle operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// 提交.
    Submit,
    /// 审核.
    Audit,
}

impl Operation {
    /// The service operation's name.
    pub fn service(self) -> &'static str {
        match self {
            Operation::Submit => "Submit",
            Operation::Audit => "Audit",
        }
    }
}

/// What a change to an audited record does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenAudited {
    /// The record is refused: an audited document is not changed behind the finance team.
    #[default]
    Refuse,
    /// 反审核, then save and run `after_save` again.
    Unaudit,
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub form: String,
    pub number: String,
    pub id: String,
    pub options: TargetOptions,
}

impl TargetOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<TargetSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        form_name(&mut issues, &self.form);
        let known = forms::known(&self.form);
        let number = self.number.clone().or(known.map(|f| f.number.to_owned()));
        let id = self.id.clone().or(known.map(|f| f.id.to_owned()));
        for (key, value, what) in [
            ("number", &number, "its number field (`FNumber`, `FBillNo`)"),
            ("id", &id, "its primary key (`FID`, `FCUSTID`, …)"),
        ] {
            if value.is_none() {
                issues.push(ConfigIssue::new(
                    [key],
                    format!("`{}` is not a form Ferry knows: name {what}", self.form),
                ));
            }
        }
        for (canonical, key) in &self.fields {
            if let Some(key) = key {
                field_key(&mut issues, &["fields", canonical], key);
            }
        }
        for (i, r) in self.refs.iter().enumerate() {
            field_key(&mut issues, &["refs", &i.to_string()], r);
        }
        if let Some(lines) = &self.lines {
            field_key(&mut issues, &["lines", "entry"], &lines.entry);
            for (i, r) in lines.refs.iter().enumerate() {
                field_key(&mut issues, &["lines", "refs", &i.to_string()], r);
            }
        }
        if !self.allocate_to.is_empty() && known.is_some_and(|f| !f.base_data) {
            issues.push(ConfigIssue::new(
                ["allocate_to"],
                "only base data (customers, materials, suppliers) is allocated to organisations",
            ));
        }
        if self.after_save.windows(2).any(|w| w[0] == w[1])
            || self.after_save.first() == Some(&Operation::Audit)
        {
            issues.push(ConfigIssue::new(
                ["after_save"],
                "write `[submit]` or `[submit, audit]`: a document is submitted before it is audited",
            ));
        }
        if !self.push_to.is_empty() && !self.after_save.contains(&Operation::Audit) {
            issues.push(ConfigIssue::new(
                ["push_to"],
                "Kingdee pushes only audited documents: add `after_save: [submit, audit]`",
            ));
        }
        for (i, target) in self.push_to.iter().enumerate() {
            if target.trim().is_empty() {
                issues.push(ConfigIssue::new(["push_to", &i.to_string()], "name a form"));
            }
        }
        match (number, id) {
            (Some(number), Some(id)) if issues.is_empty() => Ok(TargetSpec {
                form: self.form.clone(),
                number,
                id,
                options: self,
            }),
            _ => Err(issues),
        }
    }
}

fn form_name(issues: &mut Vec<ConfigIssue>, form: &str) {
    if form.trim().is_empty() || form.contains(char::is_whitespace) {
        issues.push(ConfigIssue::new(
            ["form"],
            "name a form id such as `BD_Customer` or `SAL_SaleOrder`",
        ));
    }
}

/// A field key is letters, digits, `_` and `.` (a reference's field): anything else would
/// have to be quoted into a FilterString or FieldKeys list, which Kingdee does not allow.
fn field_key(issues: &mut Vec<ConfigIssue>, at: &[&str], key: &str) {
    let ok = !key.is_empty()
        && key
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if !ok {
        issues.push(ConfigIssue::at(
            at.iter().map(|s| (*s).to_owned()).collect(),
            format!(
                "`{key}` is not a field key (letters, digits, `_`, and `.` for a reference's field)"
            ),
        ));
    }
}
