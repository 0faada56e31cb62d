//! The `filter` of `data/list`: `{"rel": "and"|"or", "cond": [{"field", "type", "method",
//! "value"}]}` (dossier §4). The methods each widget type takes follow the per-type table
//! of correction 6: number and datetime `eq, ne, range, empty, not_empty`; text-like widgets
//! `eq, ne, in, nin, empty, not_empty`; `flowState` `eq, ne`; every other widget `empty,
//! not_empty`. Anything else (`like`, `verified`, `gt` …) is refused naming the method.
//! `range` is inclusive with `null` for an open end; `in`/`nin` take at most 200 values.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::answer::JdyError;
use super::forms::{Form, WidgetType};
use super::records::{FLOW_STATE, SYSTEM_FIELDS};
use super::values::is_empty;

/// The most values `in` and `nin` take.
pub const MAX_IN_VALUES: usize = 200;

/// What a field is compared as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldKind {
    Text,
    Number,
    Datetime,
    FlowState,
    /// Widgets only tested for emptiness (members, addresses, sub-forms …).
    Other,
}

/// A comparable value of a condition.
#[derive(Clone, Debug, PartialEq)]
enum Scalar {
    Text(String),
    Number(f64),
    Time(DateTime<Utc>),
}

#[derive(Clone, Debug, PartialEq)]
enum Method {
    Eq(Scalar),
    Ne(Scalar),
    In(Vec<Scalar>),
    Nin(Vec<Scalar>),
    Range(Option<Scalar>, Option<Scalar>),
    Empty,
    NotEmpty,
}

#[derive(Clone, Debug, PartialEq)]
struct Cond {
    field: String,
    kind: FieldKind,
    method: Method,
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    any: bool,
    conds: Vec<Cond>,
}

fn bad(message: String) -> JdyError {
    JdyError::BadParameter(format!("filter {message}"))
}

impl Filter {
    /// Reads a filter for `form`; absent or `null` means no filter.
    pub fn parse(filter: Option<&Value>, form: &Form) -> Result<Option<Self>, JdyError> {
        let Some(filter) = filter.filter(|f| !f.is_null()) else {
            return Ok(None);
        };
        let any = match filter.get("rel").and_then(Value::as_str) {
            None | Some("and") => false,
            Some("or") => true,
            Some(other) => return Err(bad(format!("rel 只能是 and 或 or：{other}"))),
        };
        let conds = match filter.get("cond") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(conds)) => conds
                .iter()
                .map(|c| cond(c, form))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("cond 必须是数组".into())),
        };
        Ok(Some(Self { any, conds }))
    }

    /// Whether the record (as answered) passes.
    pub fn admits(&self, record: &Value) -> bool {
        let mut results = self.conds.iter().map(|c| c.admits(record));
        if self.any {
            self.conds.is_empty() || results.any(|r| r)
        } else {
            results.all(|r| r)
        }
    }
}

/// The comparison kind of a field of `form` or of a system field.
fn kind_of(field: &str, form: &Form) -> Option<FieldKind> {
    if field == FLOW_STATE {
        return Some(FieldKind::FlowState);
    }
    let widget_type = form.widget(field).map(|w| w.kind).or_else(|| {
        SYSTEM_FIELDS
            .iter()
            .find(|(name, ..)| *name == field)
            .map(|(_, _, kind)| *kind)
    })?;
    Some(match widget_type {
        t if t.is_text() => FieldKind::Text,
        WidgetType::Number => FieldKind::Number,
        WidgetType::Datetime => FieldKind::Datetime,
        _ => FieldKind::Other,
    })
}

fn cond(cond: &Value, form: &Form) -> Result<Cond, JdyError> {
    let field = cond
        .get("field")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("cond 缺少 field".into()))?;
    let kind = kind_of(field, form).ok_or_else(|| bad(format!("字段不存在：{field}")))?;
    let method = cond.get("method").and_then(Value::as_str).unwrap_or("");
    let value = cond.get("value").unwrap_or(&Value::Null);
    let method = read_method(kind, method, value)
        .map_err(|why| bad(format!("字段 {field} 的条件 {method} 无效：{why}")))?;
    Ok(Cond {
        field: field.to_owned(),
        kind,
        method,
    })
}

fn read_method(kind: FieldKind, method: &str, value: &Value) -> Result<Method, String> {
    use FieldKind::*;
    let allowed = match kind {
        Text => &["eq", "ne", "in", "nin", "empty", "not_empty"][..],
        Number | Datetime => &["eq", "ne", "range", "empty", "not_empty"][..],
        FlowState => &["eq", "ne"][..],
        Other => &["empty", "not_empty"][..],
    };
    if !allowed.contains(&method) {
        return Err(format!("该字段类型只支持 {}", allowed.join(", ")));
    }
    Ok(match method {
        "eq" => Method::Eq(one(kind, value)?),
        "ne" => Method::Ne(one(kind, value)?),
        "in" => Method::In(many(kind, value)?),
        "nin" => Method::Nin(many(kind, value)?),
        "range" => {
            let (lo, hi) = bounds(kind, value)?;
            Method::Range(lo, hi)
        }
        "empty" => Method::Empty,
        _ => Method::NotEmpty,
    })
}

/// One value; a one-element array is read as its element (clients send both).
fn one(kind: FieldKind, value: &Value) -> Result<Scalar, String> {
    match value {
        Value::Array(items) if items.len() == 1 => scalar(kind, &items[0]),
        _ => scalar(kind, value),
    }
}

fn many(kind: FieldKind, value: &Value) -> Result<Vec<Scalar>, String> {
    let items = value.as_array().ok_or("value 应为数组")?;
    if items.len() > MAX_IN_VALUES {
        return Err(format!("value 最多 {MAX_IN_VALUES} 个"));
    }
    items.iter().map(|v| scalar(kind, v)).collect()
}

fn bounds(kind: FieldKind, value: &Value) -> Result<(Option<Scalar>, Option<Scalar>), String> {
    let [lo, hi] = value.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err("value 应为 [起, 止]，开放的一端为 null".into());
    };
    let end = |v: &Value| (!v.is_null()).then(|| scalar(kind, v)).transpose();
    Ok((end(lo)?, end(hi)?))
}

fn scalar(kind: FieldKind, value: &Value) -> Result<Scalar, String> {
    match kind {
        FieldKind::Text => value
            .as_str()
            .map(|s| Scalar::Text(s.to_owned()))
            .ok_or_else(|| "value 应为文本".into()),
        FieldKind::Number | FieldKind::FlowState => value
            .as_f64()
            .map(Scalar::Number)
            .ok_or_else(|| "value 应为数字".into()),
        FieldKind::Datetime => time(value)
            .map(Scalar::Time)
            .ok_or_else(|| "value 应为 ISO 8601 时间".into()),
        FieldKind::Other => Err("该字段不能比较取值".into()),
    }
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(value.as_str()?).ok()?;
    Some(at.with_timezone(&Utc))
}

impl Cond {
    fn admits(&self, record: &Value) -> bool {
        let value = record.get(&self.field);
        let actual = value.and_then(|v| scalar(self.kind, v).ok());
        let at_least = |lo: &Option<Scalar>, v: &Scalar| lo.as_ref().is_none_or(|lo| lo <= v);
        match &self.method {
            Method::Empty => is_empty(value),
            Method::NotEmpty => !is_empty(value),
            Method::Eq(want) => actual.as_ref() == Some(want),
            Method::Ne(want) => actual.as_ref() != Some(want),
            Method::In(wanted) => actual.is_some_and(|a| wanted.contains(&a)),
            Method::Nin(unwanted) => actual.is_none_or(|a| !unwanted.contains(&a)),
            Method::Range(lo, hi) => {
                actual.is_some_and(|a| at_least(lo, &a) && hi.as_ref().is_none_or(|hi| a <= *hi))
            }
        }
    }
}

impl PartialOrd for Scalar {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Self::Text(a), Self::Text(b)) => a.partial_cmp(b),
            (Self::Number(a), Self::Number(b)) => a.partial_cmp(b),
            (Self::Time(a), Self::Time(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jiandaoyun::forms::{self, customer};

    fn form() -> Form {
        forms::default_app().forms.remove(0)
    }

    fn parse(filter: Value) -> Result<Option<Filter>, JdyError> {
        Filter::parse(Some(&filter), &form())
    }

    #[test]
    fn methods_follow_the_per_type_table() {
        let like = json!({"cond": [{"field": customer::NAME, "method": "like", "value": "x"}]});
        assert!(parse(like).is_err());
        let range_on_text =
            json!({"cond": [{"field": customer::NAME, "method": "range", "value": ["a", "b"]}]});
        assert!(parse(range_on_text).is_err());
        let eq_on_member =
            json!({"cond": [{"field": customer::OWNER, "method": "eq", "value": "zhangsan"}]});
        assert!(parse(eq_on_member).is_err());
        let unknown = json!({"cond": [{"field": "_widget_0", "method": "empty"}]});
        assert!(
            parse(unknown)
                .unwrap_err()
                .to_string()
                .contains("_widget_0")
        );
        let too_many: Vec<String> = (0..=MAX_IN_VALUES).map(|i| i.to_string()).collect();
        let in_too_many =
            json!({"cond": [{"field": customer::NAME, "method": "in", "value": too_many}]});
        assert!(parse(in_too_many).is_err());
    }

    #[test]
    fn ranges_are_inclusive_with_open_ends_and_rel_or_takes_any() {
        let record = json!({"updateTime": "2024-05-01T01:00:00.000Z", customer::CREDIT: 500,
                            customer::NAME: "甲", customer::OWNER: null});
        let admits = |filter: Value| parse(filter).unwrap().unwrap().admits(&record);
        let since = |at: &str| json!({"cond": [{"field": "updateTime", "type": "datetime", "method": "range", "value": [at, null]}]});
        assert!(admits(since("2024-05-01T01:00:00Z")));
        assert!(admits(since("2024-05-01T09:00:00+08:00")));
        assert!(!admits(since("2024-05-01T01:00:01.000Z")));
        let credit =
            json!({"cond": [{"field": customer::CREDIT, "method": "range", "value": [null, 500]}]});
        assert!(admits(credit));
        let either = json!({"rel": "or", "cond": [
            {"field": customer::NAME, "method": "eq", "value": "乙"},
            {"field": customer::OWNER, "method": "empty"}]});
        assert!(admits(either));
        let both = json!({"rel": "and", "cond": [
            {"field": customer::NAME, "method": "in", "value": ["甲", "乙"]},
            {"field": customer::NAME, "method": "ne", "value": ["甲"]}]});
        assert!(!admits(both));
    }
}
