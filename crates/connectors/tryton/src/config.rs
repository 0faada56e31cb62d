//! Typed settings of the `tryton` connector: the system, a flow's `source:` and its
//! `target:`. Each deserializes with unknown keys refused, then validates itself; every
//! problem is a [`ConfigIssue`] at a key path relative to the map.

use std::fmt;
use std::time::Duration;

use ferry_model::config::{ConfigIssue, DurationStr};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use ferry_kit::http::HttpSettings;

/// Settings under `systems.<name>` for `kind: tryton`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrytonSettings {
    /// Where the server is and the request budget (`url` is the server, e.g.
    /// `https://erp.example.com`, without the database).
    #[serde(flatten)]
    pub http: HttpSettings,
    /// The database name (the `<db>` of `/<db>/rpc/`).
    pub database: String,
    /// The login.
    pub user: String,
    /// The password, usually `${TRYTON_PASSWORD}`; never logged or shown.
    pub password: Password,
    /// Context passed with every call, e.g. `{company: 1}`. Sources and targets add their own.
    #[serde(default)]
    pub context: Map<String, Value>,
    /// Language of the session (messages, translated names): `en` by default.
    #[serde(default)]
    pub language: Option<String>,
}

/// A secret string: deserialized like a string, never shown by `Debug`.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"****\"")
    }
}

/// Options of a flow's `source:` reading a Tryton model.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrytonSourceOptions {
    /// The model, e.g. `party.party`, `product.product`, `sale.sale`, `account.invoice`.
    pub model: String,
    /// Fields to read; dotted paths read through relations (`identifiers.code`,
    /// `party.name`). A path through a one2many gives a list.
    pub fields: Vec<String>,
    /// One2many fields read as lists of objects: `{lines: [product.code, quantity,
    /// unit_price]}` gives `lines: [{id, product.code, quantity, unit_price}, …]`.
    #[serde(default)]
    pub children: IndexMap<String, Vec<String>>,
    /// An extra Tryton domain, e.g. `[["state", "in", ["confirmed", "processing"]]]`.
    #[serde(default)]
    pub domain: Vec<Value>,
    /// The field whose value is the record's id (default `id`).
    #[serde(default = "default_id")]
    pub id_field: String,
    /// `modified` (default): read what changed since the cursor, by `last_modified_at`.
    /// `all`: read every record at each scan, for values that change without touching the
    /// record's timestamp (stock quantities); unchanged ones cost no write.
    #[serde(default)]
    pub poll: Poll,
    /// How far back each new scan starts, to catch records committed late with an older
    /// timestamp (default 5s).
    #[serde(default)]
    pub overlap: Option<DurationStr>,
    /// Context for these reads, added to the system's (e.g. `{locations: [5]}` for stock).
    #[serde(default)]
    pub context: Map<String, Value>,
}

fn default_id() -> String {
    "id".to_owned()
}

/// How a source finds changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Poll {
    /// Records whose `last_modified_at` moved.
    #[default]
    Modified,
    /// Every record, every scan.
    All,
}

/// Options of a flow's `target:` writing a Tryton model.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrytonTargetOptions {
    /// The model, e.g. `party.party`, `product.template`, `sale.sale`.
    pub model: String,
    /// The domain path holding the business key, searched to find an existing record:
    /// `identifiers.code` (parties), `code` (product templates), `reference` (sales). On
    /// create the key is written there (through a one2many: as a new child). Default: the
    /// flow's key field, renamed by `fields`.
    #[serde(default)]
    pub key: Option<String>,
    /// Canonical field → Tryton field. Unlisted fields keep their name; `~` skips a field.
    /// The flow's key field is written at `key` only.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// Values set on create when the record has none (`{company: 1, currency: 1}`).
    #[serde(default)]
    pub defaults: Map<String, Value>,
    /// Many2one fields given by a business code instead of an id, by Tryton field:
    /// `{party: {model: party.party, by: identifiers.code, from: customer_code}}`.
    #[serde(default)]
    pub lookup: IndexMap<String, Lookup>,
    /// One2many children written with the record.
    #[serde(default)]
    pub children: Vec<ChildOptions>,
    /// Workflow buttons called, in order, on each record created (`[quote, confirm]`).
    #[serde(default)]
    pub on_create: Vec<String>,
    /// Context for these writes, added to the system's.
    #[serde(default)]
    pub context: Map<String, Value>,
    /// A Tryton domain bounding what reconciliation reads back (the sink's scan), when the
    /// flow manages only part of the model: `[["categories.name", "=", "Customer"]]`.
    /// Lookups by key are not bounded by it, so a record outside it is still updated, never
    /// created twice.
    #[serde(default)]
    pub scan_domain: Vec<Value>,
}

/// A many2one given by business code.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// The related model (`product.product`).
    pub model: String,
    /// The domain path matched against the value (`code`, `identifiers.code`,
    /// `party.identifiers.code` for a party's address).
    pub by: String,
    /// The canonical field (or line field) holding the code. Default: the one mapped to
    /// this Tryton field.
    #[serde(default)]
    pub from: Option<String>,
}

/// One2many children of a written record.
///
/// With `from`, each item of that canonical list becomes a child (sale `lines`): on update,
/// when the items differ from the children, the children are deleted and the items created
/// in the same write, so the record ends up with exactly the items sent. Such an entry owns
/// every child of its field, unless another entry writes to the same field (then it manages
/// the children holding its plain `values`). Without `from`, the record's own canonical
/// fields listed in `fields` make one child, identified among the existing ones by `values`
/// (the `email` contact mechanism is the child with `type: email`; an address has no
/// `values`, so the first address is the one updated).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildOptions {
    /// The one2many field (`lines`, `contact_mechanisms`, `addresses`).
    pub field: String,
    /// The canonical list whose items become children. Leave out for a child made of the
    /// record's own fields.
    #[serde(default)]
    pub from: Option<String>,
    /// Canonical (or item) field → child field. With `from`, unlisted item fields keep their
    /// name and `~` skips one; without, only the listed fields are used.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// Constant child values (`{type: email}`, `{type: line, unit: 1}`). A many2many or
    /// one2many value is written as Tryton's list operations: `{taxes: [["add", [7]]]}` puts
    /// tax 7 on every line. Plain values also recognise the children an entry manages when
    /// it shares its field with another entry; an existing child already holds an `add`
    /// when its ids are exactly the ones added.
    #[serde(default)]
    pub values: Map<String, Value>,
    /// Many2one child fields given by business code (`{product: {model: product.product, by: code}}`).
    #[serde(default)]
    pub lookup: IndexMap<String, Lookup>,
    /// What an update does to existing children: `replace` (default; delete the children
    /// this entry manages and create the new ones) or `keep` (children are written on
    /// create only). A child made of the record's own fields is always updated in place.
    #[serde(default)]
    pub on_update: OnUpdate,
}

/// What an update does to a list of children.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnUpdate {
    /// Delete and create again.
    #[default]
    Replace,
    /// Leave them alone.
    Keep,
}

/// Reads system settings (the HTTP keys embedded with `flatten`).
pub fn parse_settings(map: &Map<String, Value>) -> Result<TrytonSettings, Vec<ConfigIssue>> {
    ferry_kit::http::parse_settings(map)
}

pub use ferry_kit::settings::parse;

fn require(issues: &mut Vec<ConfigIssue>, path: &[&str], value: &str) {
    if value.trim().is_empty() {
        issues.push(ConfigIssue::at(
            path.iter().map(|s| (*s).to_owned()).collect(),
            "must not be empty",
        ));
    }
}

/// A Tryton model name: dotted lowercase words (`party.party`).
fn model_name(issues: &mut Vec<ConfigIssue>, path: &[&str], model: &str) {
    let ok = !model.is_empty()
        && model.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !ok {
        issues.push(ConfigIssue::at(
            path.iter().map(|s| (*s).to_owned()).collect(),
            format!("`{model}` is not a Tryton model name like `party.party`"),
        ));
    }
}

/// A field path: identifiers joined by dots (`identifiers.code`).
fn field_path(issues: &mut Vec<ConfigIssue>, path: &[&str], field: &str) {
    let ok = !field.is_empty()
        && field
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if !ok {
        issues.push(ConfigIssue::at(
            path.iter().map(|s| (*s).to_owned()).collect(),
            format!("`{field}` is not a field name or dotted path like `identifiers.code`"),
        ));
    }
}

fn finish<T>(issues: Vec<ConfigIssue>, value: T) -> Result<T, Vec<ConfigIssue>> {
    if issues.is_empty() {
        Ok(value)
    } else {
        Err(issues)
    }
}

impl TrytonSettings {
    /// Checks the settings (the HTTP part included).
    pub fn validate(&self) -> Result<ferry_kit::http::HttpOptions, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let http = self.http.validate().map_err(|i| issues.extend(i)).ok();
        require(&mut issues, &["database"], &self.database);
        if self.database.contains('/') {
            issues.push(ConfigIssue::new(["database"], "must not contain `/`"));
        }
        require(&mut issues, &["user"], &self.user);
        if let Some(l) = &self.language {
            require(&mut issues, &["language"], l);
        }
        match http {
            Some(http) if issues.is_empty() => Ok(http),
            _ => Err(issues),
        }
    }
}

impl TrytonSourceOptions {
    /// Checks the options; returns the overlap.
    pub fn validate(&self) -> Result<Duration, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        model_name(&mut issues, &["model"], &self.model);
        if self.fields.is_empty() {
            issues.push(ConfigIssue::new(["fields"], "list at least one field"));
        }
        for (i, f) in self.fields.iter().enumerate() {
            field_path(&mut issues, &["fields", &i.to_string()], f);
        }
        for (child, fields) in &self.children {
            field_path(&mut issues, &["children", child], child);
            if child.contains('.') {
                issues.push(ConfigIssue::new(
                    ["children", child.as_str()],
                    "must be a one2many field of the model itself",
                ));
            }
            for (i, f) in fields.iter().enumerate() {
                field_path(&mut issues, &["children", child, &i.to_string()], f);
            }
        }
        field_path(&mut issues, &["id_field"], &self.id_field);
        domain_clauses(&mut issues, "domain", &self.domain);
        let overlap = self.overlap.map_or(Duration::from_secs(5), |d| d.0);
        if self.poll == Poll::All && self.overlap.is_some() {
            issues.push(ConfigIssue::new(
                ["overlap"],
                "applies to `poll: modified` only",
            ));
        }
        finish(issues, overlap)
    }
}

/// Each clause of a domain at `key` must be a list (or the word `"OR"`/`"AND"`).
fn domain_clauses(issues: &mut Vec<ConfigIssue>, key: &str, domain: &[Value]) {
    for (i, clause) in domain.iter().enumerate() {
        if !matches!(clause, Value::Array(_) | Value::String(_)) {
            issues.push(ConfigIssue::new(
                [key, &i.to_string()],
                "a domain clause is a list like [\"state\", \"=\", \"done\"] (or \"OR\")",
            ));
        }
    }
}

impl TrytonTargetOptions {
    /// Checks the options.
    pub fn validate(&self) -> Result<(), Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        model_name(&mut issues, &["model"], &self.model);
        domain_clauses(&mut issues, "scan_domain", &self.scan_domain);
        if let Some(k) = &self.key {
            field_path(&mut issues, &["key"], k);
        }
        for (canonical, field) in &self.fields {
            if let Some(f) = field {
                field_path(&mut issues, &["fields", canonical], f);
                if f.contains('.') {
                    issues.push(ConfigIssue::new(
                        ["fields", canonical.as_str()],
                        "write a field of the model itself; use `children` for one2many fields",
                    ));
                }
            }
        }
        for (field, lookup) in &self.lookup {
            lookup.validate(&mut issues, &["lookup", field]);
        }
        for (i, child) in self.children.iter().enumerate() {
            let i = i.to_string();
            let at = |key: &'static str| ["children", i.as_str(), key];
            field_path(&mut issues, &at("field"), &child.field);
            match &child.from {
                Some(from) => require(&mut issues, &at("from"), from),
                None if child.fields.values().all(Option::is_none) => {
                    issues.push(ConfigIssue::at(
                        at("fields").iter().map(|s| (*s).to_owned()).collect(),
                        "list the record's fields that make this child (or give `from`, a list field)",
                    ));
                }
                None => {}
            }
            for (name, lookup) in &child.lookup {
                lookup.validate(&mut issues, &["children", &i, "lookup", name]);
            }
        }
        for (i, button) in self.on_create.iter().enumerate() {
            field_path(&mut issues, &["on_create", &i.to_string()], button);
        }
        finish(issues, ())
    }

    /// The Tryton field a canonical field is written to (`None`: not written).
    pub fn field_of<'a>(&'a self, canonical: &'a str) -> Option<&'a str> {
        ferry_kit::sink::renamed(&self.fields, canonical)
    }
}

impl ChildOptions {
    /// The child field an item field is written to (`None`: not written).
    pub fn field_of<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        match self.fields.get(name) {
            Some(Some(f)) => Some(f),
            Some(None) => None,
            None if self.from.is_some() => Some(name),
            None => None,
        }
    }
}

impl Lookup {
    fn validate(&self, issues: &mut Vec<ConfigIssue>, at: &[&str]) {
        let path = |key: &'static str| {
            let mut p: Vec<&str> = at.to_vec();
            p.push(key);
            p
        };
        model_name(issues, &path("model"), &self.model);
        field_path(issues, &path("by"), &self.by);
        if let Some(from) = &self.from {
            require(issues, &path("from"), from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target_issues(v: Value) -> Vec<String> {
        let o: TrytonTargetOptions = parse(v.as_object().unwrap()).unwrap();
        o.validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.dotted())
            .collect()
    }

    #[test]
    fn settings_validate_and_hide_the_password() {
        let s = parse_settings(
            json!({"url": "http://127.0.0.1:8000", "database": "erp", "user": "admin",
                   "password": "pa55", "context": {"company": 1}, "retries": 1})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        assert!(s.validate().is_ok());
        assert!(!format!("{s:?}").contains("pa55"));
        let e = parse_settings(
            json!({"url": "http://h", "database": "erp", "user": "u"})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e[0].dotted(), "password");
        let s = parse_settings(
            json!({"url": "h", "database": "a/b", "user": "", "password": "p"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let paths: Vec<String> = s
            .validate()
            .unwrap_err()
            .iter()
            .map(|i| i.dotted())
            .collect();
        assert_eq!(paths, ["url", "database", "user"]);
    }

    #[test]
    fn source_options_are_checked_at_their_keys() {
        let o: TrytonSourceOptions = parse(
            json!({"model": "Party", "fields": ["name", "identifiers..code"],
                   "domain": [5], "poll": "all", "overlap": "1s",
                   "children": {"lines.x": ["a"]}})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        let paths: Vec<String> = o
            .validate()
            .unwrap_err()
            .iter()
            .map(|i| i.dotted())
            .collect();
        assert_eq!(
            paths,
            [
                "model",
                "fields.1",
                "children.lines.x",
                "domain.0",
                "overlap"
            ]
        );
        let o: TrytonSourceOptions = parse(
            json!({"model": "party.party", "fields": ["name"]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(o.validate().unwrap(), Duration::from_secs(5));
    }

    #[test]
    fn target_options_are_checked_at_their_keys() {
        assert!(
            target_issues(json!({"model": "sale.sale", "key": "reference",
                "lookup": {"party": {"model": "party.party", "by": "identifiers.code", "from": "customer_code"}},
                "children": [{"field": "lines", "from": "lines", "values": {"type": "line"}}],
                "on_create": ["quote", "confirm"]}))
            .is_empty()
        );
        assert_eq!(
            target_issues(json!({"model": "sale.sale", "fields": {"a": "b.c"},
                "lookup": {"party": {"model": "x", "by": ""}},
                "children": [{"field": "addresses"}], "on_create": ["qu ote"]})),
            [
                "fields.a",
                "lookup.party.by",
                "children.0.fields",
                "on_create.0"
            ]
        );
    }
}
