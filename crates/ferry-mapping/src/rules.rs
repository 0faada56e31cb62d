//! Field rules, compiled: every lookup a rule needs (paths split, tables copied, factors and
//! time zones resolved, expressions compiled) is done once, so applying a rule to a record is
//! a handful of map lookups and decimal operations.

use std::collections::HashMap;

use chrono_tz::Tz;
use ferry_model::config::mapping::{TaxDirection, TextCase, UnknownCode};
use ferry_model::config::{
    Config, ConfigIssue, FieldRule, UnitConversion, UnitFactor, unit_factor,
};
use ferry_model::{FieldDef, FieldType};
use indexmap::IndexMap;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};
use vrl::compiler::{Function, TimeZone};

use crate::script::{self, ExprProgram};
use crate::values::{self, Temporal, show};

/// The most decimal places rust_decimal can carry.
const MAX_SCALE: u32 = 28;

/// Units and exchange rates, for rules that read the unit or currency from the record.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    units: Vec<UnitConversion>,
    base: Option<String>,
    rates: HashMap<String, Decimal>,
}

impl Tables {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            units: config.units.clone(),
            base: config.currency.base.clone(),
            rates: config
                .currency
                .rates
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        }
    }

    fn unit_factor(&self, from: &str, to: &str) -> Option<UnitFactor> {
        unit_factor(&self.units, from, to)
    }

    /// How many base units one `currency` is worth.
    fn rate(&self, currency: &str) -> Option<Decimal> {
        if self.base.as_deref() == Some(currency) {
            return Some(Decimal::ONE);
        }
        self.rates.get(currency).copied()
    }
}

/// A dotted path into a record's fields (`address.city`, `items.0.sku`). A key that itself
/// contains dots is found first.
#[derive(Debug)]
pub(crate) struct FieldPath {
    raw: String,
    segments: Vec<String>,
}

impl FieldPath {
    pub(crate) fn new(raw: &str) -> Self {
        Self {
            raw: raw.to_owned(),
            segments: raw.split('.').map(str::to_owned).collect(),
        }
    }

    pub(crate) fn get<'a>(&self, map: &'a Map<String, Value>) -> Option<&'a Value> {
        if let Some(v) = map.get(&self.raw) {
            return Some(v);
        }
        if self.segments.len() < 2 {
            return None;
        }
        let mut current = map.get(&self.segments[0])?;
        for segment in &self.segments[1..] {
            current = match current {
                Value::Object(m) => m.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

#[derive(Debug)]
enum Source {
    Path(FieldPath),
    /// Index into the rule set's expression program results.
    Expr(usize),
    Const(Value),
    Nothing,
}

#[derive(Debug)]
struct Codes {
    /// For messages: "code table `crm_status`" or "`codes`".
    label: String,
    table: HashMap<String, String>,
    /// The rule's `unknown_code`.
    unknown: UnknownCode,
}

#[derive(Debug)]
enum UnitStep {
    Fixed(UnitFactor),
    Field { path: FieldPath, to: String },
}

#[derive(Debug)]
enum CurrencyStep {
    Fixed {
        from_rate: Decimal,
        to_rate: Decimal,
    },
    Field {
        path: FieldPath,
        to_rate: Decimal,
    },
}

#[derive(Debug)]
enum TaxStep {
    /// Multiply by this (1 + rate).
    Multiply(Decimal),
    /// Divide by this (1 + rate).
    Divide(Decimal),
    Field {
        path: FieldPath,
        direction: TaxDirection,
    },
}

#[derive(Debug)]
struct DateStep {
    format: Option<String>,
}

/// The type a value is normalised to; `None` for `extra.*` fields, which keep their JSON.
type Kind = Option<FieldType>;

#[derive(Debug)]
struct Rule {
    name: String,
    kind: Kind,
    source: Source,
    default: Option<Value>,
    codes: Option<Codes>,
    case: Option<TextCase>,
    unit: Option<UnitStep>,
    currency: Option<CurrencyStep>,
    tax: Option<TaxStep>,
    scale: Option<u32>,
    date: Option<DateStep>,
    /// Zone of values without an offset (the `date` rule's `timezone`, else UTC).
    zone: Tz,
    /// Zone in which an instant's calendar day is taken (`to_timezone`, else UTC).
    day_zone: Tz,
    lines: Option<Box<RuleSet>>,
}

/// A field that failed, with the reason.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub field: String,
    pub reason: String,
}

/// The compiled rules of one field map (the flow's, or the `fields` of `lines`).
#[derive(Debug)]
pub(crate) struct RuleSet {
    rules: Vec<Rule>,
    exprs: Option<ExprProgram>,
}

/// What compiling a rule set needs besides the rules.
pub(crate) struct Compiler<'a> {
    pub config: &'a Config,
    pub fns: &'a [Box<dyn Function>],
    pub issues: Vec<ConfigIssue>,
}

fn path_with(at: &[String], rest: &[&str]) -> Vec<String> {
    let mut p = at.to_vec();
    p.extend(rest.iter().map(|s| (*s).to_owned()));
    p
}

impl Compiler<'_> {
    fn issue(&mut self, path: Vec<String>, message: impl Into<String>) {
        self.issues.push(ConfigIssue::at(path, message));
    }

    /// Compiles a field map. `at` is the key path of the map (`flows.x.mapping`), `catalogue`
    /// gives each canonical field's definition (its type, and its line fields for `lines`).
    pub(crate) fn rule_set(
        &mut self,
        rules: &IndexMap<String, FieldRule>,
        at: &[String],
        catalogue: &dyn Fn(&str) -> Option<&'static FieldDef>,
    ) -> RuleSet {
        let mut compiled = Vec::with_capacity(rules.len());
        let mut exprs: Vec<(usize, &str)> = Vec::new();
        for (name, rule) in rules {
            let here = path_with(at, &[name]);
            let (kind, line_fields) = match catalogue(name) {
                Some(def) => (Some(def.ty), def.lines),
                None if name.starts_with("extra.") => (None, &[][..]),
                // `Config::validate`, which every load runs before compiling, reports it with
                // the entity's fields and a suggestion; saying it twice helps nobody.
                None => continue,
            };
            let mut c = self.rule(name, kind, line_fields, rule, &here);
            if let Some(expr) = &rule.expr {
                c.source = Source::Expr(exprs.len());
                exprs.push((compiled.len(), expr.as_str()));
            }
            compiled.push(c);
        }
        let exprs = if exprs.is_empty() {
            None
        } else {
            self.exprs(&exprs, &compiled, at)
        };
        RuleSet {
            rules: compiled,
            exprs,
        }
    }

    /// All expressions of a rule set as one program. When the combined program does not
    /// compile, each expression is compiled alone so that the issue names its own field.
    fn exprs(
        &mut self,
        exprs: &[(usize, &str)],
        rules: &[Rule],
        at: &[String],
    ) -> Option<ExprProgram> {
        let sources: Vec<&str> = exprs.iter().map(|(_, e)| *e).collect();
        let (source, spans) = script::combine(&sources);
        match script::compile(&source, self.fns) {
            Ok(program) => Some(ExprProgram::new(program, spans)),
            Err(combined) => {
                let before = self.issues.len();
                for (index, expr) in exprs {
                    if let Err(message) = script::compile(expr, self.fns) {
                        self.issue(path_with(at, &[&rules[*index].name, "expr"]), message);
                    }
                }
                if self.issues.len() == before {
                    self.issue(at.to_vec(), combined);
                }
                None
            }
        }
    }

    fn zone(&mut self, name: Option<&str>, path: &[String]) -> Tz {
        match name {
            None => chrono_tz::UTC,
            Some(n) => n.parse::<Tz>().unwrap_or_else(|_| {
                self.issue(
                    path.to_vec(),
                    format!("unknown time zone `{n}` (use an IANA name such as Asia/Shanghai)"),
                );
                chrono_tz::UTC
            }),
        }
    }

    fn rule(
        &mut self,
        name: &str,
        kind: Kind,
        line_fields: &'static [FieldDef],
        rule: &FieldRule,
        here: &[String],
    ) -> Rule {
        let config = self.config;
        let sub = |k: &str| path_with(here, &[k]);
        let source = if let Some(from) = &rule.from {
            Source::Path(FieldPath::new(from))
        } else if rule.expr.is_some() {
            Source::Expr(0) // `rule_set` sets the index into the program's results
        } else if let Some(value) = &rule.value {
            Source::Const(value.clone())
        } else {
            Source::Nothing
        };

        let codes = if let Some(table_name) = &rule.code_table {
            match config.code_tables.get(table_name) {
                Some(table) => Some(Codes {
                    label: format!("code table `{table_name}`"),
                    table: table.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    unknown: rule.unknown_code,
                }),
                None => {
                    self.issue(
                        sub("code_table"),
                        format!("unknown code table `{table_name}`"),
                    );
                    None
                }
            }
        } else {
            rule.codes.as_ref().map(|table| Codes {
                label: "`codes`".to_owned(),
                table: table.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                unknown: rule.unknown_code,
            })
        };

        let tables = Tables::new(config);
        let unit = rule
            .unit
            .as_ref()
            .and_then(|u| match (&u.from, &u.from_field) {
                (Some(from), None) => match tables.unit_factor(from, &u.to) {
                    Some(factor) => Some(UnitStep::Fixed(factor)),
                    None => {
                        self.issue(
                            sub("unit"),
                            format!("no conversion from `{from}` to `{}` in `units:`", u.to),
                        );
                        None
                    }
                },
                (None, Some(field)) => Some(UnitStep::Field {
                    path: FieldPath::new(field),
                    to: u.to.clone(),
                }),
                _ => {
                    self.issue(sub("unit"), "give exactly one of `from` and `from_field`");
                    None
                }
            });

        let currency = rule.currency.as_ref().and_then(|c| {
            let Some(to_rate) = tables.rate(&c.to) else {
                self.issue(
                    sub("currency"),
                    format!("no rate for `{}` under `currency.rates`", c.to),
                );
                return None;
            };
            if to_rate.is_zero() {
                self.issue(sub("currency"), format!("the rate of `{}` is zero", c.to));
                return None;
            }
            match (&c.from, &c.from_field) {
                (Some(from), None) => match tables.rate(from) {
                    Some(from_rate) => Some(CurrencyStep::Fixed { from_rate, to_rate }),
                    None => {
                        self.issue(
                            sub("currency"),
                            format!("no rate for `{from}` under `currency.rates`"),
                        );
                        None
                    }
                },
                (None, Some(field)) => Some(CurrencyStep::Field {
                    path: FieldPath::new(field),
                    to_rate,
                }),
                _ => {
                    self.issue(
                        sub("currency"),
                        "give exactly one of `from` and `from_field`",
                    );
                    None
                }
            }
        });

        let tax = rule.tax.as_ref().and_then(|t| match (t.add, t.remove, &t.rate_field, t.direction) {
            (Some(rate), None, None, _) => Some(TaxStep::Multiply(Decimal::ONE + rate)),
            (None, Some(rate), None, _) if !(Decimal::ONE + rate).is_zero() => {
                Some(TaxStep::Divide(Decimal::ONE + rate))
            }
            (None, None, Some(field), Some(direction)) => {
                Some(TaxStep::Field { path: FieldPath::new(field), direction })
            }
            _ => {
                self.issue(
                    sub("tax"),
                    "give exactly one of `add`, `remove` and `rate_field` (with `direction: add` or `remove`)",
                );
                None
            }
        });

        let scale = rule.scale.filter(|s| {
            let ok = *s <= MAX_SCALE;
            if !ok {
                self.issue(sub("scale"), format!("at most {MAX_SCALE} decimal places"));
            }
            ok
        });

        let (date, zone, day_zone) = match &rule.date {
            Some(d) => {
                let zone = self.zone(d.timezone.as_deref(), &sub("date"));
                let day_zone = self.zone(d.to_timezone.as_deref(), &sub("date"));
                (
                    Some(DateStep {
                        format: d.format.clone(),
                    }),
                    zone,
                    day_zone,
                )
            }
            None => (None, chrono_tz::UTC, chrono_tz::UTC),
        };

        let lines = match (kind, &rule.fields) {
            (Some(FieldType::Lines), Some(fields)) => {
                let catalogue = |n: &str| line_fields.iter().find(|f| f.name == n);
                Some(Box::new(self.rule_set(
                    fields,
                    &path_with(here, &["fields"]),
                    &catalogue,
                )))
            }
            (_, Some(_)) => {
                self.issue(sub("fields"), "`fields` is only for `lines`");
                None
            }
            _ => None,
        };

        Rule {
            name: name.to_owned(),
            kind,
            source,
            default: rule.default.clone(),
            codes,
            case: rule.case,
            unit,
            currency,
            tax,
            scale,
            date,
            zone,
            day_zone,
            lines,
        }
    }
}

impl RuleSet {
    /// Whether any rule here or in `lines` runs VRL.
    #[cfg(test)]
    pub(crate) fn uses_vrl(&self) -> bool {
        self.exprs.is_some()
            || self
                .rules
                .iter()
                .any(|r| r.lines.as_ref().is_some_and(|l| l.uses_vrl()))
    }

    /// Maps one source object (a record's fields, or one line) to canonical fields.
    pub(crate) fn apply(
        &self,
        input: &Map<String, Value>,
        tables: &Tables,
        tz: &TimeZone,
    ) -> Result<Map<String, Value>, FieldError> {
        let mut results = match &self.exprs {
            Some(program) => program.run(input, tz).map_err(|(index, message)| {
                let field = index
                    .and_then(|i| {
                        self.rules
                            .iter()
                            .filter(|r| matches!(r.source, Source::Expr(_)))
                            .nth(i)
                    })
                    .map_or_else(|| "expr".to_owned(), |r| r.name.clone());
                FieldError {
                    field,
                    reason: format!("expression failed: {message}"),
                }
            })?,
            None => Vec::new(),
        };
        let mut out = Map::with_capacity(self.rules.len());
        for rule in &self.rules {
            let raw = match &rule.source {
                Source::Path(path) => path.get(input).cloned().unwrap_or(Value::Null),
                Source::Expr(i) => results.get_mut(*i).map(Value::take).unwrap_or(Value::Null),
                Source::Const(v) => v.clone(),
                Source::Nothing => Value::Null,
            };
            let value = match &rule.lines {
                Some(lines) => rule.apply_lines(raw, lines, tables, tz)?,
                None => rule
                    .apply(raw, input, tables)
                    .map_err(|reason| FieldError {
                        field: rule.name.clone(),
                        reason,
                    })?,
            };
            out.insert(rule.name.clone(), value);
        }
        Ok(out)
    }
}

/// The value between steps.
enum Stage {
    Json(Value),
    Number(Decimal),
    Time(Temporal),
}

impl Rule {
    fn apply_lines(
        &self,
        raw: Value,
        lines: &RuleSet,
        tables: &Tables,
        tz: &TimeZone,
    ) -> Result<Value, FieldError> {
        let raw = if values::is_empty(&raw) {
            self.default.clone().unwrap_or(Value::Null)
        } else {
            raw
        };
        let items = match raw {
            Value::Null => return Ok(Value::Null),
            Value::Array(items) => items,
            other => {
                return Err(FieldError {
                    field: self.name.clone(),
                    reason: format!("expected an array of lines, got {}", show(&other)),
                });
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            // Lines are numbered from 1 in errors, like `line_no`.
            let name = || format!("{}[{}]", self.name, index + 1);
            let Value::Object(element) = item else {
                return Err(FieldError {
                    field: name(),
                    reason: format!("a line must be an object, got {}", show(&item)),
                });
            };
            let mapped = lines.apply(&element, tables, tz).map_err(|e| FieldError {
                field: format!("{}.{}", name(), e.field),
                reason: e.reason,
            })?;
            out.push(Value::Object(mapped));
        }
        Ok(Value::Array(out))
    }

    /// Runs the steps in their fixed order: default, codes, case, unit, currency, tax, scale,
    /// date, then normalisation to the field's type. `input` is where `*_field` settings read.
    fn apply(
        &self,
        raw: Value,
        input: &Map<String, Value>,
        tables: &Tables,
    ) -> Result<Value, String> {
        let mut v = raw;
        let mut defaulted = false;
        if values::is_empty(&v)
            && let Some(default) = &self.default
        {
            v = default.clone();
            defaulted = true;
        }
        if v.is_null() {
            return Ok(Value::Null);
        }
        if let Some(codes) = &self.codes {
            // A default may be written as a source code or as the canonical value already
            // (`default: prospect`): one the table does not know is kept as it is.
            let unknown = if defaulted {
                UnknownCode::Keep
            } else {
                codes.unknown
            };
            v = codes.translate(v, unknown, self.default.as_ref())?;
            if v.is_null() {
                return Ok(Value::Null);
            }
        }
        if let (Some(case), Value::String(s)) = (self.case, &mut v) {
            match case {
                TextCase::Upper => *s = s.trim().to_uppercase(),
                TextCase::Lower => *s = s.trim().to_lowercase(),
                // Most values have nothing to trim: keep them as they are.
                TextCase::Trim if s.trim().len() != s.len() => *s = s.trim().to_owned(),
                TextCase::Trim => {}
            }
        }
        let numeric = self.unit.is_some()
            || self.currency.is_some()
            || self.tax.is_some()
            || self.scale.is_some();
        if (numeric || self.date.is_some()) && values::is_empty(&v) {
            return Ok(Value::Null);
        }
        let mut stage = if numeric {
            Stage::Number(self.arithmetic(values::to_decimal(&v)?, input, tables)?)
        } else {
            Stage::Json(v)
        };
        if let Some(date) = &self.date {
            let v = match stage {
                Stage::Json(v) => v,
                Stage::Number(d) => Value::String(d.to_string()),
                Stage::Time(_) => unreachable!(),
            };
            stage = Stage::Time(values::parse_temporal(
                &v,
                date.format.as_deref(),
                self.zone,
            )?);
        }
        normalise(stage, self.kind, self.zone, self.day_zone)
    }

    fn arithmetic(
        &self,
        mut d: Decimal,
        input: &Map<String, Value>,
        tables: &Tables,
    ) -> Result<Decimal, String> {
        let original = d;
        let overflow = || format!("the result of converting {original} is too large");
        match &self.unit {
            Some(UnitStep::Fixed(factor)) => d = factor.apply(d).ok_or_else(overflow)?,
            Some(UnitStep::Field { path, to }) => {
                let unit = read_text(path, input, "unit")?;
                let factor = tables.unit_factor(&unit, to).ok_or_else(|| {
                    format!("no conversion from unit `{unit}` to `{to}` in `units:`")
                })?;
                d = factor.apply(d).ok_or_else(overflow)?;
            }
            None => {}
        }
        let (from_rate, to_rate) = match &self.currency {
            Some(CurrencyStep::Fixed { from_rate, to_rate }) => (Some(*from_rate), *to_rate),
            Some(CurrencyStep::Field { path, to_rate }) => {
                let currency = read_text(path, input, "currency")?;
                let rate = tables.rate(&currency).ok_or_else(|| {
                    format!("no exchange rate for currency `{currency}` under `currency.rates`")
                })?;
                (Some(rate), *to_rate)
            }
            None => (None, Decimal::ONE),
        };
        if let Some(from_rate) = from_rate {
            // 1 X = rate[X] base: amount × rate[from] is in base, ÷ rate[to] is in `to`.
            d = d
                .checked_mul(from_rate)
                .and_then(|x| x.checked_div(to_rate))
                .ok_or_else(overflow)?;
        }
        match &self.tax {
            Some(TaxStep::Multiply(m)) => d = d.checked_mul(*m).ok_or_else(overflow)?,
            Some(TaxStep::Divide(m)) => d = d.checked_div(*m).ok_or_else(overflow)?,
            Some(TaxStep::Field { path, direction }) => {
                let rate = match path.get(input) {
                    Some(v) if !values::is_empty(v) => {
                        values::to_decimal(v).map_err(|e| format!("tax rate: {e}"))?
                    }
                    _ => return Err(format!("no tax rate in source field `{}`", path.raw)),
                };
                let m = Decimal::ONE + rate;
                d = match direction {
                    TaxDirection::Add => d.checked_mul(m),
                    TaxDirection::Remove => d.checked_div(m),
                }
                .ok_or_else(|| format!("cannot apply tax rate {rate} to {d}"))?;
            }
            None => {}
        }
        if let Some(scale) = self.scale {
            d = d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
            d.rescale(scale); // pads: 1234.5 → 1234.50
        }
        Ok(d)
    }
}

/// A unit or currency code read from the record.
fn read_text(path: &FieldPath, input: &Map<String, Value>, what: &str) -> Result<String, String> {
    match path.get(input) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(v) if !values::is_empty(v) => Err(format!(
            "the {what} in source field `{}` is not text: {}",
            path.raw,
            show(v)
        )),
        _ => Err(format!("no {what} in source field `{}`", path.raw)),
    }
}

impl Codes {
    fn translate(
        &self,
        v: Value,
        unknown: UnknownCode,
        default: Option<&Value>,
    ) -> Result<Value, String> {
        let key = match &v {
            Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            Value::Number(n) => std::borrow::Cow::Owned(n.to_string()),
            Value::Bool(b) => std::borrow::Cow::Owned(b.to_string()),
            _ => return Err(format!("cannot look up {} in {}", show(&v), self.label)),
        };
        if let Some(mapped) = self.table.get(key.as_ref()) {
            return Ok(Value::String(mapped.clone()));
        }
        match unknown {
            UnknownCode::Error => Err(format!("unknown code {} (not in {})", show(&v), self.label)),
            UnknownCode::Keep => Ok(v),
            UnknownCode::Default => Ok(default.cloned().unwrap_or(Value::Null)),
        }
    }
}

/// Converts a value to the canonical type: text, i64, decimal string, bool, `YYYY-MM-DD`, or
/// RFC 3339 UTC. `zone` reads values without an offset; `day_zone` takes an instant's day.
fn normalise(stage: Stage, kind: Kind, zone: Tz, day_zone: Tz) -> Result<Value, String> {
    let json = match stage {
        Stage::Number(d) => {
            return match kind {
                Some(FieldType::Integer) => decimal_to_int(d),
                Some(FieldType::Bool) => {
                    values::to_bool(&Value::String(d.to_string())).map(Value::Bool)
                }
                Some(FieldType::Date | FieldType::DateTime) => {
                    let v = Value::String(d.to_string());
                    normalise(
                        Stage::Time(values::parse_temporal(&v, None, zone)?),
                        kind,
                        zone,
                        day_zone,
                    )
                }
                _ => Ok(Value::String(d.to_string())),
            };
        }
        Stage::Time(t) => {
            return match kind {
                Some(FieldType::Date) => Ok(Value::String(values::format_day(t.day(day_zone)))),
                Some(FieldType::Integer | FieldType::Decimal | FieldType::Bool) => Err(format!(
                    "a date cannot be a {} value",
                    kind.map_or("", |k| k.as_str())
                )),
                _ => match t {
                    Temporal::Instant(i) => Ok(Value::String(values::format_instant(i))),
                    Temporal::Day(_) if kind == Some(FieldType::DateTime) => {
                        Ok(Value::String(values::format_instant(t.instant(zone)?)))
                    }
                    Temporal::Day(d) => Ok(Value::String(values::format_day(d))),
                },
            };
        }
        Stage::Json(v) => v,
    };
    let Some(ty) = kind else { return Ok(json) };
    if json.is_null() {
        return Ok(json);
    }
    if ty != FieldType::Text
        && ty != FieldType::Lines
        && let Value::String(s) = &json
        && s.trim().is_empty()
    {
        return Ok(Value::Null);
    }
    match ty {
        FieldType::Text => match json {
            Value::String(_) => Ok(json),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(format!("expected text, got {}", show(&other))),
        },
        FieldType::Integer => match &json {
            Value::Number(n) if n.is_i64() => Ok(json),
            Value::Number(_) | Value::String(_) => values::to_decimal(&json)
                .and_then(decimal_to_int)
                .map_err(|_| format!("not a whole number: {}", show(&json))),
            other => Err(format!("not a whole number: {}", show(other))),
        },
        FieldType::Decimal => values::to_decimal(&json).map(|d| Value::String(d.to_string())),
        FieldType::Bool => values::to_bool(&json).map(Value::Bool),
        FieldType::Date | FieldType::DateTime => {
            let t = values::parse_temporal(&json, None, zone)?;
            normalise(Stage::Time(t), kind, zone, day_zone)
        }
        FieldType::Lines => Ok(json),
    }
}

/// Re-normalises a value set by the `vrl:` program to the field's type.
pub(crate) fn normalise_json(value: Value, kind: Kind) -> Result<Value, String> {
    normalise(Stage::Json(value), kind, chrono_tz::UTC, chrono_tz::UTC)
}

fn decimal_to_int(d: Decimal) -> Result<Value, String> {
    if !d.fract().is_zero() {
        return Err(format!("not a whole number: {d}"));
    }
    d.trunc()
        .to_i64()
        .map(Value::from)
        .ok_or_else(|| format!("whole number out of range: {d}"))
}
