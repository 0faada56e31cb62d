//! The mapping section of a flow: how source fields become canonical fields.
//!
//! ```yaml
//! mapping:
//!   code: customer_no                       # shorthand for {from: customer_no}
//!   name: { expr: 'strip_whitespace(string!(.name))' }   # a VRL expression over the source
//!   status: { from: status, code_table: crm_status, default: prospect }
//!   credit_limit: { from: credit, currency: { from: USD, to: CNY }, scale: 2 }
//!   created_at: { from: created, date: { format: "%Y/%m/%d %H:%M", timezone: Asia/Shanghai } }
//!   lines:
//!     from: items
//!     fields: { sku: product_code, quantity: { from: qty, unit: { from: box, to: pcs } } }
//! ```
//!
//! The steps of one field run in a fixed order: take the value (`from`, `expr` or `value`),
//! apply `default` if it is empty, then `code_table`/`codes`, `case`, `unit`, `currency`, `tax`,
//! `scale`, `date`, and finally normalise it to the canonical field's type.

use indexmap::IndexMap;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{Config, ConfigIssue, FlowConfig};
use crate::entity::FieldType;

/// A flow's field map: canonical field → rule. A `vrl:` key holds a whole VRL program for what
/// the field rules cannot say; it runs after them, with `.` set to the mapped record and
/// `%source` to the source record.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MappingConfig {
    /// Canonical field → how to compute it.
    pub fields: IndexMap<String, FieldRule>,
    /// An optional VRL program run after the field rules.
    pub vrl: Option<String>,
}

impl<'de> Deserialize<'de> for MappingConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields: IndexMap<String, FieldRule> = IndexMap::deserialize(deserializer)?;
        let vrl = match fields.shift_remove("vrl") {
            None => None,
            Some(rule) => match rule.from {
                Some(program) if rule.is_only_from() => Some(program),
                _ => return Err(de::Error::custom("`vrl:` must be a VRL program (a string)")),
            },
        };
        Ok(Self { fields, vrl })
    }
}

// The schema says what the file holds: canonical field names as keys (not a `fields:` key),
// and `vrl:` beside them.
impl JsonSchema for MappingConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MappingConfig".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let rule = generator.subschema_for::<FieldRule>();
        schemars::json_schema!({
            "description": "Canonical field (`code`, `name`, `lines`, `extra.segment`) → the source \
                field it comes from, or a rule. `vrl:` holds a VRL program run after the rules.",
            "type": "object",
            "properties": {
                "vrl": {
                    "description": "A VRL program run after the field rules: `.` is the mapped \
                        record, `%source` the source record.",
                    "type": "string"
                }
            },
            "additionalProperties": rule
        })
    }
}

/// How one canonical field is computed. Written as a map, or as a plain string that names the
/// source field (`name: customer_name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = shorthand_schema)]
pub struct FieldRule {
    /// The source field, a dotted path for nested objects (`address.city`).
    #[serde(default)]
    pub from: Option<String>,
    /// A VRL expression evaluated against the source record (`.` is the source).
    #[serde(default)]
    pub expr: Option<String>,
    /// A constant.
    #[serde(default)]
    pub value: Option<Value>,
    /// Used when the value is missing, null or an empty string.
    #[serde(default)]
    pub default: Option<Value>,
    /// Translate the value through a table under `code_tables:`.
    #[serde(default)]
    pub code_table: Option<String>,
    /// Translate the value through this inline table.
    #[serde(default)]
    pub codes: Option<IndexMap<String, String>>,
    /// What to do with a value the table does not know. Default: `error`.
    #[serde(default)]
    pub unknown_code: UnknownCode,
    /// Change letter case or trim.
    #[serde(default)]
    pub case: Option<TextCase>,
    /// Convert a quantity between units (from the `units:` table).
    #[serde(default)]
    pub unit: Option<UnitRule>,
    /// Convert money between currencies (from the `currency:` rates).
    #[serde(default)]
    pub currency: Option<CurrencyRule>,
    /// Add or remove tax.
    #[serde(default)]
    pub tax: Option<TaxRule>,
    /// Round a decimal to this many places (half away from zero, as invoices do).
    #[serde(default)]
    pub scale: Option<u32>,
    /// Parse a date or time written in another format or time zone.
    #[serde(default)]
    pub date: Option<DateRule>,
    /// For `lines`: the source array's field map, applied to each element.
    #[serde(default)]
    pub fields: Option<IndexMap<String, FieldRule>>,
}

impl FieldRule {
    fn is_only_from(&self) -> bool {
        *self
            == FieldRule {
                from: self.from.clone(),
                ..FieldRule::default()
            }
    }
}

/// Deserializes a rule from either a string (`from`) or a map.
pub(crate) fn rule_from_str(from: &str) -> FieldRule {
    FieldRule {
        from: Some(from.to_owned()),
        ..FieldRule::default()
    }
}

// A hand-written entry point so that `name: customer_name` works beside the full map form,
// with serde's own error messages for the map form (an untagged enum would lose them).
impl FieldRule {
    #[doc(hidden)]
    pub fn deserialize_shorthand<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = FieldRule;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a source field name or a map with from/expr/value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldRule, E> {
                Ok(rule_from_str(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldRule, A::Error> {
                #[derive(Deserialize)]
                #[serde(remote = "FieldRule", deny_unknown_fields)]
                struct Full {
                    #[serde(default)]
                    from: Option<String>,
                    #[serde(default)]
                    expr: Option<String>,
                    #[serde(default)]
                    value: Option<Value>,
                    #[serde(default)]
                    default: Option<Value>,
                    #[serde(default)]
                    code_table: Option<String>,
                    #[serde(default)]
                    codes: Option<IndexMap<String, String>>,
                    #[serde(default)]
                    unknown_code: UnknownCode,
                    #[serde(default)]
                    case: Option<TextCase>,
                    #[serde(default)]
                    unit: Option<UnitRule>,
                    #[serde(default)]
                    currency: Option<CurrencyRule>,
                    #[serde(default)]
                    tax: Option<TaxRule>,
                    #[serde(default)]
                    scale: Option<u32>,
                    #[serde(default)]
                    date: Option<DateRule>,
                    #[serde(default)]
                    fields: Option<IndexMap<String, FieldRule>>,
                }
                Full::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}

/// What to do when a value is not in the code table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCode {
    /// Fail the record (it goes to dead letters naming the value).
    #[default]
    Error,
    /// Keep the value as it is.
    Keep,
    /// Use the rule's `default`.
    Default,
}

/// Letter case and whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TextCase {
    /// UPPER CASE (and trimmed).
    Upper,
    /// lower case (and trimmed).
    Lower,
    /// Leading and trailing whitespace removed.
    Trim,
}

/// `unit: { from: box, to: pcs }`; `from_field` reads the unit from the source record instead.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitRule {
    /// The source unit.
    #[serde(default)]
    pub from: Option<String>,
    /// A source field holding the unit, when it varies by record.
    #[serde(default)]
    pub from_field: Option<String>,
    /// The target unit.
    pub to: String,
}

/// `currency: { from: USD, to: CNY }`; `from_field` reads the currency from the source record.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrencyRule {
    /// The source currency.
    #[serde(default)]
    pub from: Option<String>,
    /// A source field holding the currency.
    #[serde(default)]
    pub from_field: Option<String>,
    /// The target currency.
    pub to: String,
}

/// `tax: { add: "0.13" }` turns a net amount into a gross one; `remove` does the reverse.
/// `rate_field` reads the rate from the source record instead.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRule {
    /// Multiply by (1 + rate).
    #[serde(default)]
    pub add: Option<Decimal>,
    /// Divide by (1 + rate).
    #[serde(default)]
    pub remove: Option<Decimal>,
    /// A source field with the rate; `direction` says what to do with it.
    #[serde(default)]
    pub rate_field: Option<String>,
    /// `add` or `remove`, with `rate_field`.
    #[serde(default)]
    pub direction: Option<TaxDirection>,
}

/// Whether tax is added or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxDirection {
    /// Net → gross.
    Add,
    /// Gross → net.
    Remove,
}

/// `date: { format: "%Y/%m/%d %H:%M", timezone: Asia/Shanghai }`: how to read the source value.
/// The result is RFC 3339 in UTC for datetime fields and `YYYY-MM-DD` for date fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateRule {
    /// strftime-style input format; default: RFC 3339, ISO dates, or Unix seconds.
    #[serde(default)]
    pub format: Option<String>,
    /// IANA time zone of values that carry none (`Asia/Shanghai`). Default: UTC.
    #[serde(default)]
    pub timezone: Option<String>,
    /// For date fields: the zone in which to take the calendar day of an instant. Default: UTC.
    #[serde(default)]
    pub to_timezone: Option<String>,
}

/// A validation rule for a canonical field. Written as a word (`required`, `email`, `uscc`)
/// or a one-key map (`regex: "^C-\\d+$"`, `max_len: 64`, `one_of: [a, b]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidationRule {
    /// Present and not empty.
    Required,
    /// A plausible e-mail address.
    Email,
    /// A Chinese unified social credit code (统一社会信用代码): 18 characters with a valid
    /// check digit (GB 32100-2015).
    Uscc,
    /// Matches the regular expression.
    Regex(String),
    /// At most this many characters.
    MaxLen(usize),
    /// One of these values.
    OneOf(Vec<String>),
    /// A decimal no smaller than this.
    Min(Decimal),
    /// A decimal no larger than this.
    Max(Decimal),
}

/// The schema of a rule accepts the shorthand too: a plain string naming the source field.
fn shorthand_schema(schema: &mut schemars::Schema) {
    super::or_shorthand(schema, "The source field (shorthand for `{ from: … }`).");
}

// `mapping.fields` entries accept the shorthand too.
impl<'de> Deserialize<'de> for FieldRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        FieldRule::deserialize_shorthand(deserializer)
    }
}

/// Offline checks of one flow's mapping against the canonical model and the config's tables.
pub(crate) fn check(config: &Config, flow: &FlowConfig, at: &[String]) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    for (name, rule) in &flow.mapping.fields {
        let path = |rest: &[&str]| {
            let mut p = at.to_vec();
            p.push(name.clone());
            p.extend(rest.iter().map(|s| (*s).to_owned()));
            p
        };
        let def = flow.entity.field(name);
        if def.is_none() && !name.starts_with("extra.") {
            let known: Vec<_> = flow.entity.fields().iter().map(|f| f.name).collect();
            let message = match super::words::did_you_mean(name, known.iter().copied()) {
                Some(near) => format!(
                    "unknown field `{name}` for entity {}; did you mean `{near}`? (custom fields go under `extra.`)",
                    flow.entity
                ),
                None => format!(
                    "unknown field `{name}` for entity {} (fields: {}; custom fields go under `extra.`)",
                    flow.entity,
                    known.join(", ")
                ),
            };
            issues.push(ConfigIssue::at(path(&[]), message));
            continue;
        }
        check_rule(config, rule, &path(&[]), &mut issues);
        match (def.map(|d| (d.ty, d.lines)), &rule.fields) {
            (Some((FieldType::Lines, line_fields)), Some(line_rules)) => {
                for (line_field, line_rule) in line_rules {
                    let p = path(&["fields", line_field]);
                    if !line_fields.iter().any(|f| f.name == line_field)
                        && !line_field.starts_with("extra.")
                    {
                        let known: Vec<_> = line_fields.iter().map(|f| f.name).collect();
                        let message =
                            match super::words::did_you_mean(line_field, known.iter().copied()) {
                                Some(near) => {
                                    format!(
                                        "unknown line field `{line_field}`; did you mean `{near}`?"
                                    )
                                }
                                None => format!(
                                    "unknown line field `{line_field}` (fields: {})",
                                    known.join(", ")
                                ),
                            };
                        issues.push(ConfigIssue::at(p.clone(), message));
                    }
                    check_rule(config, line_rule, &p, &mut issues);
                }
            }
            (Some((FieldType::Lines, _)), None) => {}
            (_, Some(_)) => issues.push(ConfigIssue::at(
                path(&["fields"]),
                "`fields` is only for `lines`",
            )),
            _ => {}
        }
    }
    issues
}

fn check_rule(config: &Config, rule: &FieldRule, path: &[String], issues: &mut Vec<ConfigIssue>) {
    let sources = [
        rule.from.is_some(),
        rule.expr.is_some(),
        rule.value.is_some(),
    ];
    let n = sources.iter().filter(|s| **s).count();
    if n > 1 {
        issues.push(ConfigIssue::at(
            path.to_vec(),
            "use only one of `from`, `expr` and `value`",
        ));
    } else if n == 0 && rule.default.is_none() {
        issues.push(ConfigIssue::at(
            path.to_vec(),
            "needs `from`, `expr`, `value` or `default`",
        ));
    }
    let sub = |k: &str| {
        let mut p = path.to_vec();
        p.push(k.to_owned());
        p
    };
    if let Some(table) = rule
        .code_table
        .as_ref()
        .filter(|t| !config.code_tables.contains_key(*t))
    {
        issues.push(ConfigIssue::at(
            sub("code_table"),
            format!("unknown code table `{table}`"),
        ));
    }
    if let Some(unit) = &rule.unit {
        match (&unit.from, &unit.from_field) {
            (Some(from), None) => {
                if config.unit_factor(from, &unit.to).is_none() {
                    issues.push(ConfigIssue::at(
                        sub("unit"),
                        format!("no conversion from `{from}` to `{}` in `units:`", unit.to),
                    ));
                }
            }
            (None, Some(_)) => {}
            _ => issues.push(ConfigIssue::at(
                sub("unit"),
                "give exactly one of `from` and `from_field`",
            )),
        }
    }
    if let Some(cur) = &rule.currency {
        let known = |c: &str| {
            config.currency.base.as_deref() == Some(c) || config.currency.rates.contains_key(c)
        };
        match (&cur.from, &cur.from_field) {
            (Some(from), None) if !known(from) => issues.push(ConfigIssue::at(
                sub("currency"),
                format!("no rate for `{from}` under `currency.rates`"),
            )),
            (Some(_), None) | (None, Some(_)) => {}
            _ => issues.push(ConfigIssue::at(
                sub("currency"),
                "give exactly one of `from` and `from_field`",
            )),
        }
        if !known(&cur.to) {
            issues.push(ConfigIssue::at(
                sub("currency"),
                format!("no rate for `{}` under `currency.rates`", cur.to),
            ));
        }
    }
    if let Some(tax) = &rule.tax {
        let ways = [
            tax.add.is_some(),
            tax.remove.is_some(),
            tax.rate_field.is_some(),
        ];
        if ways.iter().filter(|w| **w).count() != 1 {
            issues.push(ConfigIssue::at(
                sub("tax"),
                "give exactly one of `add`, `remove` and `rate_field`",
            ));
        } else if tax.rate_field.is_some() && tax.direction.is_none() {
            issues.push(ConfigIssue::at(
                sub("tax"),
                "`rate_field` needs `direction: add` or `remove`",
            ));
        }
    }
}
