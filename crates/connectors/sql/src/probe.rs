//! `ferry check --live` for tables: the table and every column the options and the mapping
//! name are looked up in the database's catalogue, with "did you mean" for near misses, and a
//! source's `SELECT` (its `where:` included) is tried with `LIMIT 0`. Nothing is written: a
//! SQLite file is opened read-only and never created (see [`Db::probing`]).

use std::collections::HashSet;

use ferry_model::ConnectorError;

use crate::db::Db;
use crate::db::table_columns;
use crate::sink::SqlSink;
use crate::source::SqlSource;
use ferry_kit::Probe;
use ferry_kit::probe::did_you_mean;

/// The column names of `table`, empty when it (or its SQLite file) does not exist.
async fn columns_of(db: &Db, table: &str) -> Result<Vec<String>, ConnectorError> {
    if db.missing_file().is_some() {
        return Ok(Vec::new());
    }
    Ok(table_columns(db, table)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect())
}

/// "table `x` not found in …", with the nearest table's name or the missing file.
async fn table_not_found(db: &Db, table: &str) -> String {
    if let Some(file) = db.missing_file() {
        return format!(
            "table `{table}` not found: the database file {} does not exist",
            file.display()
        );
    }
    let tables: Vec<String> = match db.query(db.backend.discover_sql(), Vec::new()).await {
        Ok(rows) => rows
            .iter()
            .filter_map(|r| r.values.first().and_then(|v| v.as_text()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        Err(_) => Vec::new(),
    };
    format!(
        "table `{table}` not found in {}{}",
        db.display,
        did_you_mean(table, tables.iter().map(String::as_str))
    )
}

/// "table `t` has no column `c`", with the nearest column's name.
fn no_column(table: &str, column: &str, columns: &HashSet<&str>, what: &str) -> String {
    format!(
        "table `{table}` has no column `{column}`{what}{}",
        did_you_mean(column, columns.iter().copied())
    )
}

impl SqlSource {
    /// The live check of a source: see the module docs.
    pub(super) async fn inspect(&self) -> Probe {
        let db = self.db.probing();
        let table = &self.opts.table;
        let mut probe = Probe::default();
        let all = match columns_of(db, table).await {
            Ok(all) => all,
            Err(e) => return Probe::failed(&e),
        };
        if all.is_empty() {
            probe.option(&["table"], table_not_found(db, table).await);
            return probe;
        }
        let known: HashSet<&str> = all.iter().map(String::as_str).collect();
        let mut check = |path: &[&str], column: &str| {
            if !known.contains(column) {
                probe.option(path, no_column(table, column, &known, ""));
            }
        };
        check(&["id"], &self.opts.id);
        if let Some(w) = &self.opts.watermark {
            check(&["watermark", "column"], &w.column);
        }
        if let Some(d) = &self.opts.deleted_column {
            check(&["deleted_column"], d);
        }
        for c in self.opts.columns.iter().flatten() {
            check(&["columns"], c);
        }
        self.inspect_lines(db, &mut probe).await;
        if probe.is_ok() {
            self.try_select(db, &mut probe).await;
        }
        let (mut fields, origin) = match &self.opts.columns {
            Some(columns) => (columns.clone(), "the source's `columns`"),
            None => (all.clone(), "the table's columns"),
        };
        fields.extend(self.opts.lines.as_ref().map(|_| "lines".to_owned()));
        for extra in [Some(&self.opts.id), self.opts.deleted_column.as_ref()]
            .into_iter()
            .chain([self.opts.watermark.as_ref().map(|w| &w.column)])
            .flatten()
        {
            if !fields.contains(extra) {
                fields.push(extra.clone());
            }
        }
        probe.carries(fields, origin);
        probe
    }

    /// The `lines:` table and its columns.
    async fn inspect_lines(&self, db: &Db, probe: &mut Probe) {
        let Some(lines) = &self.opts.lines else {
            return;
        };
        let all = match columns_of(db, &lines.table).await {
            Ok(all) => all,
            Err(e) => return probe.option(&["lines", "table"], e.message()),
        };
        if all.is_empty() {
            let message = table_not_found(db, &lines.table).await;
            return probe.option(&["lines", "table"], message);
        }
        let known: HashSet<&str> = all.iter().map(String::as_str).collect();
        let named = [
            ("parent_column", Some(&lines.parent_column)),
            ("id", Some(&lines.id)),
            ("order_by", lines.order_by.as_ref()),
        ];
        for (key, column) in named {
            if let Some(c) = column.filter(|c| !known.contains(c.as_str())) {
                probe.option(&["lines", key], no_column(&lines.table, c, &known, ""));
            }
        }
    }

    /// Runs the source's `SELECT` with `LIMIT 0`: proves the right to read the table, then
    /// that the `where:` condition is valid SQL for this database.
    async fn try_select(&self, db: &Db, probe: &mut Probe) {
        let from = format!(
            "SELECT {} FROM {}",
            self.select_list(),
            db.backend.table(&self.opts.table)
        );
        if let Err(e) = db.query(&format!("{from} LIMIT 0"), Vec::new()).await {
            return probe.option(&["table"], format!("cannot read the table: {e}"));
        }
        if let Some(filter) = &self.opts.filter
            && let Err(e) = db
                .query(&format!("{from} WHERE ({filter}) LIMIT 0"), Vec::new())
                .await
        {
            probe.option(&["where"], format!("the condition does not run: {e}"));
        }
    }
}

impl SqlSink {
    /// The live check of a target: the table (unless `create_table` will make it), the key
    /// column, the column of every mapped field, and the `lines:` table.
    pub(super) async fn inspect(&self) -> Probe {
        let db = self.db.probing();
        let table = &self.opts.table;
        let mut probe = Probe::default();
        let all = match columns_of(db, table).await {
            Ok(all) => all,
            Err(e) => return Probe::failed(&e),
        };
        if all.is_empty() {
            if !self.opts.create_table {
                let message = table_not_found(db, table).await;
                probe.option(
                    &["table"],
                    format!("{message}; set `create_table: true` to create it"),
                );
            }
            return probe;
        }
        let known: HashSet<&str> = all.iter().map(String::as_str).collect();
        let key = &self.flow.key_field;
        if !known.contains(self.key_column.as_str()) {
            let message = no_column(table, &self.key_column, &known, " for the key");
            match self.opts.key_column {
                Some(_) => probe.option(&["key_column"], message),
                None => self.at_field(&mut probe, key, message),
            }
        }
        let lines = self.opts.lines.is_some();
        for field in &self.flow.fields {
            if field == key || (lines && field == "lines") {
                continue;
            }
            if let Some(column) = self.opts.column_of(field)
                && !known.contains(column)
            {
                let what = if column == field {
                    String::new()
                } else {
                    format!(" for field `{field}`")
                };
                self.at_field(&mut probe, field, no_column(table, column, &known, &what));
            }
        }
        self.inspect_lines(db, &mut probe).await;
        probe
    }

    /// A problem with the column of `field`: at its `columns:` entry when it has one, else at
    /// the mapping rule that makes it.
    fn at_field(&self, probe: &mut Probe, field: &str, message: String) {
        if self.opts.columns.contains_key(field) {
            probe.option(&["columns", field], message);
        } else {
            probe.mapped(field, message);
        }
    }

    /// The `lines:` table, its parent column and the columns `lines.columns` renames to.
    async fn inspect_lines(&self, db: &Db, probe: &mut Probe) {
        let Some(lines) = &self.opts.lines else {
            return;
        };
        let all = match columns_of(db, &lines.table).await {
            Ok(all) => all,
            Err(e) => return probe.option(&["lines", "table"], e.message()),
        };
        if all.is_empty() {
            if !self.opts.create_table {
                let message = table_not_found(db, &lines.table).await;
                probe.option(&["lines", "table"], message);
            }
            return;
        }
        let known: HashSet<&str> = all.iter().map(String::as_str).collect();
        if !known.contains(lines.parent_column.as_str()) {
            let message = no_column(&lines.table, &lines.parent_column, &known, "");
            probe.option(&["lines", "parent_column"], message);
        }
        for (field, column) in &lines.columns {
            if let Some(c) = column.as_ref().filter(|c| !known.contains(c.as_str())) {
                let message = no_column(&lines.table, c, &known, "");
                probe.option(&["lines", "columns", field], message);
            }
        }
    }
}
