//! List conditions: `simpleVOs` (`{"field", "op", "value1", "value2"}`, or a group
//! `{"logicOp": "and"|"or", "conditions": [...]}`; the top-level items all apply) and
//! `queryOrders` (`{"field", "order": "asc"|"desc"}`), evaluated on the rows a list answers.
//!
//! Values compare by kind: numbers as numbers, `yyyy-MM-dd HH:mm:ss` row values as local
//! times (a condition may give a plain date), everything else as text. `between` includes
//! both ends; `gt` / `lt` exclude theirs.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde_json::Value;

use super::envelope::YyError;
use super::objects::{TIME_FORMAT, parse_local, scalar_text};

/// A comparison operator of `simpleVOs[].op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Lt,
    Gt,
    Elt,
    Egt,
    Between,
    In,
    Nin,
    Like,
}

impl Op {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "neq" => Self::Neq,
            "lt" => Self::Lt,
            "gt" => Self::Gt,
            "elt" => Self::Elt,
            "egt" => Self::Egt,
            "between" => Self::Between,
            "in" => Self::In,
            "nin" => Self::Nin,
            "like" => Self::Like,
            _ => return None,
        })
    }
}

/// One parsed condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Compare {
        field: String,
        op: Op,
        value1: Value,
        value2: Value,
    },
    Group {
        any: bool,
        conditions: Vec<Condition>,
    },
}

/// The `simpleVOs` of a list body (absent = none).
pub fn parse(body: &Value) -> Result<Vec<Condition>, YyError> {
    match body.get("simpleVOs") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_one(item, &format!("simpleVOs[{i}]")))
            .collect(),
        Some(_) => Err(YyError::wrong_type("simpleVOs", "数组")),
    }
}

fn parse_one(item: &Value, at: &str) -> Result<Condition, YyError> {
    if let Some(conditions) = item.get("conditions") {
        let Value::Array(inner) = conditions else {
            return Err(YyError::wrong_type(&format!("{at}.conditions"), "数组"));
        };
        let any = item
            .get("logicOp")
            .and_then(Value::as_str)
            .is_some_and(|op| op.eq_ignore_ascii_case("or"));
        let conditions = inner
            .iter()
            .enumerate()
            .map(|(i, c)| parse_one(c, &format!("{at}.conditions[{i}]")))
            .collect::<Result<_, _>>()?;
        return Ok(Condition::Group { any, conditions });
    }
    let field = item.get("field").and_then(scalar_text);
    let field = field.ok_or_else(|| YyError::required(&format!("{at}.field")))?;
    let op_text = item.get("op").and_then(Value::as_str).unwrap_or("");
    let op = Op::parse(op_text)
        .ok_or_else(|| YyError::business(format!("不支持的查询条件操作符[{op_text}]")))?;
    let value = |k: &str| item.get(k).cloned().unwrap_or(Value::Null);
    Ok(Condition::Compare {
        field,
        op,
        value1: value("value1"),
        value2: value("value2"),
    })
}

/// Whether `row` passes every condition.
pub fn admits(conditions: &[Condition], row: &Value, zone: FixedOffset) -> bool {
    conditions.iter().all(|c| holds(c, row, zone))
}

fn holds(condition: &Condition, row: &Value, zone: FixedOffset) -> bool {
    match condition {
        Condition::Group {
            any: true,
            conditions,
        } => conditions.iter().any(|c| holds(c, row, zone)),
        Condition::Group { conditions, .. } => conditions.iter().all(|c| holds(c, row, zone)),
        Condition::Compare {
            field,
            op,
            value1,
            value2,
        } => {
            let actual = field_value(row, field);
            compare_op(*op, actual, value1, value2, zone)
        }
    }
}

fn compare_op(op: Op, actual: &Value, value1: &Value, value2: &Value, zone: FixedOffset) -> bool {
    let cmp = |wanted: &Value| compare(actual, wanted, zone);
    match op {
        Op::Eq => cmp(value1) == Some(Ordering::Equal),
        Op::Neq => cmp(value1) != Some(Ordering::Equal),
        Op::Lt => cmp(value1) == Some(Ordering::Less),
        Op::Gt => cmp(value1) == Some(Ordering::Greater),
        Op::Elt => matches!(cmp(value1), Some(Ordering::Less | Ordering::Equal)),
        Op::Egt => matches!(cmp(value1), Some(Ordering::Greater | Ordering::Equal)),
        Op::Between => {
            matches!(cmp(value1), Some(Ordering::Greater | Ordering::Equal))
                && matches!(cmp(value2), Some(Ordering::Less | Ordering::Equal))
        }
        Op::In => listed(value1)
            .iter()
            .any(|v| cmp(v) == Some(Ordering::Equal)),
        Op::Nin => !listed(value1)
            .iter()
            .any(|v| cmp(v) == Some(Ordering::Equal)),
        Op::Like => {
            let needle = scalar_text(value1).unwrap_or_default().replace('%', "");
            scalar_text(actual).is_some_and(|text| text.contains(&needle))
        }
    }
}

/// The values of an `in` condition: an array, or a comma-separated text.
fn listed(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::String(s) => s
            .split(',')
            .map(|part| Value::String(part.trim().to_owned()))
            .collect(),
        other => vec![other.clone()],
    }
}

/// A row's value at `field` (`a.b` reads inside objects); null when absent.
pub fn field_value<'a>(row: &'a Value, field: &str) -> &'a Value {
    if let Some(direct) = row.get(field) {
        return direct;
    }
    field
        .split('.')
        .try_fold(row, |value, part| value.get(part))
        .unwrap_or(&Value::Null)
}

fn row_time(value: &Value) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(value.as_str()?, TIME_FORMAT).ok()
}

fn as_time(value: &Value, zone: FixedOffset) -> Option<DateTime<Utc>> {
    parse_local(&scalar_text(value)?, zone)
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// How `actual` (from the row) compares with `wanted` (from the condition); `None` when they
/// cannot be compared (absent, or a time against a non-time).
fn compare(actual: &Value, wanted: &Value, zone: FixedOffset) -> Option<Ordering> {
    if actual.is_null() || wanted.is_null() {
        return None;
    }
    if let Some(naive) = row_time(actual) {
        let at = naive.and_local_timezone(zone).single()?.to_utc();
        return Some(at.cmp(&as_time(wanted, zone)?));
    }
    if actual.is_number() {
        return as_number(actual)?.partial_cmp(&as_number(wanted)?);
    }
    let text = |v: &Value| match v {
        Value::Bool(b) => Some(b.to_string()),
        other => scalar_text(other),
    };
    Some(text(actual)?.cmp(&text(wanted)?))
}

/// Sorts `rows` by `queryOrders` (stable: rows keep the default order among equals).
pub fn sort(rows: &mut [Value], body: &Value, zone: FixedOffset) {
    let Some(Value::Array(orders)) = body.get("queryOrders") else {
        return;
    };
    let keys: Vec<(String, bool)> = orders
        .iter()
        .filter_map(|o| {
            let field = o.get("field").and_then(scalar_text)?;
            let desc = o
                .get("order")
                .and_then(Value::as_str)
                .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            Some((field, desc))
        })
        .collect();
    rows.sort_by(|a, b| {
        keys.iter()
            .map(|(field, desc)| {
                let ord = compare(field_value(a, field), field_value(b, field), zone)
                    .unwrap_or(Ordering::Equal);
                if *desc { ord.reverse() } else { ord }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::yonyou::config::beijing;

    fn admitted(vos: Value, row: Value) -> bool {
        let conditions = parse(&json!({ "simpleVOs": vos })).unwrap();
        admits(&conditions, &row, beijing())
    }

    #[test]
    fn between_includes_both_ends_and_gt_excludes_its_own() {
        let row = json!({"pubts": "2024-05-01 09:00:00", "code": "UO-1", "payMoney": 1130});
        let between = json!([{"field": "pubts", "op": "between",
                              "value1": "2024-05-01 09:00:00", "value2": "2024-05-01 09:00:00"}]);
        assert!(admitted(between, row.clone()));
        let gt = json!([{"field": "pubts", "op": "gt", "value1": "2024-05-01 09:00:00"}]);
        assert!(!admitted(gt, row.clone()));
        let day = json!([{"field": "pubts", "op": "gt", "value1": "2024-05-01"}]);
        assert!(admitted(day, row.clone()));
        let number = json!([{"field": "payMoney", "op": "lt", "value1": "2000"}]);
        assert!(admitted(number, row.clone()));
        let either = json!([{"logicOp": "or", "conditions": [
            {"field": "code", "op": "eq", "value1": "UO-9"},
            {"field": "code", "op": "in", "value1": ["UO-1", "UO-2"]}]}]);
        assert!(admitted(either, row));
    }

    #[test]
    fn an_unknown_operator_is_refused_and_orders_sort_stably() {
        let err = parse(&json!({"simpleVOs": [{"field": "x", "op": "almost"}]})).unwrap_err();
        assert_eq!(err.code, "999");
        let mut rows = vec![
            json!({"n": 1, "k": "b"}),
            json!({"n": 2, "k": "a"}),
            json!({"n": 3, "k": "b"}),
        ];
        sort(
            &mut rows,
            &json!({"queryOrders": [{"field": "k", "order": "desc"}]}),
            beijing(),
        );
        let ns: Vec<i64> = rows.iter().map(|r| r["n"].as_i64().unwrap()).collect();
        assert_eq!(ns, [1, 3, 2]);
    }
}
