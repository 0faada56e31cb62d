//! The SuiteQL subset the double runs: `SELECT cols FROM table [WHERE cond] [ORDER BY
//! cols]`, conditions with `AND`, `OR`, parentheses, `=`, `<>`, `<`, `<=`, `>`, `>=` and
//! `IN (…)`, `TO_DATE(text, format)` literals and `TO_CHAR(column, format) [AS alias]`
//! columns, over the tables of [`super::schema`]; paged by `limit` and `offset`.

use std::cmp::Ordering;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::NsError;
use super::schema::{self, Row, Val};
use crate::store::RecordStore;

/// Most rows one page may ask for.
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Sym(&'static str),
}

fn tokens(q: &str) -> Result<Vec<Tok>, NsError> {
    let mut out = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(syntax("an unterminated string")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => break,
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Tok::Num(text.parse().map_err(|_| syntax(&text))?));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_.".contains(chars[i])) {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = ["<=", ">=", "<>", "!="]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["(", ")", ",", "*", "=", "<", ">"]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                });
            let Some(sym) = sym else {
                return Err(syntax(&c.to_string()));
            };
            i += sym.len();
            out.push(Tok::Sym(sym));
        }
    }
    Ok(out)
}

fn syntax(near: &str) -> NsError {
    NsError::parameter(format!(
        "Invalid search query. Detailed unprocessed description follows. Search error occurred: Invalid or unsupported search near '{near}'."
    ))
}

/// A selected column.
#[derive(Debug, Clone)]
enum Column {
    All,
    Plain {
        name: String,
        alias: String,
    },
    ToChar {
        name: String,
        format: String,
        alias: String,
    },
}

#[derive(Debug, Clone)]
enum Operand {
    Col(String),
    Lit(Val),
}

#[derive(Debug, Clone)]
enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Cmp(Operand, &'static str, Operand),
    In(Operand, Vec<Operand>),
}

/// A parsed query.
#[derive(Debug)]
pub struct Query {
    columns: Vec<Column>,
    table: String,
    filter: Option<Cond>,
    order: Vec<(String, bool)>,
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn keyword(&mut self, word: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word));
        if hit {
            self.at += 1;
        }
        hit
    }
    fn expect_keyword(&mut self, word: &str) -> Result<(), NsError> {
        if self.keyword(word) {
            Ok(())
        } else {
            Err(self.error())
        }
    }
    fn sym(&mut self, sym: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym);
        if hit {
            self.at += 1;
        }
        hit
    }
    fn expect_sym(&mut self, sym: &str) -> Result<(), NsError> {
        if self.sym(sym) {
            Ok(())
        } else {
            Err(self.error())
        }
    }
    fn error(&self) -> NsError {
        let near = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            Some(Tok::Str(s)) => format!("'{s}'"),
            Some(Tok::Num(n)) => schema::number(*n),
            Some(Tok::Sym(s)) => (*s).to_owned(),
            None => "the end".into(),
        };
        syntax(&near)
    }
    fn name(&mut self) -> Result<String, NsError> {
        match self.next() {
            // `customer.id` and `id` are the same column of a one-table query.
            Some(Tok::Word(w)) => Ok(w.rsplit('.').next().unwrap_or(&w).to_ascii_lowercase()),
            _ => {
                self.at -= 1;
                Err(self.error())
            }
        }
    }
    fn text(&mut self) -> Result<String, NsError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => {
                self.at -= 1;
                Err(self.error())
            }
        }
    }
    fn alias(&mut self, default: &str) -> Result<String, NsError> {
        if self.keyword("AS") {
            return self.name();
        }
        Ok(default.to_owned())
    }

    fn column(&mut self) -> Result<Column, NsError> {
        if self.sym("*") {
            return Ok(Column::All);
        }
        if self.keyword("TO_CHAR") {
            self.expect_sym("(")?;
            let name = self.name()?;
            self.expect_sym(",")?;
            let format = self.text()?;
            self.expect_sym(")")?;
            let alias = self.alias(&format!("expr{}", self.at))?;
            return Ok(Column::ToChar {
                name,
                format,
                alias,
            });
        }
        let name = self.name()?;
        let alias = self.alias(&name)?;
        Ok(Column::Plain { name, alias })
    }

    fn operand(&mut self) -> Result<Operand, NsError> {
        if self.keyword("TO_DATE") {
            self.expect_sym("(")?;
            let text = self.text()?;
            self.expect_sym(",")?;
            let format = self.text()?;
            self.expect_sym(")")?;
            let at = NaiveDateTime::parse_from_str(&text, &chrono_format(&format))
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(&text, &chrono_format(&format))
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                })
                .map_err(|_| {
                    NsError::parameter(format!(
                        "Invalid search query. Detailed unprocessed description follows. Search error occurred: Parse of date/time \"{text}\" failed with date format \"{format}\"."
                    ))
                })?;
            return Ok(Operand::Lit(Val::Time(at.and_utc())));
        }
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Lit(Val::Text(s))),
            Some(Tok::Num(n)) => Ok(Operand::Lit(Val::Num(n))),
            Some(Tok::Word(_)) => {
                self.at -= 1;
                Ok(Operand::Col(self.name()?))
            }
            _ => {
                self.at -= 1;
                Err(self.error())
            }
        }
    }

    fn atom(&mut self) -> Result<Cond, NsError> {
        if self.sym("(") {
            let inner = self.or()?;
            self.expect_sym(")")?;
            return Ok(inner);
        }
        let left = self.operand()?;
        if self.keyword("IN") {
            self.expect_sym("(")?;
            let mut list = vec![self.operand()?];
            while self.sym(",") {
                list.push(self.operand()?);
            }
            self.expect_sym(")")?;
            return Ok(Cond::In(left, list));
        }
        let op = match self.next() {
            Some(Tok::Sym(s)) if ["=", "<>", "!=", "<", "<=", ">", ">="].contains(&s) => s,
            _ => {
                self.at -= 1;
                return Err(self.error());
            }
        };
        Ok(Cond::Cmp(left, op, self.operand()?))
    }

    fn and(&mut self) -> Result<Cond, NsError> {
        let mut parts = vec![self.atom()?];
        while self.keyword("AND") {
            parts.push(self.atom()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn or(&mut self) -> Result<Cond, NsError> {
        let mut parts = vec![self.and()?];
        while self.keyword("OR") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn query(&mut self) -> Result<Query, NsError> {
        self.expect_keyword("SELECT")?;
        let mut columns = vec![self.column()?];
        while self.sym(",") {
            columns.push(self.column()?);
        }
        self.expect_keyword("FROM")?;
        let table = self.name()?;
        let filter = if self.keyword("WHERE") {
            Some(self.or()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.keyword("ORDER") {
            self.expect_keyword("BY")?;
            loop {
                let name = self.name()?;
                let descending = self.keyword("DESC");
                if !descending {
                    self.keyword("ASC");
                }
                order.push((name, descending));
                if !self.sym(",") {
                    break;
                }
            }
        }
        if self.peek().is_some() {
            return Err(self.error());
        }
        Ok(Query {
            columns,
            table,
            filter,
            order,
        })
    }
}

/// An Oracle date format as chrono's (`YYYY-MM-DD"T"HH24:MI:SS` → `%Y-%m-%dT%H:%M:%S`).
fn chrono_format(oracle: &str) -> String {
    oracle
        .replace('"', "")
        .replace("YYYY", "%Y")
        .replace("MM", "%m")
        .replace("DD", "%d")
        .replace("HH24", "%H")
        .replace("MI", "%M")
        .replace("SS", "%S")
}

/// Parses a query.
pub fn parse(q: &str) -> Result<Query, NsError> {
    Parser {
        toks: tokens(q)?,
        at: 0,
    }
    .query()
}

fn value(row: &Row, operand: &Operand) -> Val {
    match operand {
        Operand::Col(c) => row.get(c).cloned().unwrap_or(Val::Null),
        Operand::Lit(v) => v.clone(),
    }
}

/// SQL comparison: `None` when either side is null or they cannot be compared.
fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Time(x), Val::Time(y)) => Some(x.cmp(y)),
        (Val::Num(x), Val::Text(t)) => t.parse::<f64>().ok().and_then(|y| x.partial_cmp(&y)),
        (Val::Text(t), Val::Num(y)) => t.parse::<f64>().ok().and_then(|x| x.partial_cmp(y)),
        (Val::Text(x), Val::Text(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn holds(row: &Row, cond: &Cond) -> bool {
    match cond {
        Cond::And(parts) => parts.iter().all(|c| holds(row, c)),
        Cond::Or(parts) => parts.iter().any(|c| holds(row, c)),
        Cond::In(left, list) => {
            let l = value(row, left);
            list.iter()
                .any(|o| compare(&l, &value(row, o)) == Some(Ordering::Equal))
        }
        Cond::Cmp(left, op, right) => {
            let Some(ord) = compare(&value(row, left), &value(row, right)) else {
                return false;
            };
            match *op {
                "=" => ord.is_eq(),
                "<>" | "!=" => ord.is_ne(),
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
    }
}

/// Every column a query names, to check against the table's.
fn named(query: &Query) -> Vec<String> {
    fn in_cond(c: &Cond, out: &mut Vec<String>) {
        let mut operand = |o: &Operand| {
            if let Operand::Col(n) = o {
                out.push(n.clone());
            }
        };
        match c {
            Cond::And(p) | Cond::Or(p) => p.iter().for_each(|c| in_cond(c, out)),
            Cond::Cmp(a, _, b) => {
                operand(a);
                operand(b);
            }
            Cond::In(a, list) => {
                operand(a);
                list.iter().for_each(operand);
            }
        }
    }
    let mut out: Vec<String> = query
        .columns
        .iter()
        .filter_map(|c| match c {
            Column::All => None,
            Column::Plain { name, .. } | Column::ToChar { name, .. } => Some(name.clone()),
        })
        .collect();
    if let Some(f) = &query.filter {
        in_cond(f, &mut out);
    }
    let aliases = aliases(query);
    out.extend(
        query
            .order
            .iter()
            .filter(|(n, _)| !aliases.contains(n))
            .map(|(n, _)| n.clone()),
    );
    out
}

/// The aliases of the selected columns (`ORDER BY` may name them).
fn aliases(query: &Query) -> Vec<String> {
    query
        .columns
        .iter()
        .filter_map(|c| match c {
            Column::All => None,
            Column::Plain { alias, .. } | Column::ToChar { alias, .. } => Some(alias.clone()),
        })
        .collect()
}

/// The rows of `query`, each as SuiteQL answers an item (text values, nulls left out).
pub fn run(store: &RecordStore, query: &Query) -> Result<Vec<Map<String, Value>>, NsError> {
    let known = schema::columns(&query.table).ok_or_else(|| {
        NsError::parameter(format!(
            "Invalid search query. Detailed unprocessed description follows. Search error occurred: Record '{}' was not found.",
            query.table
        ))
    })?;
    if let Some(bad) = named(query)
        .into_iter()
        .find(|n| !known.contains(&n.as_str()))
    {
        return Err(NsError::parameter(format!(
            "Invalid search query. Detailed unprocessed description follows. Search error occurred: Field '{bad}' for record '{}' was not found.",
            query.table
        )));
    }
    let rows: Vec<Row> = schema::rows(store, &query.table)?
        .into_iter()
        .filter(|r| query.filter.as_ref().is_none_or(|f| holds(r, f)))
        .collect();
    let aliases = aliases(query);
    let mut answered: Vec<(Row, Map<String, Value>)> = rows
        .into_iter()
        .map(|r| {
            let i = item(query, &r);
            (r, i)
        })
        .collect();
    // An alias that is not a column sorts by the text answered (`ORDER BY lastmodified`
    // of a TO_CHAR); a column by its typed value (ids as numbers).
    let key = |(row, item): &(Row, Map<String, Value>), col: &str| -> Val {
        if !known.contains(&col) && aliases.iter().any(|a| a == col) {
            item.get(col)
                .and_then(Value::as_str)
                .map_or(Val::Null, |t| Val::Text(t.to_owned()))
        } else {
            row.get(col).cloned().unwrap_or(Val::Null)
        }
    };
    answered.sort_by(|a, b| {
        for (col, desc) in &query.order {
            let (x, y) = (key(a, col), key(b, col));
            let ord = match (&x, &y) {
                (Val::Null, Val::Null) => Ordering::Equal,
                (Val::Null, _) => Ordering::Greater,
                (_, Val::Null) => Ordering::Less,
                _ => compare(&x, &y).unwrap_or(Ordering::Equal),
            };
            let ord = if *desc { ord.reverse() } else { ord };
            if ord.is_ne() {
                return ord;
            }
        }
        Ordering::Equal
    });
    Ok(answered.into_iter().map(|(_, item)| item).collect())
}

fn item(query: &Query, row: &Row) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("links".into(), json!([]));
    for column in &query.columns {
        match column {
            Column::All => {
                for (k, v) in row {
                    if let Some(text) = v.render() {
                        out.insert(k.clone(), Value::String(text));
                    }
                }
            }
            Column::Plain { name, alias } => {
                if let Some(text) = row.get(name).and_then(Val::render) {
                    out.insert(alias.clone(), Value::String(text));
                }
            }
            Column::ToChar {
                name,
                format,
                alias,
            } => {
                let text = match row.get(name) {
                    Some(Val::Time(t)) => Some(t.format(&chrono_format(format)).to_string()),
                    Some(v) => v.render(),
                    None => None,
                };
                if let Some(text) = text {
                    out.insert(alias.clone(), Value::String(text));
                }
            }
        }
    }
    out
}

fn param(query: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn page_param(query: &str, name: &str, default: usize) -> Result<usize, NsError> {
    match param(query, name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            NsError::parameter(format!("Invalid '{name}' parameter value: {v}.")).at(name)
        }),
    }
}

/// `POST /services/rest/query/v1/suiteql?limit=&offset=` with `{"q": …}`.
pub fn answer(
    store: &RecordStore,
    base: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, NsError> {
    let transient = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("transient"));
    if !transient {
        return Err(NsError::parameter(
            "The request header 'Prefer: transient' is required for SuiteQL queries.",
        ));
    }
    let limit = page_param(query, "limit", MAX_LIMIT)?;
    let offset = page_param(query, "offset", 0)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(NsError::parameter(format!(
            "Invalid 'limit' parameter value: {limit}. The value must be between 1 and {MAX_LIMIT}."
        ))
        .at("limit"));
    }
    let q = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("q")?.as_str().map(str::to_owned))
        .ok_or_else(|| {
            NsError::parameter("The request body must be JSON with the query in 'q'.")
        })?;
    let rows = run(store, &parse(&q)?)?;
    let total = rows.len();
    let items: Vec<Value> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(Value::Object)
        .collect();
    let has_more = offset + items.len() < total;
    let link = |rel: &str, offset: usize| json!({"rel": rel, "href": format!("{base}?limit={limit}&offset={offset}")});
    let mut links =
        vec![json!({"rel": "self", "href": format!("{base}?limit={limit}&offset={offset}")})];
    if offset > 0 {
        links.push(link("previous", offset.saturating_sub(limit)));
        links.push(link("first", 0));
    }
    if has_more {
        links.push(link("next", offset + limit));
        links.push(link("last", (total - 1) / limit * limit));
    }
    let answer = json!({"links": links, "count": items.len(), "hasMore": has_more,
                        "offset": offset, "totalResults": total, "items": items});
    Ok(axum::Json(answer).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[test]
    fn ids_order_as_numbers_and_aliases_as_text() {
        let store = RecordStore::new(Clock::system());
        super::super::seed::fill(&store);
        for n in 0..9 {
            let fields = json!({"companyname": format!("N{n}"), "externalid": format!("N{n}")});
            store
                .insert("customer", fields.as_object().cloned().unwrap())
                .unwrap();
        }
        let q = parse("SELECT id AS key, companyname FROM customer WHERE id >= 9 ORDER BY id DESC")
            .unwrap();
        let ids: Vec<String> = run(&store, &q)
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["12", "11", "10", "9"]);
        let q = parse("SELECT id AS key FROM customer WHERE id IN (2, 10) ORDER BY key").unwrap();
        let ids: Vec<String> = run(&store, &q)
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["10", "2"], "an alias sorts by its text");
        assert!(parse("SELECT id FROM customer WHERE (id = 1").is_err());
        assert!(parse("SELECT id FROM customer ORDER BY").is_err());
    }
}
