//! The typed `ferry.yaml`.
//!
//! Parse → validate → build: [`load`](load::load) reads and interpolates the file and
//! deserializes it into [`Config`]; [`Config::validate`] runs every check that needs no network
//! and no other crate (references between sections, canonical field names, code tables); the
//! engine then builds connectors and compiles mappings, reporting its own findings as
//! [`ConfigIssue`]s located in the same file. `ferry check` runs all of it.

pub mod alerts;
pub mod dependency;
pub mod entities;
pub mod load;
pub mod mapping;
pub mod pairs;
pub mod positions;
mod read;
pub mod retention;
pub mod schedule;
pub mod server;
pub mod states;
pub mod totals;
pub mod vat;
pub mod words;

use std::time::Duration;

use indexmap::IndexMap;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

pub use alerts::{AlertRules, AlertsConfig, ChannelConfig, Language};
pub use dependency::{Dependency, RefSide, ResolvedDependency};
pub use entities::{EntityDecl, FieldDecl, MachineDecl};
pub use load::{ConfigError, ConfigIssue, LoadedConfig, load, load_str, parse, parse_str};
pub use mapping::{FieldRule, MappingConfig, ValidationRule};
pub use pairs::{ConflictPolicy, Owners, PairConfig, SHARED};
pub use retention::{Keep, Retention};
pub use schedule::{Trigger, machine_zone, parse_zone};
pub use server::{HookConfig, MaskRule, RateLimitConfig, ServerConfig, TlsConfig, WebhookSettings};
pub use states::{FlowStates, StatesConfig};
pub use totals::TotalsConfig;
pub use vat::VatConfig;

use crate::entity::{Entity, FieldType};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where Ferry keeps its embedded store and working files. Relative paths are taken from
    /// the config file's folder. Default: `.ferry` beside the config file.
    #[serde(default)]
    pub data_dir: Option<String>,
    /// The state store (xref, cursors, ledger, dead letters, queue).
    #[serde(default)]
    pub store: StoreConfig,
    /// Engine tuning shared by every flow.
    #[serde(default)]
    pub engine: EngineSettings,
    /// Named value tables for `code_table:` in mappings (`"已确认": confirmed`).
    #[serde(default)]
    pub code_tables: IndexMap<String, IndexMap<String, String>>,
    /// Exchange rates for `currency:` conversions.
    #[serde(default)]
    pub currency: CurrencyRates,
    /// Unit conversions for `unit:` conversions.
    #[serde(default)]
    pub units: Vec<UnitConversion>,
    /// Entities of this workspace beside the built-in ones (docs/model.md), by name: their
    /// fields, key, line fields and state machine (see [`entities`]).
    #[serde(default)]
    pub entities: IndexMap<String, EntityDecl>,
    /// The connected systems, by name.
    pub systems: IndexMap<String, SystemConfig>,
    /// The flows, by name.
    #[serde(default)]
    pub flows: IndexMap<String, FlowConfig>,
    /// Two-way sync: pairs of flows carrying one entity both ways, with field ownership and
    /// a conflict policy (see [`pairs`]).
    #[serde(default)]
    pub pairs: IndexMap<String, PairConfig>,
    /// The HTTP server of `ferry run`: REST API, webhooks, metrics (see [`server`]).
    #[serde(default)]
    pub server: ServerConfig,
    /// When `ferry run` alerts someone that a flow needs attention (absent: never).
    #[serde(default)]
    pub alerts: Option<AlertsConfig>,
    /// The IANA time zone (`Asia/Shanghai`) cron schedules are read in, unless they name
    /// their own, and the CLI shows times in (`2026-12-07 11:42:05 +08:00`; `--json` stays
    /// UTC). Default: this machine's zone: `TZ` when it names an IANA zone, else the
    /// system's, else UTC. Mapping `date:` rules keep their own `timezone` (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Where state lives, and how long its history is kept.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path/to/ferry.db` or `postgres://user@host/db`. Default: an SQLite file
    /// `ferry.db` in the data dir.
    #[serde(default)]
    pub url: Option<String>,
    /// How long runs, ledger entries, closed dead letters, the audit log and tracked sync
    /// requests are kept; `ferry run` deletes what is older (see [`retention`]).
    #[serde(default)]
    pub retention: Retention,
}

/// Engine settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// Records read and written per batch. The default, 2000, halves the round trips and
    /// commits per record against 1000 (a million-record PostgreSQL load ran ~15 % faster,
    /// see docs/benchmarks.md) while a batch of wide records stays a few MiB.
    pub batch_size: usize,
    /// Upserts of different keys in flight at once: a batch is split into up to this many
    /// parts (of at least `min_parallel_chunk` records) written concurrently. Records of one
    /// key are never in two parts, so each key's order holds.
    pub workers: usize,
    /// The smallest part a batch is split into for parallel writing.
    pub min_parallel_chunk: usize,
    /// How transient failures are retried.
    pub retry: RetrySettings,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            batch_size: 2000,
            workers: 2,
            min_parallel_chunk: 250,
            retry: RetrySettings::default(),
        }
    }
}

/// Exponential backoff with jitter for transient failures.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Attempts of one queued record before it is dead-lettered (transient errors only;
    /// permanent errors are dead-lettered at once).
    pub max_attempts: u32,
    /// First wait.
    pub initial_backoff: DurationStr,
    /// Longest wait between two attempts.
    pub max_backoff: DurationStr,
    /// How long a batch read or write keeps retrying a system that is down before the run
    /// stops (its cursor stays where it was, so the next run resumes there).
    pub give_up_after: DurationStr,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: DurationStr(Duration::from_millis(200)),
            max_backoff: DurationStr(Duration::from_secs(30)),
            give_up_after: DurationStr(Duration::from_secs(600)),
        }
    }
}

/// A duration written as text: `500ms`, `30s`, `5m`, `2h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(into = "String")]
#[schemars(with = "String")]
pub struct DurationStr(pub Duration);

impl From<DurationStr> for String {
    fn from(value: DurationStr) -> Self {
        humantime::format_duration(value.0).to_string()
    }
}

impl<'de> Deserialize<'de> for DurationStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map(DurationStr)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a duration like 500ms, 30s or 5m ({e})"
                ))
            })
    }
}

/// Exchange rates: how many units of `base` one unit of each currency is worth.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrencyRates {
    /// The currency the rates are quoted in (`CNY`).
    #[serde(default)]
    pub base: Option<String>,
    /// `USD: "7.10"` means 1 USD = 7.10 base.
    #[serde(default)]
    pub rates: IndexMap<String, Decimal>,
}

/// `1 from = factor to` (`{from: kg, to: g, factor: 1000}`); the reverse is derived.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitConversion {
    /// Unit converted from.
    pub from: String,
    /// Unit converted to.
    pub to: String,
    /// How many `to` make one `from`.
    pub factor: Decimal,
}

/// One connected system. `kind` picks the connector; the other keys are the connector's own
/// settings, which it validates itself (`ferry schema` shows them).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct SystemConfig {
    /// The connector: `sql`, `files`, …
    pub kind: String,
    /// The connector's settings.
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

/// One direction of one entity between two systems.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// The business object the flow carries: a built-in entity or one declared under
    /// `entities:`.
    pub entity: Entity,
    /// Where records are read.
    pub source: Endpoint,
    /// Where records are written.
    pub target: Endpoint,
    /// The canonical field that identifies a record in both systems (customer code, order
    /// number, SKU). Default: the entity's key (`code`, `number`, `sku`…).
    #[serde(default)]
    pub key: Option<String>,
    /// When the flow runs. Default: `manual` (only `ferry sync`).
    #[serde(default)]
    pub trigger: Trigger,
    /// Records per batch (default: `engine.batch_size`).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// How source fields become canonical fields.
    pub mapping: MappingConfig,
    /// Rules each mapped record must pass before it is written, by canonical field.
    #[serde(default)]
    pub validate: IndexMap<String, Vec<ValidationRule>>,
    /// References to records other flows sync (`customer_code: customers`): resolved to the
    /// target's ids before writing; a record waits until they are synced. See
    /// [`dependency`].
    #[serde(default)]
    pub depends_on: IndexMap<String, Dependency>,
    /// What becomes of the target's record when its source record is deleted. Default:
    /// `ignore` (the delete is recorded in the ledger, the target keeps the record).
    #[serde(default)]
    pub on_delete: OnDelete,
    /// The document's state machine: status changes it does not allow are dead-lettered,
    /// not written (`states: { field: status, machine: sales_order }`). See [`states`].
    #[serde(default)]
    pub states: Option<StatesConfig>,
    /// The document's lines must add up to its total: a record whose lines do not (beyond
    /// rounding) is dead-lettered with both amounts, not written (`totals: { field: total,
    /// tolerance: "0.01" }`). See [`totals`].
    #[serde(default)]
    pub totals: Option<TotalsConfig>,
    /// VAT (增值税) per line, rounded to the fen, from prices with or without tax; the
    /// header's sums set from the lines (`vat: { prices: gross }`). See [`vat`].
    #[serde(default)]
    pub vat: Option<VatConfig>,
    /// The flow is configured but does not run.
    #[serde(default)]
    pub disabled: bool,
    /// Compare source and target on a schedule (`ferry run`) and keep the report; a drift
    /// found raises the `drift` alert. See [`ReconcileConfig`].
    #[serde(default)]
    pub reconcile: Option<ReconcileConfig>,
}

/// Scheduled reconciliation of a flow: `ferry run` compares what the source and the target
/// hold, as `ferry reconcile FLOW` does, and stores the report (reports only: repairs are an
/// operator's decision, through the CLI, the API or the console).
///
/// ```yaml
/// reconcile: { schedule: "0 3 * * *" }   # cron, as `trigger: { cron }`, in the workspace zone
/// reconcile: { schedule: "0 3 * * *", timezone: Asia/Shanghai }   # in its own zone
/// reconcile: { every: 6h }               # or at most this long after the last one
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// A cron schedule in the form of `trigger: { cron }`: five fields (`minute hour
    /// day-of-month month day-of-week`) or six with seconds first; `"0 3 * * *"` is every
    /// day at 03:00.
    #[serde(default)]
    #[schemars(pattern(schedule::CRON_FORM))]
    pub schedule: Option<String>,
    /// The IANA zone `schedule` is read in (`Asia/Shanghai`). Default: the top-level
    /// `timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Or an interval (`6h`): a reconciliation is due this long after the flow's last one,
    /// however it was started.
    #[serde(default)]
    pub every: Option<DurationStr>,
    /// Most entries kept per detail list of the stored report (the counts are always
    /// exact). Default 100.
    #[serde(default)]
    pub details_limit: Option<usize>,
}

impl ReconcileConfig {
    /// Most entries kept per detail list.
    pub fn details_limit(&self) -> usize {
        self.details_limit.unwrap_or(100)
    }
}

/// A flow's delete policy: what the engine does in the target when it finds a source record
/// deleted (a snapshot pass no longer sees it, or it is read with its deleted flag set).
///
/// ```yaml
/// on_delete: ignore                        # default: record the delete, touch nothing
/// on_delete: delete                        # delete the target's record
/// on_delete: { archive: { active: false } }  # write these canonical fields, by key
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// Record the delete in the ledger and leave the target alone.
    #[default]
    Ignore,
    /// Delete the target's record (by target id, else by business key).
    Delete,
    /// Update the target's record with these canonical field values (an update of an
    /// existing record only, never a create), e.g. `{ active: false }`.
    Archive(Map<String, Value>),
}

impl OnDelete {
    /// The policy's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            OnDelete::Ignore => "ignore",
            OnDelete::Delete => "delete",
            OnDelete::Archive(_) => "archive",
        }
    }
}

impl FlowConfig {
    /// The business key field.
    pub fn key(&self) -> &str {
        self.key
            .as_deref()
            .unwrap_or_else(|| self.entity.default_key())
    }
}

/// One end of a flow: a system and, in the connector's terms, the object in it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Endpoint {
    /// The system's name under `systems:`.
    pub system: String,
    /// The connector's settings for this object (table, columns, watermark, file pattern…).
    #[serde(flatten)]
    pub options: Map<String, Value>,
}

impl Config {
    /// The entity called `name` in this workspace: a built-in or a declared one.
    pub fn entity(&self, name: &str) -> Option<Entity> {
        Entity::builtin(name).or_else(|| {
            self.entities
                .get_key_value(name)
                .map(|(name, decl)| entities::intern(name, decl))
        })
    }

    /// Every check that needs nothing but the file: references between sections, canonical
    /// field names, code tables, rates and units. Returns all problems, not only the first.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.engine.batch_size == 0 {
            issues.push(ConfigIssue::new(
                ["engine", "batch_size"],
                "must be at least 1",
            ));
        }
        if self.engine.workers == 0 {
            issues.push(ConfigIssue::new(
                ["engine", "workers"],
                "must be at least 1",
            ));
        }
        if !self.currency.rates.is_empty() && self.currency.base.is_none() {
            issues.push(ConfigIssue::new(
                ["currency"],
                "`rates` needs a `base` currency",
            ));
        }
        entities::check(&self.entities, &mut issues);
        self.store.retention.validate(&mut issues);
        schedule::check_zones(self, &mut issues);
        issues.extend(self.server.validate(|name| self.systems.contains_key(name)));
        pairs::check(self, &mut issues);
        if let Some(alerts) = &self.alerts {
            alerts.validate(self.flows.keys(), &mut issues);
        }
        for (name, system) in &self.systems {
            if system.kind.trim().is_empty() {
                issues.push(ConfigIssue::new(
                    ["systems", name, "kind"],
                    "must name a connector",
                ));
            }
        }
        for (flow_name, flow) in &self.flows {
            let at = |rest: &[&str]| {
                let mut path = vec!["flows".to_owned(), flow_name.clone()];
                path.extend(rest.iter().map(|s| (*s).to_owned()));
                path
            };
            for (side, endpoint) in [("source", &flow.source), ("target", &flow.target)] {
                if !self.systems.contains_key(&endpoint.system) {
                    let known: Vec<_> = self.systems.keys().map(String::as_str).collect();
                    issues.push(ConfigIssue::at(
                        at(&[side, "system"]),
                        self::words::unknown_name("system", &endpoint.system, &known),
                    ));
                }
            }
            let key = flow.key();
            // A declared entity's key is checked at its declaration: a flow that takes it is
            // not told again (nor asked to map a key the declaration lacks).
            let declared_key = flow.key.is_none() && flow.entity.is_declared();
            let keyless = declared_key && flow.entity.field(key).is_none();
            match flow.entity.field(key) {
                _ if declared_key => {}
                Some(def) if def.ty == FieldType::Text || def.ty == FieldType::Integer => {}
                Some(def) => issues.push(ConfigIssue::at(
                    at(&["key"]),
                    format!(
                        "business key `{key}` is a {} field; a key must be text or integer",
                        def.ty.as_str()
                    ),
                )),
                None => issues.push(ConfigIssue::at(
                    at(&["key"]),
                    format!("business key `{key}` is not a field of {}", flow.entity),
                )),
            }
            if !keyless && !flow.mapping.fields.contains_key(key) {
                issues.push(ConfigIssue::at(
                    at(&["mapping"]),
                    format!("missing business key: the mapping must produce `{key}`"),
                ));
            }
            if flow.batch_size == Some(0) {
                issues.push(ConfigIssue::at(at(&["batch_size"]), "must be at least 1"));
            }
            issues.extend(mapping::check(self, flow, &at(&["mapping"])));
            if let Err(found) = dependency::resolve(self, flow_name, flow) {
                issues.extend(found);
            }
            if let Err(found) = states::compile(self, flow_name, flow) {
                issues.extend(found);
            }
            issues.extend(totals::check(flow_name, flow));
            issues.extend(vat::check(flow_name, flow));
            if let OnDelete::Archive(fields) = &flow.on_delete {
                if fields.is_empty() {
                    issues.push(ConfigIssue::at(
                        at(&["on_delete", "archive"]),
                        "name at least one field to write, e.g. `{ archive: { active: false } }`",
                    ));
                }
                for field in fields.keys() {
                    if field == key {
                        issues.push(ConfigIssue::at(
                            at(&["on_delete", "archive", field]),
                            format!("`{field}` is the business key: archiving must not change it"),
                        ));
                    } else if flow.entity.field(field).is_none() && !field.starts_with("extra.") {
                        issues.push(ConfigIssue::at(
                            at(&["on_delete", "archive", field]),
                            format!("unknown field `{field}` for entity {}", flow.entity),
                        ));
                    }
                }
            }
            if let Some(rec) = &flow.reconcile {
                match (&rec.schedule, &rec.every) {
                    (None, None) => issues.push(ConfigIssue::at(
                        at(&["reconcile"]),
                        "give `schedule` (cron, e.g. \"0 3 * * *\") or `every` (e.g. 6h)",
                    )),
                    (Some(_), Some(_)) => issues.push(ConfigIssue::at(
                        at(&["reconcile", "every"]),
                        "give `schedule` or `every`, not both",
                    )),
                    (None, Some(every)) if every.0.is_zero() => issues.push(ConfigIssue::at(
                        at(&["reconcile", "every"]),
                        "must be more than 0s",
                    )),
                    _ => {}
                }
                if rec.details_limit == Some(0) {
                    issues.push(ConfigIssue::at(
                        at(&["reconcile", "details_limit"]),
                        "must be at least 1",
                    ));
                }
            }
            for (field, _) in &flow.validate {
                if flow.entity.field(field).is_none() && !field.starts_with("extra.") {
                    issues.push(ConfigIssue::at(
                        at(&["validate", field]),
                        format!("unknown field `{field}` for entity {}", flow.entity),
                    ));
                }
            }
        }
        issues
    }

    /// How to convert a quantity in `from` into `to`, from the `units` table (either way).
    pub fn unit_factor(&self, from: &str, to: &str) -> Option<UnitFactor> {
        unit_factor(&self.units, from, to)
    }
}

/// A unit conversion: × factor, or ÷ factor for a conversion listed the other way round, so
/// that 24 pcs are exactly 2 boxes of 12 (multiplying by a rounded 1/12 would not be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitFactor {
    /// Multiply by the factor.
    Multiply(Decimal),
    /// Divide by the factor.
    Divide(Decimal),
}

impl UnitFactor {
    /// Converts a quantity; `None` on overflow.
    pub fn apply(self, quantity: Decimal) -> Option<Decimal> {
        match self {
            UnitFactor::Multiply(f) => quantity.checked_mul(f),
            UnitFactor::Divide(f) => quantity.checked_div(f),
        }
    }
}

/// The conversion from `from` to `to` in a units table: the same unit, a listed conversion, or
/// a listed one reversed.
pub fn unit_factor(units: &[UnitConversion], from: &str, to: &str) -> Option<UnitFactor> {
    if from == to {
        return Some(UnitFactor::Multiply(Decimal::ONE));
    }
    units.iter().find_map(|u| {
        if u.from == from && u.to == to {
            Some(UnitFactor::Multiply(u.factor))
        } else if u.from == to && u.to == from && !u.factor.is_zero() {
            Some(UnitFactor::Divide(u.factor))
        } else {
            None
        }
    })
}

/// Widens a map type's schema to also accept its one-string shorthand (`name: customer_name`
/// for `name: { from: customer_name }`), as its hand-written `Deserialize` does.
pub(crate) fn or_shorthand(schema: &mut schemars::Schema, shorthand: &str) {
    let mut full = schema.clone();
    let description = full.remove("description");
    *schema = schemars::json_schema!({
        "anyOf": [{ "type": "string", "description": shorthand }, full]
    });
    if let Some(description) = description {
        schema.insert("description".into(), description);
    }
}
