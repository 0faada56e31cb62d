//! `GET /query?q=…` (and `/queryAll`): the SOQL subset of [`super::soql`] run over the
//! store, answered `{"totalSize", "done", "nextRecordsUrl", "records"}` in pages; the rest
//! is read with `GET /query/<cursor>-<offset>`. The page size is the run's
//! `query_batch_size`, lowered by `Sforce-Query-Options: batchSize=n` (200..2000). The result
//! is taken when the query runs (later pages do not see later writes); the last page has no
//! `nextRecordsUrl` key. Rows tying on every ORDER BY key keep the store's order (modified
//! time, then id), so paging over ties is stable.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode};
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::SfError;
use super::config::API_VERSION;
use super::records::{self, parse_datetime};
use super::schema::{Field, Kind, SObject, sobject};
use super::soql::{self, Expr, Lit, Op};

/// Query results still being read, by cursor id.
#[derive(Default)]
pub struct Cursors {
    open: Mutex<HashMap<String, Vec<Value>>>,
    next: Mutex<u64>,
}

impl Cursors {
    fn keep(&self, rows: Vec<Value>) -> String {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        let id = format!("01g5g{:010}AAA", *next);
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), rows);
        id
    }

    /// Forgets every open cursor: the next `nextRecordsUrl` read answers
    /// `INVALID_QUERY_LOCATOR` (as a cursor idle for 15 minutes does).
    pub fn expire_all(&self) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Runs `q` and answers its first page.
pub fn run(ctx: &Ctx, q: &str, headers: &HeaderMap) -> Result<Value, SfError> {
    let query = soql::parse(q).map_err(SfError::malformed_query)?;
    let object = sobject(&query.object).ok_or_else(|| {
        SfError::bad(
            "INVALID_TYPE",
            format!("sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name.", query.object),
        )
    })?;
    let fields: Vec<&Field> = query
        .fields
        .iter()
        .map(|f| column(object, f))
        .collect::<Result<_, _>>()?;
    if let Some(filter) = &query.filter {
        check(object, filter)?;
    }
    let order: Vec<(&Field, bool, bool)> = query
        .order
        .iter()
        .map(|k| Ok((column(object, &k.field)?, k.desc, k.nulls_last)))
        .collect::<Result<_, SfError>>()?;
    let store = ctx.harness.store();
    let mut rows: Vec<Map<String, Value>> = store
        .list(object.name, None, None)
        .unwrap_or_default()
        .iter()
        .map(|r| records::view(ctx, object, r))
        .filter(|row| query.filter.as_ref().is_none_or(|f| eval(object, row, f)))
        .collect();
    rows.sort_by(|a, b| {
        order
            .iter()
            .map(|(f, desc, nulls_last)| {
                let (x, y) = (&a[f.name], &b[f.name]);
                match (x.is_null(), y.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => {
                        if *nulls_last {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (false, true) => {
                        if *nulls_last {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    _ if *desc => compare(f, y, x),
                    _ => compare(f, x, y),
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    let rows: Vec<Value> = rows
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(query.limit.unwrap_or(usize::MAX))
        .map(|row| {
            let mut out = Map::new();
            let url = format!(
                "/services/data/{API_VERSION}/sobjects/{}/{}",
                object.name,
                row["Id"].as_str().unwrap_or_default()
            );
            out.insert(
                "attributes".into(),
                json!({"type": object.name, "url": url}),
            );
            for f in &fields {
                out.insert(f.name.into(), row[f.name].clone());
            }
            Value::Object(out)
        })
        .collect();
    let cursor = ctx.shared.cursors.keep(rows);
    page(ctx, &cursor, 0, batch_size(ctx, headers))
}

/// `GET /query/<cursor>-<offset>`.
pub fn more(ctx: &Ctx, locator: &str, headers: &HeaderMap) -> Result<Value, SfError> {
    let invalid = || SfError::bad("INVALID_QUERY_LOCATOR", "invalid query locator");
    let (cursor, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
    let offset = offset.parse().map_err(|_| invalid())?;
    page(ctx, cursor, offset, batch_size(ctx, headers))
}

fn page(ctx: &Ctx, cursor: &str, offset: usize, size: usize) -> Result<Value, SfError> {
    let open = ctx
        .shared
        .cursors
        .open
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let rows = open
        .get(cursor)
        .ok_or_else(|| SfError::bad("INVALID_QUERY_LOCATOR", "invalid query locator"))?;
    let end = (offset + size).min(rows.len());
    let records = rows.get(offset..end).unwrap_or_default().to_vec();
    let mut answer = json!({"totalSize": rows.len(), "done": end >= rows.len()});
    if end < rows.len() {
        answer["nextRecordsUrl"] =
            format!("/services/data/{API_VERSION}/query/{cursor}-{end}").into();
    }
    answer["records"] = Value::Array(records);
    Ok(answer)
}

fn batch_size(ctx: &Ctx, headers: &HeaderMap) -> usize {
    let asked = headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().strip_prefix("batchSize="))
        })
        .and_then(|n| n.trim().parse::<usize>().ok())
        .map(|n| n.clamp(200, 2000));
    let own = ctx.config.query_batch_size.max(1);
    asked.map_or(own, |n| n.min(own))
}

fn column<'o>(object: &'o SObject, name: &str) -> Result<&'o Field, SfError> {
    object.field(name).ok_or_else(|| {
        SfError::bad(
            "INVALID_FIELD",
            format!("No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", object.name),
        )
    })
}

/// Fields exist and literals fit their types, as Salesforce checks before running.
fn check(object: &SObject, expr: &Expr) -> Result<(), SfError> {
    let fits = |field: &str, lit: &Lit| -> Result<(), SfError> {
        let f = column(object, field)?;
        let ok = matches!(
            (f.kind, lit),
            (_, Lit::Null)
                | (Kind::Number, Lit::Num(_))
                | (Kind::Boolean, Lit::Bool(_))
                | (Kind::Date, Lit::Date(_))
                | (Kind::DateTime, Lit::DateTime(_))
                | (Kind::Text | Kind::Id | Kind::Reference(_), Lit::Str(_))
        );
        if ok {
            return Ok(());
        }
        let quoted = if matches!(lit, Lit::Str(_)) {
            "should not"
        } else {
            "should"
        };
        Err(SfError::bad(
            "INVALID_FIELD",
            format!(
                "value of filter criterion for field '{}' must be of type {} and {quoted} be enclosed in quotes",
                f.name,
                f.kind.describe()
            ),
        ))
    };
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => check(object, a).and(check(object, b)),
        Expr::Not(a) => check(object, a),
        Expr::Cmp(f, _, lit) => fits(f, lit),
        Expr::In(f, lits, _) => lits.iter().try_for_each(|l| fits(f, l)),
        Expr::Like(f, _) => fits(f, &Lit::Str(String::new())),
    }
}

fn eval(object: &SObject, row: &Map<String, Value>, expr: &Expr) -> bool {
    let get = |name: &str| object.field(name).map(|f| (f, &row[f.name]));
    match expr {
        Expr::And(a, b) => eval(object, row, a) && eval(object, row, b),
        Expr::Or(a, b) => eval(object, row, a) || eval(object, row, b),
        Expr::Not(a) => !eval(object, row, a),
        Expr::Cmp(name, op, lit) => get(name).is_some_and(|(f, v)| cmp(f, v, *op, lit)),
        Expr::In(name, lits, negated) => {
            get(name).is_some_and(|(f, v)| lits.iter().any(|l| cmp(f, v, Op::Eq, l)) != *negated)
        }
        Expr::Like(name, pattern) => get(name).is_some_and(|(_, v)| {
            v.as_str()
                .is_some_and(|s| like(&s.to_lowercase(), &pattern.to_lowercase()))
        }),
    }
}

fn cmp(field: &Field, value: &Value, op: Op, lit: &Lit) -> bool {
    let order = match lit {
        Lit::Null => {
            return match op {
                Op::Eq => value.is_null(),
                Op::Ne => !value.is_null(),
                _ => false,
            };
        }
        _ if value.is_null() => return op == Op::Ne,
        lit => compare(field, value, &lit_value(lit)),
    };
    match op {
        Op::Eq => order.is_eq(),
        Op::Ne => order.is_ne(),
        Op::Lt => order.is_lt(),
        Op::Le => order.is_le(),
        Op::Gt => order.is_gt(),
        Op::Ge => order.is_ge(),
    }
}

fn lit_value(lit: &Lit) -> Value {
    match lit {
        Lit::Str(s) => s.clone().into(),
        Lit::Num(n) => json!(n),
        Lit::Bool(b) => (*b).into(),
        Lit::Null => Value::Null,
        Lit::Date(d) => d.format("%Y-%m-%d").to_string().into(),
        Lit::DateTime(t) => super::answer::datetime(*t).into(),
    }
}

/// Two non-null values of `field` in its type's order (text without case).
fn compare(field: &Field, a: &Value, b: &Value) -> Ordering {
    match field.kind {
        Kind::Number => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        Kind::Boolean => a.as_bool().cmp(&b.as_bool()),
        Kind::DateTime => {
            let t = |v: &Value| v.as_str().and_then(parse_datetime);
            t(a).cmp(&t(b))
        }
        Kind::Date => {
            let d = |v: &Value| {
                v.as_str()
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            };
            d(a).cmp(&d(b))
        }
        _ => {
            let s = |v: &Value| v.as_str().map(str::to_lowercase);
            s(a).cmp(&s(b))
        }
    }
}

/// SOQL `LIKE`: `%` any run, `_` one character.
fn like(text: &str, pattern: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    go(&t, &p)
}

/// `INVALID_QUERY_LOCATOR` and friends are 400; a missing `q` too.
pub fn missing_q() -> SfError {
    SfError::new(
        StatusCode::BAD_REQUEST,
        "MALFORMED_QUERY",
        "A query string has to be specified",
    )
}
