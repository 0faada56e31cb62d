//! `ExecuteBillQuery` (rows as arrays in `FieldKeys` order) and `BillQuery` (rows as
//! objects): field keys, `FilterString`, `OrderString`, `TopRowCount`, `StartRow`/`Limit`.
//! A bill read with any entry field (selected, filtered or ordered by) answers one row per
//! entry line, the header values repeated.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::Ctx;
use super::answer::KdError;
use super::columns::{Cell, Column, Reader, Row, resolve};
use super::filter::{self, Filter};
use super::forms::{self, Form};
use super::request::{Call, get_ci, whole};
use crate::store::Record;

/// The largest `Limit` the server accepts (official doc text).
pub const MAX_LIMIT: i64 = 10_000;

/// A query read from a call.
struct Query {
    form: &'static Form,
    keys: Vec<String>,
    columns: Vec<Column>,
    filter: Option<Filter<Column>>,
    order: Vec<(Column, bool)>,
    top: usize,
    start: usize,
    limit: Option<usize>,
}

/// The rows of a query: arrays (`ExecuteBillQuery`) or objects keyed by the field keys as
/// sent (`BillQuery`).
pub fn run(ctx: &Ctx, call: &Call, as_objects: bool) -> Result<Value, KdError> {
    let query = read(call)?;
    let reader = ctx.reader();
    let mut records = ctx
        .harness
        .store()
        .list(query.form.id, None, None)
        .unwrap_or_default();
    records.sort_by_key(|r| r.id);
    let rows = select(&query, &reader, &records);
    let answered = rows.into_iter().map(|row| {
        let cells = query.columns.iter().map(|c| reader.cell(*c, row).to_json());
        if as_objects {
            Value::Object(query.keys.iter().cloned().zip(cells).collect::<Map<_, _>>())
        } else {
            Value::Array(cells.collect())
        }
    });
    Ok(Value::Array(answered.collect()))
}

/// The rows the query selects, filtered, ordered and paged.
fn select<'r>(query: &Query, reader: &Reader<'_>, records: &'r [Record]) -> Vec<Row<'r>> {
    let expand = query.columns.iter().any(Column::in_entry)
        || query.order.iter().any(|(c, _)| c.in_entry())
        || query
            .filter
            .as_ref()
            .is_some_and(|f| f.keys().iter().any(|c| c.in_entry()));
    let mut rows: Vec<Row<'r>> = records
        .iter()
        .flat_map(|r| expand_rows(query.form, r, expand))
        .filter(|row| {
            query
                .filter
                .as_ref()
                .is_none_or(|f| f.admits(&|c: &Column| reader.cell(*c, *row)))
        })
        .collect();
    rows.sort_by(|a, b| order(&query.order, reader, *a, *b));
    if query.top > 0 {
        rows.truncate(query.top);
    }
    let page = rows.into_iter().skip(query.start);
    match query.limit {
        Some(limit) => page.take(limit).collect(),
        None => page.collect(),
    }
}

/// One row per entry line when `expand` (one row without a line for a bill without
/// lines), else one row per record.
fn expand_rows<'r>(form: &Form, record: &'r Record, expand: bool) -> Vec<Row<'r>> {
    let lines = form
        .entry
        .filter(|_| expand)
        .and_then(|e| record.fields.get(e.key))
        .and_then(Value::as_array);
    let lines: Vec<Row<'r>> = lines
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, line)| line.as_object().map(|l| (i, l)))
        .map(|line| Row {
            record,
            line: Some(line),
        })
        .collect();
    if lines.is_empty() {
        vec![Row { record, line: None }]
    } else {
        lines
    }
}

fn order(keys: &[(Column, bool)], reader: &Reader<'_>, a: Row<'_>, b: Row<'_>) -> Ordering {
    for (column, descending) in keys {
        let o = reader.cell(*column, a).compare(&reader.cell(*column, b));
        let o = if *descending { o.reverse() } else { o };
        if o.is_ne() {
            return o;
        }
    }
    Ordering::Equal
}

fn read(call: &Call) -> Result<Query, KdError> {
    let data = &call.data;
    let form_id = call.form_id.as_deref().filter(|f| !f.is_empty());
    let form = forms::form(form_id.ok_or(KdError::FormIdMissing)?)
        .ok_or_else(|| KdError::UnknownForm(form_id.unwrap_or_default().to_owned()))?;
    let keys: Vec<String> = get_ci(data, "FieldKeys")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(',')
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(KdError::BadParameter("FieldKeys不能为空".into()));
    }
    let columns = keys
        .iter()
        .map(|k| resolve(form, k))
        .collect::<Result<_, _>>()?;
    let limit = whole(data, "Limit").unwrap_or(0);
    if limit > MAX_LIMIT {
        return Err(KdError::LimitTooLarge(limit as u64));
    }
    Ok(Query {
        form,
        keys,
        columns,
        filter: read_filter(form, get_ci(data, "FilterString"))?,
        order: read_order(form, get_ci(data, "OrderString").and_then(Value::as_str))?,
        top: count(whole(data, "TopRowCount")),
        start: count(whole(data, "StartRow")),
        limit: (limit > 0).then(|| count(Some(limit))),
    })
}

fn count(n: Option<i64>) -> usize {
    n.and_then(|n| usize::try_from(n).ok()).unwrap_or(0)
}

/// `FilterString` as a string, or as the newer array of conditions.
fn read_filter(form: &Form, given: Option<&Value>) -> Result<Option<Filter<Column>>, KdError> {
    let text = match given {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(conditions)) => conditions_text(conditions)?,
        Some(_) => return Err(KdError::BadFilter("FilterString必须是字符串或数组".into())),
    };
    let parsed = filter::parse(&text).map_err(|e| KdError::BadFilter(e.to_string()))?;
    parsed
        .map(|f| f.try_map(&mut |key: String| resolve(form, &key)))
        .transpose()
}

/// The array form `[{"Left", "FieldName", "Compare", "Value", "Right", "Logic"}]` as a
/// filter string. Only `Compare` 67 (equals) is known from the documentation.
fn conditions_text(conditions: &[Value]) -> Result<String, KdError> {
    let mut text = String::new();
    for (i, condition) in conditions.iter().enumerate() {
        let Some(c) = condition.as_object() else {
            return Err(KdError::BadFilter("过滤条件数组的元素必须是对象".into()));
        };
        let part = |k: &str| match get_ci(c, k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let op = match part("Compare").as_str() {
            "67" | "=" => "=",
            other => return Err(KdError::BadFilter(format!("不支持的比较符[{other}]"))),
        };
        if i > 0 {
            let logic = if part("Logic") == "1" {
                " OR "
            } else {
                " AND "
            };
            text.push_str(logic);
        }
        let value = part("Value").replace('\'', "''");
        let (left, field, right) = (part("Left"), part("FieldName"), part("Right"));
        text.push_str(&format!("{left}{field} {op} '{value}'{right}"));
    }
    Ok(text)
}

/// `OrderString`: `FKey [ASC|DESC], …`.
fn read_order(form: &Form, given: Option<&str>) -> Result<Vec<(Column, bool)>, KdError> {
    let mut order = Vec::new();
    for part in given
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let mut words = part.split_whitespace();
        let key = words.next().unwrap_or_default();
        let descending = match words.next() {
            None => false,
            Some(d) if d.eq_ignore_ascii_case("ASC") => false,
            Some(d) if d.eq_ignore_ascii_case("DESC") => true,
            Some(d) => {
                return Err(KdError::BadParameter(format!(
                    "OrderString中的排序方向[{d}]不正确"
                )));
            }
        };
        if let Some(extra) = words.next() {
            return Err(KdError::BadParameter(format!(
                "OrderString中多余的内容[{extra}]"
            )));
        }
        order.push((resolve(form, key)?, descending));
    }
    Ok(order)
}

/// Cells read for a row: used by `NeedReturnFields` after a save.
pub fn header_values(reader: &Reader<'_>, form: &Form, record: &Record, keys: &[String]) -> Value {
    let mut out = Map::new();
    for key in keys {
        let value = match resolve(form, key) {
            Ok(column) if !column.in_entry() => {
                reader.cell(column, Row { record, line: None }).to_json()
            }
            Ok(column) => entry_values(reader, form, record, column),
            Err(_) => Value::Null,
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn entry_values(reader: &Reader<'_>, form: &Form, record: &Record, column: Column) -> Value {
    expand_rows(form, record, true)
        .into_iter()
        .map(|row| match reader.cell(column, row) {
            Cell::Null => Value::Null,
            cell => cell.to_json(),
        })
        .collect()
}
