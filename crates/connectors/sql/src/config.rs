//! Typed settings of the `sql` connector: the system, a flow's `source:` and its `target:`.
//! Each deserializes from the YAML map with unknown keys refused, then validates itself;
//! every problem is a [`ConfigIssue`] at a key path relative to the map.

use std::time::Duration;

use ferry_model::config::ConfigIssue;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::dialect::Backend;

/// Settings under `systems.<name>` for `kind: sql`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlSettings {
    /// Database URL: `postgres://user:pass@host/db`, `mysql://` or `mariadb://…`, or
    /// `sqlite://path/to/file.db` (relative to the config file; created if missing).
    pub url: String,
    /// Most connections the pool opens (default 4).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long to wait for a connection, as a duration such as `10s` (default 10s).
    #[serde(default)]
    pub connect_timeout: Option<String>,
}

fn default_max_connections() -> u32 {
    4
}

/// Options of a flow's `source:` reading a table.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlSourceOptions {
    /// Table or view to read, optionally `schema.table`.
    pub table: String,
    /// The id column (unique, sortable; default `id`).
    #[serde(default = "default_id")]
    pub id: String,
    /// The change-tracking column. Without it, every read is a full scan in id order.
    #[serde(default)]
    pub watermark: Option<Watermark>,
    /// Columns to select (default: all). The id, watermark and deleted columns are added.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// An extra SQL condition, e.g. `status <> 'draft'` (trusted: it is pasted into the query).
    #[serde(default, rename = "where")]
    pub filter: Option<String>,
    /// Child rows attached to each record as the array field `lines`.
    #[serde(default)]
    pub lines: Option<SourceLines>,
    /// A boolean column marking soft-deleted rows.
    #[serde(default)]
    pub deleted_column: Option<String>,
    /// Find rows deleted for good: every scan reads the whole table as one snapshot pass and
    /// the engine looks for rows that disappeared. Only without `watermark` (a watermark
    /// cannot see a row that is gone).
    #[serde(default)]
    pub detect_deletes: bool,
}

fn default_id() -> String {
    "id".to_owned()
}

/// The column that says when (or in what order) rows changed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Watermark {
    /// Column name.
    pub column: String,
    /// `timestamp` (default) or `integer` (a version or sequence number).
    #[serde(default)]
    pub kind: WatermarkKind,
    /// How far back each new scan starts, to catch rows committed late with an older stamp
    /// (`5s`, `2m`; default `0s`). Timestamps only.
    #[serde(default)]
    pub overlap: Option<String>,
}

/// What the watermark column holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WatermarkKind {
    /// An updated-at timestamp (timestamp, timestamptz, datetime, ISO text or epoch number).
    #[default]
    Timestamp,
    /// An increasing number.
    Integer,
}

/// Child rows read with their parent.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceLines {
    /// The child table.
    pub table: String,
    /// Its column holding the parent's id.
    pub parent_column: String,
    /// Column ordering the lines (default: the child id).
    #[serde(default)]
    pub order_by: Option<String>,
    /// The child id column (default `id`).
    #[serde(default = "default_id")]
    pub id: String,
}

/// Options of a flow's `target:` writing a table.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlTargetOptions {
    /// Table to upsert into, optionally `schema.table`.
    pub table: String,
    /// The unique column upserted on (default: the flow's key field, after `columns`).
    #[serde(default)]
    pub key_column: Option<String>,
    /// Canonical field → column. Unlisted fields keep their name; `~` skips the field.
    #[serde(default)]
    pub columns: IndexMap<String, Option<String>>,
    /// Create the table (TEXT columns, primary key on the key column) when it is missing.
    #[serde(default)]
    pub create_table: bool,
    /// Where the `lines` array of a record goes.
    #[serde(default)]
    pub lines: Option<TargetLines>,
}

/// The child table receiving a record's `lines`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetLines {
    /// The child table.
    pub table: String,
    /// Its column receiving the parent's key.
    pub parent_column: String,
    /// Line field → column. Unlisted fields keep their name; `~` skips the field.
    #[serde(default)]
    pub columns: IndexMap<String, Option<String>>,
}

/// Deserializes a settings map, reporting the key path of the first problem.
pub use ferry_kit::settings::parse;

fn require(issues: &mut Vec<ConfigIssue>, path: &[&str], value: &str) {
    if value.trim().is_empty() {
        issues.push(ConfigIssue::at(
            path.iter().map(|s| (*s).to_owned()).collect(),
            "must not be empty",
        ));
    }
}

fn duration(issues: &mut Vec<ConfigIssue>, path: &[&str], value: Option<&str>) -> Option<Duration> {
    let value = value?;
    match humantime::parse_duration(value.trim()) {
        Ok(d) => Some(d),
        Err(e) => {
            issues.push(ConfigIssue::at(
                path.iter().map(|s| (*s).to_owned()).collect(),
                format!("`{value}` is not a duration ({e}); write e.g. `5s` or `2m`"),
            ));
            None
        }
    }
}

pub use ferry_model::secret::mask_url;

/// The password (and password-like query values) of a URL, to scrub from messages.
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, pass)) = userinfo.split_once(':')
            && !pass.is_empty()
        {
            out.push(pass.to_owned());
        }
        if let Some((_, query)) = rest.split_once('?') {
            for kv in query.split('&') {
                if let Some((k, v)) = kv.split_once('=')
                    && k.to_ascii_lowercase().contains("pass")
                    && !v.is_empty()
                {
                    out.push(v.to_owned());
                }
            }
        }
    }
    out
}

impl SqlSettings {
    /// Checks the settings; returns the backend and the connect timeout.
    pub fn validate(&self) -> Result<(Backend, Duration), Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let backend = Backend::from_url(&self.url);
        if backend.is_none() {
            issues.push(ConfigIssue::new(
                ["url"],
                format!(
                    "`{}` is not a supported database URL: use postgres://, mysql://, mariadb:// or sqlite://",
                    mask_url(&self.url)
                ),
            ));
        }
        if self.max_connections == 0 {
            issues.push(ConfigIssue::new(["max_connections"], "must be at least 1"));
        }
        let timeout = duration(
            &mut issues,
            &["connect_timeout"],
            self.connect_timeout.as_deref(),
        );
        match backend {
            Some(b) if issues.is_empty() => Ok((b, timeout.unwrap_or(Duration::from_secs(10)))),
            _ => Err(issues),
        }
    }
}

impl SqlSourceOptions {
    /// Checks the options; returns the overlap.
    pub fn validate(&self) -> Result<Duration, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        require(&mut issues, &["table"], &self.table);
        require(&mut issues, &["id"], &self.id);
        let mut overlap = Duration::ZERO;
        if let Some(w) = &self.watermark {
            require(&mut issues, &["watermark", "column"], &w.column);
            if let Some(d) = duration(&mut issues, &["watermark", "overlap"], w.overlap.as_deref())
            {
                overlap = d;
                if w.kind == WatermarkKind::Integer && !d.is_zero() {
                    issues.push(ConfigIssue::new(
                        ["watermark", "overlap"],
                        "applies to `kind: timestamp` only",
                    ));
                }
            }
        }
        if let Some(columns) = &self.columns {
            if columns.is_empty() {
                issues.push(ConfigIssue::new(
                    ["columns"],
                    "list at least one column, or leave `columns` out to read all",
                ));
            }
            for (i, c) in columns.iter().enumerate() {
                let index = i.to_string();
                require(&mut issues, &["columns", &index], c);
            }
        }
        if let Some(f) = &self.filter {
            require(&mut issues, &["where"], f);
        }
        if let Some(d) = &self.deleted_column {
            require(&mut issues, &["deleted_column"], d);
        }
        if self.detect_deletes && self.watermark.is_some() {
            issues.push(ConfigIssue::new(
                ["detect_deletes"],
                "needs a full scan each time: leave out `watermark`, or mark deletes with \
                 `deleted_column`",
            ));
        }
        if let Some(l) = &self.lines {
            require(&mut issues, &["lines", "table"], &l.table);
            require(&mut issues, &["lines", "parent_column"], &l.parent_column);
            require(&mut issues, &["lines", "id"], &l.id);
            if let Some(o) = &l.order_by {
                require(&mut issues, &["lines", "order_by"], o);
            }
        }
        if issues.is_empty() {
            Ok(overlap)
        } else {
            Err(issues)
        }
    }
}

impl SqlTargetOptions {
    /// Checks the options.
    pub fn validate(&self) -> Result<(), Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        require(&mut issues, &["table"], &self.table);
        if let Some(k) = &self.key_column {
            require(&mut issues, &["key_column"], k);
        }
        for (field, column) in &self.columns {
            if let Some(c) = column {
                require(&mut issues, &["columns", field], c);
            }
        }
        if let Some(l) = &self.lines {
            require(&mut issues, &["lines", "table"], &l.table);
            require(&mut issues, &["lines", "parent_column"], &l.parent_column);
            for (field, column) in &l.columns {
                if let Some(c) = column {
                    require(&mut issues, &["lines", "columns", field], c);
                }
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }

    /// The column a canonical field is written to (`None`: not written).
    pub fn column_of<'a>(&'a self, field: &'a str) -> Option<&'a str> {
        ferry_kit::sink::renamed(&self.columns, field)
    }
}

impl TargetLines {
    /// The column a line field is written to (`None`: not written).
    pub fn column_of<'a>(&'a self, field: &'a str) -> Option<&'a str> {
        ferry_kit::sink::renamed(&self.columns, field)
    }
}
