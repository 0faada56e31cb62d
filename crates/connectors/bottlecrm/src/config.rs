//! Typed settings of the `bottlecrm` connector: the system (the shared HTTP settings plus a
//! credential), a flow's `source:` options and its `target:` options. Each is deserialized
//! with unknown keys refused (the shared `settings::parse`, or `http::parse_settings` for
//! the system settings that embed the HTTP ones, so problems carry their key path), then
//! validated; every problem is a [`ConfigIssue`] relative to its map.

use std::collections::BTreeSet;
use std::fmt;

use ferry_kit::sink::renamed;
use ferry_model::config::ConfigIssue;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::objects::{Object, Spec};
use ferry_kit::http::{HttpOptions, HttpSettings};

/// Settings under `systems.<name>` for `kind: bottlecrm`. Its `Debug` shows no credential.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// Where the server is, timeouts, retries and the request budget. `url` is the server's
    /// root (`https://crm.example.com`), without `/api/`.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// A personal access token (`bcrm_pat_…`), sent as `Authorization: Bearer <token>`. It
    /// acts as the user who made it. Set this or `api_key`.
    #[serde(default)]
    pub token: Option<String>,
    /// An organization API key, sent as the `Token: <key>` header. Set this or `token`.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Most requests one read or one batch write has in flight at once (default 4). The
    /// system's `rate` and `daily_quota` still bound them all.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_concurrency() -> usize {
    4
}

impl fmt::Debug for SystemSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |s: &Option<String>| s.as_ref().map(|_| "****");
        f.debug_struct("SystemSettings")
            .field("http", &self.http)
            .field("token", &shown(&self.token))
            .field("api_key", &shown(&self.api_key))
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// The credential a system uses. Its `Debug` names the kind only.
#[derive(Clone)]
pub enum Credential {
    /// A personal access token.
    Token(String),
    /// An organization API key.
    ApiKey(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::Token(_) => "Token(****)",
            Credential::ApiKey(_) => "ApiKey(****)",
        })
    }
}

/// Validated system settings.
#[derive(Debug, Clone)]
pub struct System {
    /// HTTP options.
    pub http: HttpOptions,
    /// The credential.
    pub credential: Credential,
    /// Requests in flight per read or batch.
    pub concurrency: usize,
}

impl SystemSettings {
    /// Checks the settings. Every problem is reported; no secret appears in a message.
    pub fn validate(self) -> Result<System, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let http = match self.http.validate() {
            Ok(http) => Some(http),
            Err(found) => {
                issues.extend(found);
                None
            }
        };
        if let Some(http) = &http {
            let path = http.base.path().trim_end_matches('/');
            if path.ends_with("/api") {
                issues.push(ConfigIssue::new(
                    ["url"],
                    "give the server's root URL, without `/api/`: request paths start with `api/`",
                ));
            }
        }
        let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let credential = match (nonempty(self.token), nonempty(self.api_key)) {
            (Some(token), None) => Some(Credential::Token(token.trim().to_owned())),
            (None, Some(key)) => Some(Credential::ApiKey(key.trim().to_owned())),
            (Some(_), Some(_)) => {
                issues.push(ConfigIssue::new(
                    ["api_key"],
                    "set either `token` or `api_key`, not both",
                ));
                None
            }
            (None, None) => {
                issues.push(ConfigIssue::new(
                    ["token"],
                    "set `token` (a personal access token, e.g. `${CRM_PAT}`) or `api_key` (an organization API key)",
                ));
                None
            }
        };
        if self.concurrency == 0 {
            issues.push(ConfigIssue::new(["concurrency"], "must be at least 1"));
        }
        match (http, credential) {
            (Some(http), Some(credential)) if issues.is_empty() => Ok(System {
                http,
                credential,
                concurrency: self.concurrency,
            }),
            _ => Err(issues),
        }
    }
}

/// Options of a flow's `source:` reading a BottleCRM object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// `accounts`, `contacts`, `opportunities`, `invoices` or `products`.
    pub object: Object,
    /// List filters passed to BottleCRM as query parameters, e.g. `{stage: CLOSED_WON}` for
    /// won deals or `{status: Paid}` for invoices; `cf_<key>` filters on a custom field.
    /// Only the filters the object's list takes are accepted.
    #[serde(default)]
    pub filter: IndexMap<String, String>,
}

/// Validated source options.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The object read.
    pub spec: &'static Spec,
    /// Query filters.
    pub filter: Vec<(String, String)>,
}

impl SourceOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<SourceSpec, Vec<ConfigIssue>> {
        let spec = self.object.spec();
        let mut issues = Vec::new();
        if spec.segments.is_empty() {
            issues.push(ConfigIssue::new(
                ["object"],
                format!(
                    "`{}` cannot be read: BottleCRM lists them only per invoice; read `invoices`, whose records carry their `payments`",
                    spec.name
                ),
            ));
        }
        check_filters(&mut issues, "filter", spec, &self.filter);
        if issues.is_empty() {
            Ok(SourceSpec {
                spec,
                filter: self.filter.into_iter().collect(),
            })
        } else {
            Err(issues)
        }
    }
}

/// List filters at `key` must be ones the object's list takes, and not empty.
fn check_filters(
    issues: &mut Vec<ConfigIssue>,
    key: &str,
    spec: &Spec,
    filter: &IndexMap<String, String>,
) {
    for (param, value) in filter {
        let at = vec![key.to_owned(), param.clone()];
        if !spec.takes_filter(param) {
            let mut known: Vec<&str> = spec.filters.to_vec();
            if spec.custom_fields {
                known.push("cf_<custom field>");
            }
            issues.push(ConfigIssue::at(
                at,
                format!(
                    "`{}` has no filter `{param}`; it takes {}",
                    spec.name,
                    known.join(", ")
                ),
            ));
        } else if value.trim().is_empty() {
            issues.push(ConfigIssue::at(
                at,
                "must not be empty (leave the filter out instead)",
            ));
        }
    }
}

/// Options of a flow's `target:` writing a BottleCRM object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// `accounts`, `contacts`, `opportunities`, `invoices`, `products` or `payments`.
    pub object: Object,
    /// The API field holding the business key, which records are looked up by before they
    /// are created: a custom field `custom_fields.<key>` (default `custom_fields.erp_id`;
    /// found with the exact `?cf_<key>=` filter), or a natural key (`sku` for products, the
    /// default there; `name` for accounts and deals; `email` for contacts;
    /// `invoice_number`). Payments are keyed by `reference_number` on their invoice.
    #[serde(default)]
    pub key: Option<String>,
    /// Canonical field → API field (a dotted path such as `custom_fields.region` writes
    /// into a nested object). Unlisted fields keep their name; `~` leaves a field out. The
    /// flow's business key is written to `key` whether listed or not.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// The same for the fields of each line (`lines` mapped to `line_items`), e.g.
    /// `{sku: product_id, description: name}`.
    #[serde(default)]
    pub line_fields: IndexMap<String, Option<String>>,
    /// API fields that hold another object's business key, resolved to that record's
    /// BottleCRM id before writing: `{account: accounts}` (looked up by the object's default
    /// key) or `{account: {object: accounts, key: name}}`. A line field is written
    /// `line_items.<field>`, e.g. `line_items.product_id: products`.
    #[serde(default)]
    pub refs: IndexMap<String, RefOption>,
    /// A canonical field holding the BottleCRM id of the record to write, e.g. the
    /// `order_number_id` that `depends_on` fills in, to put an ERP invoice's amounts on the
    /// CRM deal it came from. The record with that id is updated and never created, and the
    /// business key is not written into it.
    #[serde(default)]
    pub id_field: Option<String>,
    /// List filters bounding what reconciliation reads back (the sink's scan), when the
    /// flow manages only part of the object, e.g. `{tags: erp}`; the same filters a source
    /// takes. Lookups by key are not bounded by them.
    #[serde(default)]
    pub scan_filter: IndexMap<String, String>,
}

/// The object (and key) a reference field points at.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RefOption {
    /// The object, looked up by its default key.
    Object(Object),
    /// The object and the key field to look it up by.
    Keyed {
        /// The object referred to.
        object: Object,
        /// Its key field (default: the object's default key).
        #[serde(default)]
        key: Option<String>,
    },
}

/// How records of one object are found by a key field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyField {
    /// A custom field: `custom_fields.<name>`, filtered exactly with `?cf_<name>=`.
    Custom(String),
    /// A plain field, found with a substring list filter and checked exactly.
    Plain {
        /// The field.
        field: String,
        /// The list filter that finds it.
        filter: &'static str,
    },
    /// A payment's `reference_number`, among the payments of its invoice.
    PaymentReference,
}

impl KeyField {
    /// The API field path (`custom_fields.erp_id`, `sku`).
    pub fn path(&self) -> String {
        match self {
            KeyField::Custom(name) => format!("custom_fields.{name}"),
            KeyField::Plain { field, .. } => field.clone(),
            KeyField::PaymentReference => "reference_number".to_owned(),
        }
    }

    /// Parses `key` for `spec`, or says which keys the object can be looked up by.
    pub fn parse(spec: &Spec, key: &str) -> Result<KeyField, String> {
        let key = key.trim();
        if spec.object == Object::Payments {
            return if key == "reference_number" {
                Ok(KeyField::PaymentReference)
            } else {
                Err("payments are keyed by `reference_number`".to_owned())
            };
        }
        if let Some(name) = key
            .strip_prefix("custom_fields.")
            .or(key.strip_prefix("cf_"))
        {
            return if !spec.custom_fields {
                Err(format!("{} have no custom fields", spec.name))
            } else if name.is_empty() || name.contains('.') {
                Err("write a custom field as `custom_fields.<key>`".to_owned())
            } else {
                Ok(KeyField::Custom(name.to_owned()))
            };
        }
        if let Some((field, filter)) = spec.lookups.iter().find(|(f, _)| *f == key) {
            return Ok(KeyField::Plain {
                field: (*field).to_owned(),
                filter,
            });
        }
        let mut known: Vec<String> = spec.lookups.iter().map(|(f, _)| format!("`{f}`")).collect();
        if spec.custom_fields {
            known.insert(0, "`custom_fields.<key>`".to_owned());
        }
        Err(format!(
            "{} cannot be looked up by `{key}`; use {}",
            spec.name,
            known.join(" or ")
        ))
    }
}

/// A validated reference.
#[derive(Debug, Clone)]
pub struct RefSpec {
    /// The object referred to.
    pub spec: &'static Spec,
    /// Its key field.
    pub key: KeyField,
}

/// Validated target options.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The object written.
    pub spec: &'static Spec,
    /// Its key field.
    pub key: KeyField,
    /// Canonical → API field (`None`: not written).
    pub fields: IndexMap<String, Option<String>>,
    /// The same for line fields.
    pub line_fields: IndexMap<String, Option<String>>,
    /// Reference fields (API paths; `line_items.x` for line fields).
    pub refs: IndexMap<String, RefSpec>,
    /// The canonical field holding the id of the record to update, if records are matched
    /// by id rather than by key.
    pub id_field: Option<String>,
    /// List filters of the sink's scan.
    pub scan_filter: Vec<(String, String)>,
}

impl TargetSpec {
    /// The API field a canonical field is written to (`None`: not written).
    pub fn api_field<'a>(&'a self, field: &'a str) -> Option<&'a str> {
        renamed(&self.fields, field)
    }

    /// The API line field a canonical line field is written to.
    pub fn api_line_field<'a>(&'a self, field: &'a str) -> Option<&'a str> {
        renamed(&self.line_fields, field)
    }

    /// The canonical field written to API field `api` (for messages), if renamed.
    pub fn canonical_of(&self, api: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(_, to)| to.as_deref() == Some(api))
            .map(|(from, _)| from.as_str())
    }
}

impl TargetOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<TargetSpec, Vec<ConfigIssue>> {
        let spec = self.object.spec();
        let mut issues = Vec::new();
        let key = match KeyField::parse(spec, self.key.as_deref().unwrap_or(spec.default_key)) {
            Ok(key) => Some(key),
            Err(message) => {
                issues.push(ConfigIssue::new(["key"], message));
                None
            }
        };
        check_renames(&mut issues, "fields", &self.fields);
        check_renames(&mut issues, "line_fields", &self.line_fields);
        let mut refs = IndexMap::new();
        for (field, target) in self.refs {
            let at = vec!["refs".to_owned(), field.clone()];
            let (object, key) = match target {
                RefOption::Object(object) => (object, None),
                RefOption::Keyed { object, key } => (object, key),
            };
            let target = object.spec();
            if object == Object::Payments {
                issues.push(ConfigIssue::at(at, "a payment cannot be referred to"));
                continue;
            }
            if field.trim().is_empty() || field.split('.').any(str::is_empty) {
                issues.push(ConfigIssue::at(at, "name the API field holding the key"));
                continue;
            }
            if field.contains('.') && !field.starts_with("line_items.") {
                issues.push(ConfigIssue::at(
                    at,
                    "a reference is a top-level API field or a line field `line_items.<field>`",
                ));
                continue;
            }
            match KeyField::parse(target, key.as_deref().unwrap_or(target.default_key)) {
                Ok(key) => {
                    refs.insert(field, RefSpec { spec: target, key });
                }
                Err(message) => issues.push(ConfigIssue::at(at, message)),
            }
        }
        if let Some(field) = &self.id_field {
            if field.trim().is_empty() {
                issues.push(ConfigIssue::new(
                    ["id_field"],
                    "must name a canonical field",
                ));
            } else if spec.object == Object::Payments {
                issues.push(ConfigIssue::new(
                    ["id_field"],
                    "payments cannot be updated, only recorded",
                ));
            }
        }
        check_filters(&mut issues, "scan_filter", spec, &self.scan_filter);
        if !self.line_fields.is_empty()
            && !matches!(spec.object, Object::Opportunities | Object::Invoices)
        {
            issues.push(ConfigIssue::new(
                ["line_fields"],
                format!("{} have no line items", spec.name),
            ));
        }
        match key {
            Some(key) if issues.is_empty() => Ok(TargetSpec {
                spec,
                key,
                fields: self.fields,
                line_fields: self.line_fields,
                refs,
                id_field: self.id_field,
                scan_filter: self.scan_filter.into_iter().collect(),
            }),
            _ => Err(issues),
        }
    }
}

/// Renamed targets must be non-empty paths and distinct.
fn check_renames(
    issues: &mut Vec<ConfigIssue>,
    name: &str,
    map: &IndexMap<String, Option<String>>,
) {
    let mut seen = BTreeSet::new();
    for (from, to) in map {
        let Some(to) = to else { continue };
        let at = || vec![name.to_owned(), from.clone()];
        if to.trim().is_empty() || to.split('.').any(str::is_empty) {
            issues.push(ConfigIssue::at(at(), "must name an API field"));
        } else if !seen.insert(to.as_str()) {
            issues.push(ConfigIssue::at(
                at(),
                format!("two fields are written to `{to}`"),
            ));
        }
    }
}

/// Parses and validates the system settings.
pub fn parse_system(map: &Map<String, Value>) -> Result<System, Vec<ConfigIssue>> {
    ferry_kit::http::parse_settings::<SystemSettings>(map)?.validate()
}

/// Parses and validates a flow's `source:` options.
pub fn parse_source(map: &Map<String, Value>) -> Result<SourceSpec, Vec<ConfigIssue>> {
    ferry_kit::settings::parse::<SourceOptions>(map)?.validate()
}

/// Parses and validates a flow's `target:` options.
pub fn parse_target(map: &Map<String, Value>) -> Result<TargetSpec, Vec<ConfigIssue>> {
    ferry_kit::settings::parse::<TargetOptions>(map)?.validate()
}
