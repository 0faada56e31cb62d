//! Writing a table: multi-row upserts by key in one transaction per batch, child lines
//! replaced in the same transaction, values converted to each column's type, and a row-by-row
//! retry that pins a data error on the record that caused it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use ferry_model::{ConnectorError, ErrorKind};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::config::SqlTargetOptions;
use crate::db::table_columns;
use crate::db::{Db, Param, PgArray, Stmt};
use crate::dialect::Backend;
use crate::value::{ColClass, Val, coerce};
use ferry_kit::keyset::Keyset;
use ferry_kit::sink::{Refusals, batch_then_each};
use ferry_kit::{
    Outgoing, Removal, Sink, SinkCapabilities, SinkContext, TargetPage, TargetRecord, Written,
};

/// Most rows in one INSERT statement.
const MAX_ROWS: usize = 500;

#[derive(Debug)]
struct Meta {
    columns: IndexMap<String, ColClass>,
    /// Index of the key column in `columns`.
    key_index: usize,
    lines: IndexMap<String, ColClass>,
}

/// One record ready to write.
#[derive(Debug, Clone)]
struct Prepared {
    key: String,
    key_val: Val,
    /// The columns written, as indexes into [`Meta::columns`] (no name copied per record).
    columns: Vec<usize>,
    values: Vec<Val>,
    /// Ferry has not written this record before (no target id).
    new: bool,
    /// The record carried `lines`: replace its lines with these (column names, values).
    lines: Option<Vec<(Vec<String>, Vec<Val>)>>,
}

/// What became of each prepared record: the key is the row's identity, so it is the target id.
fn written(done: Vec<Result<Prepared, ConnectorError>>) -> Vec<Result<Written, ConnectorError>> {
    done.into_iter()
        .map(|p| p.map(|p| Written { target_id: p.key }))
        .collect()
}

/// A unique constraint refused a row (SQLSTATE 23505).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// Upserts into one table.
pub struct SqlSink {
    pub(super) db: Arc<Db>,
    pub(super) opts: SqlTargetOptions,
    pub(super) key_column: String,
    /// The flow's business key and mapped fields (for [`Sink::probe`]).
    pub(super) flow: SinkContext,
    meta: Mutex<Option<Arc<Meta>>>,
    /// PostgreSQL: records Ferry has not written before are inserted without the conflict
    /// check of an upsert, until the table answers with a row Ferry did not know (a table
    /// filled from elsewhere); from then on this sink upserts everything.
    optimistic: AtomicBool,
}

impl SqlSink {
    pub fn new(db: Arc<Db>, opts: SqlTargetOptions, ctx: SinkContext) -> Self {
        let key_column = opts.key_column.clone().unwrap_or_else(|| {
            opts.column_of(&ctx.key_field)
                .unwrap_or(&ctx.key_field)
                .to_owned()
        });
        let optimistic = AtomicBool::new(db.backend == Backend::Postgres);
        Self {
            db,
            opts,
            key_column,
            flow: ctx,
            meta: Mutex::new(None),
            optimistic,
        }
    }

    fn q(&self, name: &str) -> String {
        self.db.backend.ident(name)
    }

    /// The table's column types, looked up once (creating the tables first when asked to).
    async fn meta(&self, batch: &[Outgoing]) -> Result<Arc<Meta>, ConnectorError> {
        let mut guard = self.meta.lock().await;
        if let Some(meta) = guard.as_ref() {
            return Ok(meta.clone());
        }
        let table = &self.opts.table;
        let mut columns = table_columns(&self.db, table).await?;
        // Only a write creates the table: deleting or reading back never makes one.
        if columns.is_empty() && self.opts.create_table && !batch.is_empty() {
            self.create_tables(batch).await?;
            columns = table_columns(&self.db, table).await?;
        }
        if columns.is_empty() {
            return Err(ConnectorError::fatal(format!(
                "table `{table}` not found in {} (set `create_table: true` to create it)",
                self.db.display
            )));
        }
        let columns: IndexMap<String, ColClass> =
            columns.into_iter().map(|c| (c.name, c.class)).collect();
        let Some(key_index) = columns.get_index_of(&self.key_column) else {
            return Err(ConnectorError::fatal(format!(
                "table `{table}` has no key column `{}`",
                self.key_column
            )));
        };
        let mut lines = IndexMap::new();
        if let Some(l) = &self.opts.lines {
            lines = table_columns(&self.db, &l.table)
                .await?
                .into_iter()
                .map(|c| (c.name, c.class))
                .collect();
            if lines.is_empty() {
                return Err(ConnectorError::fatal(format!(
                    "lines table `{}` not found in {}",
                    l.table, self.db.display
                )));
            }
            if !lines.contains_key(&l.parent_column) {
                return Err(ConnectorError::fatal(format!(
                    "lines table `{}` has no column `{}`",
                    l.table, l.parent_column
                )));
            }
        }
        let meta = Arc::new(Meta {
            columns,
            key_index,
            lines,
        });
        *guard = Some(meta.clone());
        Ok(meta)
    }

    /// `create_table: true`: TEXT columns for the batch's fields, primary key on the key.
    async fn create_tables(&self, batch: &[Outgoing]) -> Result<(), ConnectorError> {
        let b = self.db.backend;
        let mut names: Vec<String> = vec![self.key_column.clone()];
        let mut line_names: Vec<String> = Vec::new();
        for o in batch {
            for (field, value) in &o.fields {
                if self.opts.lines.is_some() && field == "lines" {
                    for line in value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_object)
                    {
                        for f in line.keys() {
                            if let Some(c) = self.opts.lines.as_ref().and_then(|l| l.column_of(f))
                                && !line_names.iter().any(|n| n == c)
                            {
                                line_names.push(c.to_owned());
                            }
                        }
                    }
                } else if let Some(c) = self.opts.column_of(field)
                    && !names.iter().any(|n| n == c)
                {
                    names.push(c.to_owned());
                }
            }
        }
        let defs: Vec<String> = names
            .iter()
            .map(|n| {
                if *n == self.key_column {
                    format!("{} {} PRIMARY KEY", self.q(n), b.text_type(true))
                } else {
                    format!("{} {}", self.q(n), b.text_type(false))
                }
            })
            .collect();
        self.db
            .execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} ({})",
                b.table(&self.opts.table),
                defs.join(", ")
            ))
            .await?;
        if let Some(l) = &self.opts.lines
            && crate::db::table_columns(&self.db, &l.table)
                .await?
                .is_empty()
        {
            let mut defs = vec![
                format!("{} {}", self.q(&l.parent_column), b.text_type(true)),
                format!("{} INTEGER", self.q("line_no")),
            ];
            for n in line_names
                .iter()
                .filter(|n| **n != l.parent_column && *n != "line_no")
            {
                defs.push(format!("{} {}", self.q(n), b.text_type(false)));
            }
            self.db
                .execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {} ({})",
                    b.table(&l.table),
                    defs.join(", ")
                ))
                .await?;
        }
        tracing::info!(table = %self.opts.table, "created table");
        Ok(())
    }

    fn refused(&self, key: &str, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::invalid(format!(
            "table `{}`, key `{key}`: {message}",
            self.opts.table
        ))
    }

    /// Maps and converts one record. The outer error is a configuration problem (unknown
    /// column); the inner one a value the column cannot take.
    fn prepare(
        &self,
        meta: &Meta,
        o: &Outgoing,
    ) -> Result<Result<Prepared, ConnectorError>, ConnectorError> {
        let table = &self.opts.table;
        let mut columns = Vec::new();
        let mut values = Vec::new();
        let mut lines = None;
        for (field, value) in &o.fields {
            if let Some(l) = self.opts.lines.as_ref().filter(|_| field == "lines") {
                let mut out = Vec::new();
                let items = match value {
                    Value::Array(items) => items.as_slice(),
                    Value::Null => &[],
                    _ => return Ok(Err(self.refused(&o.key, "field `lines` is not a list"))),
                };
                for (i, item) in items.iter().enumerate() {
                    let Some(line) = item.as_object() else {
                        return Ok(Err(
                            self.refused(&o.key, format_args!("line {} is not an object", i + 1))
                        ));
                    };
                    let mut cols = Vec::new();
                    let mut vals = Vec::new();
                    for (f, v) in line {
                        let Some(c) = l.column_of(f) else { continue };
                        if c == l.parent_column {
                            continue;
                        }
                        let class = meta.lines.get(c).ok_or_else(|| {
                            ConnectorError::fatal(format!(
                                "lines table `{}` has no column `{c}` (line field `{f}`)",
                                l.table
                            ))
                        })?;
                        match coerce(v, class) {
                            Ok(val) => {
                                cols.push(c.to_owned());
                                vals.push(val);
                            }
                            Err(why) => {
                                return Ok(Err(self.refused(
                                    &o.key,
                                    format_args!("line {}, column `{c}`: {why}", i + 1),
                                )));
                            }
                        }
                    }
                    if meta.lines.contains_key("line_no") && !cols.iter().any(|c| c == "line_no") {
                        cols.push("line_no".to_owned());
                        vals.push(
                            coerce(&Value::from(i as u64 + 1), &meta.lines["line_no"])
                                .unwrap_or(Val::Int(i as i64 + 1)),
                        );
                    }
                    out.push((cols, vals));
                }
                lines = Some(out);
                continue;
            }
            let Some(column) = self.opts.column_of(field) else {
                continue;
            };
            let (index, _, class) = meta.columns.get_full(column).ok_or_else(|| {
                ConnectorError::fatal(format!(
                    "table `{table}` has no column `{column}` (field `{field}`)"
                ))
            })?;
            if columns.contains(&index) {
                continue;
            }
            match coerce(value, class) {
                Ok(val) => {
                    columns.push(index);
                    values.push(val);
                }
                Err(why) => {
                    return Ok(Err(
                        self.refused(&o.key, format_args!("column `{column}`: {why}"))
                    ));
                }
            }
        }
        let key_class = &meta.columns[meta.key_index];
        let key_val = match columns.iter().position(|c| *c == meta.key_index) {
            Some(i) if !values[i].is_null() => values[i].clone(),
            Some(i) => {
                let v = coerce(&Value::String(o.key.clone()), key_class);
                match v {
                    Ok(v) => {
                        values[i] = v.clone();
                        v
                    }
                    Err(why) => return Ok(Err(self.refused(&o.key, format_args!("key: {why}")))),
                }
            }
            None => match coerce(&Value::String(o.key.clone()), key_class) {
                Ok(v) => {
                    columns.insert(0, meta.key_index);
                    values.insert(0, v.clone());
                    v
                }
                Err(why) => return Ok(Err(self.refused(&o.key, format_args!("key: {why}")))),
            },
        };
        Ok(Ok(Prepared {
            key: o.key.clone(),
            key_val,
            columns,
            values,
            lines,
            new: o.target_id.is_none(),
        }))
    }

    /// The statements writing these records: upserts grouped by column list (a key seen twice
    /// starts a new statement, since one upsert cannot touch a row twice), then the lines.
    /// `optimistic`: records new to Ferry are plain inserts (see [`SqlSink::optimistic`]).
    fn statements(&self, meta: &Meta, records: &[&Prepared], optimistic: bool) -> Vec<Stmt> {
        let b = self.db.backend;
        let mut out = Vec::new();
        let mut groups: IndexMap<&[usize], Vec<&Prepared>> = IndexMap::new();
        for p in records {
            groups.entry(p.columns.as_slice()).or_default().push(p);
        }
        for (indexes, rows) in groups {
            let columns: Vec<String> = indexes
                .iter()
                .filter_map(|&i| meta.columns.get_index(i).map(|(name, _)| name.clone()))
                .collect();
            let columns = columns.as_slice();
            // Records known to Ferry, and (optimistic) those new to it; a key repeated in the
            // batch is known from its second record on.
            let mut run: (Vec<&[Val]>, Vec<&[Val]>) = (Vec::new(), Vec::new());
            let mut keys: HashSet<&str> = HashSet::with_capacity(rows.len());
            let mut earlier: HashSet<&str> = HashSet::new();
            for p in rows {
                if !keys.insert(&p.key) {
                    out.extend(self.upserts(columns, &meta.columns, &run.0, &run.1));
                    run.0.clear();
                    run.1.clear();
                    earlier.extend(keys.drain());
                    keys.insert(&p.key);
                }
                if optimistic && p.new && !earlier.contains(p.key.as_str()) {
                    run.1.push(&p.values);
                } else {
                    run.0.push(&p.values);
                }
            }
            out.extend(self.upserts(columns, &meta.columns, &run.0, &run.1));
        }
        if let Some(l) = &self.opts.lines {
            let with_lines: Vec<&Prepared> = records
                .iter()
                .copied()
                .filter(|p| p.lines.is_some())
                .collect();
            let parent_class = &meta.lines[&l.parent_column];
            let parent = |p: &Prepared| {
                coerce(&p.key_val.to_json(None), parent_class)
                    .unwrap_or_else(|_| Val::Text(p.key.clone()))
            };
            for chunk in with_lines.chunks(MAX_ROWS) {
                let mut params = Vec::new();
                let mut marks = Vec::new();
                for p in chunk {
                    params.push(parent(p));
                    marks.push(b.placeholder(params.len()));
                }
                out.push(Stmt::new(
                    format!(
                        "DELETE FROM {} WHERE {} IN ({})",
                        b.table(&l.table),
                        self.q(&l.parent_column),
                        marks.join(", ")
                    ),
                    params,
                ));
            }
            // Line rows grouped by their column list.
            let mut groups: IndexMap<Vec<String>, Vec<Vec<Val>>> = IndexMap::new();
            for p in &with_lines {
                for (cols, vals) in p.lines.iter().flatten() {
                    let mut cols = cols.clone();
                    let mut vals = vals.clone();
                    cols.insert(0, l.parent_column.clone());
                    vals.insert(0, parent(p));
                    groups.entry(cols).or_default().push(vals);
                }
            }
            for (cols, rows) in groups {
                let rows: Vec<&[Val]> = rows.iter().map(Vec::as_slice).collect();
                out.extend(self.inserts(&l.table, &cols, &meta.lines, &rows, None));
            }
        }
        out
    }

    /// Statements upserting `rows` and inserting `fresh` (no key of theirs is in `rows`) into the
    /// table: one statement on PostgreSQL, the inserts in a `WITH` part of the upsert.
    fn upserts(
        &self,
        columns: &[String],
        classes: &IndexMap<String, ColClass>,
        rows: &[&[Val]],
        fresh: &[&[Val]],
    ) -> Vec<Stmt> {
        let (table, key) = (&self.opts.table, Some(self.key_column.as_str()));
        if fresh.is_empty() {
            return self.inserts(table, columns, classes, rows, key);
        }
        // The upsert's placeholders come after the insert's.
        if let Some(insert) = self.unnest_insert(table, columns, classes, fresh, None, 1)
            && let Some(upsert) =
                self.unnest_insert(table, columns, classes, rows, key, columns.len() + 1)
        {
            let mut params = insert.params;
            params.extend(upsert.params);
            return vec![Stmt {
                sql: format!("WITH fresh AS ({}) {}", insert.sql, upsert.sql),
                params,
            }];
        }
        let all: Vec<&[Val]> = rows.iter().chain(fresh).copied().collect();
        self.inserts(table, columns, classes, &all, key)
    }

    /// Statements inserting `rows` (upserting on `key` when given). PostgreSQL gets one
    /// `INSERT … SELECT … FROM UNNEST(…)` binding an array per column; the others (and a
    /// PostgreSQL column whose cells make no array) get multi-row `VALUES` lists chunked under
    /// the bind limit.
    fn inserts(
        &self,
        table: &str,
        columns: &[String],
        classes: &IndexMap<String, ColClass>,
        rows: &[&[Val]],
        key: Option<&str>,
    ) -> Vec<Stmt> {
        if rows.is_empty() {
            return Vec::new();
        }
        let b = self.db.backend;
        if b == Backend::Postgres
            && let Some(stmt) = self.unnest_insert(table, columns, classes, rows, key, 1)
        {
            return vec![stmt];
        }
        let per = (b.max_binds() / columns.len().max(1)).clamp(1, MAX_ROWS);
        rows.chunks(per)
            .map(|chunk| self.values_insert(table, columns, classes, chunk, key))
            .collect()
    }

    /// `INSERT INTO t (a, b) SELECT v1, v2 FROM UNNEST($1::text[], $2::numeric[]) AS u(v1, v2)`
    /// with placeholders numbered from `first`, or `None` when a column's cells are not all of
    /// one bindable type.
    fn unnest_insert(
        &self,
        table: &str,
        columns: &[String],
        classes: &IndexMap<String, ColClass>,
        rows: &[&[Val]],
        key: Option<&str>,
        first: usize,
    ) -> Option<Stmt> {
        let b = self.db.backend;
        let mut params = Vec::with_capacity(columns.len());
        let mut arrays = Vec::with_capacity(columns.len());
        let mut selected = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let class = classes.get(column).unwrap_or(&ColClass::Text);
            let array = PgArray::of(class, rows.iter().map(|row| &row[i]))?;
            let n = i + 1;
            arrays.push(format!("${}::{}", first + i, array.sql_type()));
            selected.push(match class {
                ColClass::Other(ty) => format!("CAST(v{n} AS {})", self.q(ty)),
                _ => format!("v{n}"),
            });
            params.push(Param::PgArray(array));
        }
        let aliases: Vec<String> = (1..=columns.len()).map(|n| format!("v{n}")).collect();
        let cols: Vec<String> = columns.iter().map(|c| self.q(c)).collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) SELECT {} FROM UNNEST({}) AS u({})",
            b.table(table),
            cols.join(", "),
            selected.join(", "),
            arrays.join(", "),
            aliases.join(", ")
        );
        if let Some(key) = key {
            sql.push_str(&b.upsert_clause(key, columns));
        }
        Some(Stmt { sql, params })
    }

    /// `INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) …`, one parameter per cell.
    fn values_insert(
        &self,
        table: &str,
        columns: &[String],
        classes: &IndexMap<String, ColClass>,
        rows: &[&[Val]],
        key: Option<&str>,
    ) -> Stmt {
        let b = self.db.backend;
        let mut params = Vec::with_capacity(rows.len() * columns.len());
        let mut tuples = Vec::with_capacity(rows.len());
        for row in rows {
            let mut marks = Vec::with_capacity(columns.len());
            for (c, v) in columns.iter().zip(row.iter()) {
                params.push(v.clone());
                marks.push(
                    b.placeholder_for(params.len(), classes.get(c).unwrap_or(&ColClass::Text)),
                );
            }
            tuples.push(format!("({})", marks.join(", ")));
        }
        let cols: Vec<String> = columns.iter().map(|c| self.q(c)).collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            b.table(table),
            cols.join(", "),
            tuples.join(", ")
        );
        if let Some(key) = key {
            sql.push_str(&b.upsert_clause(key, columns));
        }
        Stmt::new(sql, params)
    }
}

impl SqlSink {
    /// Runs the statements of all `items` in one transaction; when the database refuses the
    /// data (not the connection), runs them record by record to pin the refusal on the record
    /// that caused it ([`batch_then_each`]). Items already refused stay refused; results are
    /// in order.
    async fn write_each<T>(
        &self,
        items: Vec<Result<T, ConnectorError>>,
        key_of: impl Fn(&T) -> &str,
        stmts_of: impl Fn(&[&T]) -> Vec<Stmt>,
    ) -> Result<Vec<Result<T, ConnectorError>>, ConnectorError> {
        let good: Vec<&T> = items.iter().filter_map(|p| p.as_ref().ok()).collect();
        let written = batch_then_each(
            good.len(),
            Refusals::Validation,
            |i| key_of(good[i]).to_owned(),
            || async {
                self.run(stmts_of(&good))
                    .await
                    .map(|()| vec![(); good.len()])
            },
            |i| self.run(stmts_of(&good[i..=i])),
        )
        .await?;
        let mut written = written.into_iter();
        Ok(items
            .into_iter()
            .map(|p| p.and_then(|p| written.next().expect("a result per record").map(|()| p)))
            .collect())
    }

    /// Runs statements in one transaction; a refusal of the data is a validation error.
    async fn run(&self, stmts: Vec<Stmt>) -> Result<(), ConnectorError> {
        let table = &self.opts.table;
        self.db
            .transaction(stmts)
            .await
            .map_err(|e| match self.db.classify(&e) {
                (ErrorKind::Validation, message) => {
                    ConnectorError::invalid(format!("table `{table}`: {message}"))
                }
                _ => self.db.error(&e).context(format!("table `{table}`")),
            })
    }

    /// The key column's value for a record's key (its target id is its key: see `upsert`).
    fn key_value(&self, meta: &Meta, key: &str) -> Result<Val, ConnectorError> {
        coerce(
            &Value::String(key.to_owned()),
            &meta.columns[&self.key_column],
        )
        .map_err(|why| self.refused(key, format_args!("key: {why}")))
    }

    /// `DELETE` statements for these keys, lines first (they hang off the key).
    fn delete_statements(&self, meta: &Meta, keys: &[&Val]) -> Vec<Stmt> {
        let b = self.db.backend;
        let mut out = Vec::new();
        let per = b.max_binds().clamp(1, MAX_ROWS);
        for chunk in keys.chunks(per) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| b.placeholder(n)).collect();
            if let Some(l) = &self.opts.lines {
                let parent_class = &meta.lines[&l.parent_column];
                let parents: Vec<Val> = chunk
                    .iter()
                    .map(|k| coerce(&k.to_json(None), parent_class).unwrap_or((*k).clone()))
                    .collect();
                out.push(Stmt::new(
                    format!(
                        "DELETE FROM {} WHERE {} IN ({})",
                        b.table(&l.table),
                        self.q(&l.parent_column),
                        marks.join(", ")
                    ),
                    parents,
                ));
            }
            out.push(Stmt::new(
                format!(
                    "DELETE FROM {} WHERE {} IN ({})",
                    b.table(&self.opts.table),
                    self.q(&self.key_column),
                    marks.join(", ")
                ),
                chunk.iter().map(|k| (*k).clone()).collect(),
            ));
        }
        out
    }

    /// One `UPDATE … WHERE key = …` per record (records update different columns).
    fn update_statement(&self, meta: &Meta, p: &Prepared) -> Stmt {
        let b = self.db.backend;
        let mut params = Vec::new();
        let mut sets = Vec::new();
        for (&i, v) in p.columns.iter().zip(&p.values) {
            let Some((c, class)) = meta.columns.get_index(i).filter(|_| i != meta.key_index) else {
                continue;
            };
            params.push(v.clone());
            sets.push(format!(
                "{} = {}",
                self.q(c),
                b.placeholder_for(params.len(), class)
            ));
        }
        params.push(p.key_val.clone());
        let key_mark = b.placeholder_for(params.len(), &meta.columns[meta.key_index]);
        Stmt::new(
            format!(
                "UPDATE {} SET {} WHERE {} = {key_mark}",
                b.table(&self.opts.table),
                sets.join(", "),
                self.q(&self.key_column)
            ),
            params,
        )
    }

    /// Canonical field of each column of the table (the reverse of `columns:`): a renamed
    /// field reads from its column, an unlisted column is the field of its name, and a
    /// column whose same-named field is skipped (`~`) or renamed away is no field.
    fn field_of_column(&self, column: &str) -> Option<String> {
        if let Some((field, _)) = self
            .opts
            .columns
            .iter()
            .find(|(_, c)| c.as_deref() == Some(column))
        {
            return Some(field.clone());
        }
        match self.opts.columns.get(column) {
            Some(_) => None,
            None => Some(column.to_owned()),
        }
    }
}

#[async_trait]
impl Sink for SqlSink {
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let meta = self.meta(batch).await?;
        let prepared: Vec<Result<Prepared, ConnectorError>> = batch
            .iter()
            .map(|o| self.prepare(&meta, o))
            .collect::<Result<_, _>>()?;
        if self.optimistic.load(Ordering::Relaxed) && prepared.iter().flatten().any(|p| p.new) {
            let good: Vec<&Prepared> = prepared.iter().flatten().collect();
            match self
                .db
                .transaction(self.statements(&meta, &good, true))
                .await
            {
                Ok(()) => return Ok(written(prepared)),
                Err(e) if is_unique_violation(&e) => {
                    self.optimistic.store(false, Ordering::Relaxed);
                    tracing::info!(table = %self.opts.table, "the table holds rows Ferry did not write: upserting from now on");
                }
                // Written again below, record by record if need be, to pin the error.
                Err(_) => {}
            }
        }
        let done = self
            .write_each(
                prepared,
                |p| &p.key,
                |rows| self.statements(&meta, rows, false),
            )
            .await?;
        Ok(written(done))
    }

    async fn probe(&self) -> ferry_kit::Probe {
        self.inspect().await
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities {
            delete: true,
            update: true,
            scan: true,
            ..SinkCapabilities::default()
        }
    }

    async fn delete(
        &self,
        batch: &[Removal],
    ) -> Result<Vec<Result<(), ConnectorError>>, ConnectorError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let meta = self.meta(&[]).await?;
        let keys: Vec<Result<(String, Val), ConnectorError>> = batch
            .iter()
            .map(|r| {
                let key = r.target_id.as_deref().unwrap_or(&r.key);
                self.key_value(&meta, key).map(|v| (key.to_owned(), v))
            })
            .collect();
        let done = self
            .write_each(
                keys,
                |(k, _)| k,
                |rows| {
                    let vals: Vec<&Val> = rows.iter().map(|(_, v)| v).collect();
                    self.delete_statements(&meta, &vals)
                },
            )
            .await?;
        Ok(done.into_iter().map(|r| r.map(|_| ())).collect())
    }

    async fn update(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let meta = self.meta(&[]).await?;
        let prepared: Vec<Result<Prepared, ConnectorError>> = batch
            .iter()
            .map(|o| {
                let o = Outgoing {
                    key: o.target_id.clone().unwrap_or_else(|| o.key.clone()),
                    target_id: o.target_id.clone(),
                    fields: o.fields.clone(),
                };
                self.prepare(&meta, &o).map(|p| {
                    p.and_then(|p| {
                        if p.columns.iter().all(|c| *c == meta.key_index) {
                            Err(self.refused(&p.key, "none of the fields to write is a column"))
                        } else {
                            Ok(p)
                        }
                    })
                })
            })
            .collect::<Result<_, _>>()?;
        let done = self
            .write_each(
                prepared,
                |p| &p.key,
                |rows| {
                    rows.iter()
                        .map(|p| self.update_statement(&meta, p))
                        .collect()
                },
            )
            .await?;
        Ok(done
            .into_iter()
            .map(|p| {
                p.map(|p| Written {
                    target_id: p.key.clone(),
                })
            })
            .collect())
    }

    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        let limit = limit.max(1);
        let meta = self.meta(&[]).await?;
        let table = &self.opts.table;
        let cursor: Keyset<Val, Val> = Keyset::decode(cursor).map_err(|e| {
            ConnectorError::fatal(format!("table `{table}`: unreadable scan cursor: {e}"))
        })?;
        let b = self.db.backend;
        let key = self.q(&self.key_column);
        let mut params = Vec::new();
        let condition = match &cursor.id {
            Some(last) => {
                params.push(last.clone());
                format!(" WHERE {key} > {}", b.placeholder(1))
            }
            None => String::new(),
        };
        // NULL keys cannot be paged by key: they are not records Ferry wrote or can match.
        let null_filter = if condition.is_empty() {
            " WHERE "
        } else {
            " AND "
        };
        let sql = format!(
            "SELECT * FROM {}{condition}{null_filter}{key} IS NOT NULL ORDER BY {key} ASC LIMIT {}",
            b.table(table),
            limit + 1
        );
        let mut rows = self
            .db
            .query(&sql, params)
            .await
            .map_err(|e| e.context(format!("table `{table}`")))?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let fields: Vec<String> = meta
            .columns
            .keys()
            .filter_map(|c| self.field_of_column(c))
            .collect();
        let last = rows.last().and_then(|r| r.get(&self.key_column).cloned());
        let records = rows
            .iter()
            .map(|row| {
                let mut out = Map::new();
                for (column, val) in row.columns.iter().zip(&row.values) {
                    if let Some(field) = self.field_of_column(column) {
                        out.insert(field, val.to_json(meta.columns.get(column)));
                    }
                }
                let key = row
                    .get(&self.key_column)
                    .filter(|v| !v.is_null())
                    .map(Val::to_id_string);
                TargetRecord {
                    target_id: key.clone().unwrap_or_default(),
                    key,
                    fields: out,
                }
            })
            .collect();
        let next = Keyset::<Val, Val> {
            id: last.or(cursor.id),
            ..Keyset::start()
        };
        Ok(TargetPage {
            records,
            cursor: next.encode(),
            more,
            fields,
        })
    }
}
