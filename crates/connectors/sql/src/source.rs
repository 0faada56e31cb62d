//! Reading a table: keyset pages by `(watermark, id)`, an overlap window between scans, child
//! lines fetched per page, and `fetch` by id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use ferry_model::{ConnectorError, Record};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::config::{SqlSourceOptions, WatermarkKind};
use crate::db::{ColumnMeta, table_columns};
use crate::db::{Db, DbRow};
use crate::value::{ColClass, Val, coerce, id_from_str};
use ferry_kit::keyset::{Keyset, ReadAt, ScanEnd};
use ferry_kit::{Page, SnapshotPass, Source};

/// Parent ids per child query.
const IN_CHUNK: usize = 1000;

/// The position between two reads (see [`ferry_kit::keyset`] and the `sql` module docs): the
/// watermark is `Null` while reading rows without one, `p` the `detect_deletes` pass.
type Cursor = Keyset<Val, Val>;

#[derive(Debug)]
struct Meta {
    classes: HashMap<String, ColClass>,
    id_class: ColClass,
    line_classes: HashMap<String, ColClass>,
    line_parent_class: ColClass,
}

/// Reads one table.
pub struct SqlSource {
    pub(super) db: Arc<Db>,
    pub(super) opts: SqlSourceOptions,
    overlap: TimeDelta,
    meta: OnceCell<Meta>,
}

impl SqlSource {
    pub fn new(db: Arc<Db>, opts: SqlSourceOptions, overlap: Duration) -> Self {
        let overlap = TimeDelta::from_std(overlap).unwrap_or(TimeDelta::MAX);
        Self {
            db,
            opts,
            overlap,
            meta: OnceCell::new(),
        }
    }

    fn q(&self, name: &str) -> String {
        self.db.backend.ident(name)
    }

    async fn meta(&self) -> Result<&Meta, ConnectorError> {
        self.meta.get_or_try_init(|| self.load_meta()).await
    }

    async fn load_meta(&self) -> Result<Meta, ConnectorError> {
        let table = &self.opts.table;
        let columns = table_columns(&self.db, table).await?;
        if columns.is_empty() {
            return Err(ConnectorError::fatal(format!(
                "table `{table}` not found in {}",
                self.db.display
            )));
        }
        let classes: HashMap<String, ColClass> = columns
            .into_iter()
            .map(|c: ColumnMeta| (c.name, c.class))
            .collect();
        let mut wanted: Vec<&str> = vec![&self.opts.id];
        if let Some(w) = &self.opts.watermark {
            wanted.push(&w.column);
        }
        if let Some(d) = &self.opts.deleted_column {
            wanted.push(d);
        }
        wanted.extend(self.opts.columns.iter().flatten().map(String::as_str));
        for c in wanted {
            if !classes.contains_key(c) {
                return Err(ConnectorError::fatal(format!(
                    "table `{table}` has no column `{c}`"
                )));
            }
        }
        let id_class = classes[&self.opts.id].clone();
        let (mut line_classes, mut line_parent_class) = (HashMap::new(), ColClass::Text);
        if let Some(lines) = &self.opts.lines {
            let cols = table_columns(&self.db, &lines.table).await?;
            if cols.is_empty() {
                return Err(ConnectorError::fatal(format!(
                    "lines table `{}` not found in {}",
                    lines.table, self.db.display
                )));
            }
            line_classes = cols.into_iter().map(|c| (c.name, c.class)).collect();
            for c in [
                Some(&lines.parent_column),
                Some(&lines.id),
                lines.order_by.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                if !line_classes.contains_key(c) {
                    return Err(ConnectorError::fatal(format!(
                        "lines table `{}` has no column `{c}`",
                        lines.table
                    )));
                }
            }
            line_parent_class = line_classes[&lines.parent_column].clone();
        }
        Ok(Meta {
            classes,
            id_class,
            line_classes,
            line_parent_class,
        })
    }

    pub(super) fn select_list(&self) -> String {
        match &self.opts.columns {
            None => "*".to_owned(),
            Some(columns) => {
                let mut names: Vec<&str> = columns.iter().map(String::as_str).collect();
                let extra = [
                    Some(self.opts.id.as_str()),
                    self.opts.watermark.as_ref().map(|w| w.column.as_str()),
                    self.opts.deleted_column.as_deref(),
                ];
                for c in extra.into_iter().flatten() {
                    if !names.contains(&c) {
                        names.push(c);
                    }
                }
                names
                    .iter()
                    .map(|c| self.q(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }
    }

    /// The condition and binds selecting rows after `cursor`.
    fn position(&self, cursor: &Cursor, params: &mut Vec<Val>) -> Option<String> {
        let b = self.db.backend;
        let id = self.q(&self.opts.id);
        let ph = |v: &Val, params: &mut Vec<Val>| {
            params.push(v.clone());
            b.placeholder(params.len())
        };
        let Some(wm) = &self.opts.watermark else {
            return cursor
                .id
                .as_ref()
                .map(|x| format!("{id} > {}", ph(x, params)));
        };
        let w = self.q(&wm.column);
        let same = wm.column == self.opts.id;
        match (&cursor.w, &cursor.id) {
            (None, _) => None,
            (Some(Val::Null), Some(x)) => Some(format!(
                "(({w} IS NULL AND {id} > {}) OR {w} IS NOT NULL)",
                ph(x, params)
            )),
            (Some(Val::Null), None) => None,
            (Some(v), None) => Some(format!("{w} >= {}", ph(v, params))),
            (Some(v), Some(_)) if same => Some(format!("{w} > {}", ph(v, params))),
            (Some(v), Some(x)) => {
                let a = ph(v, params);
                let bb = ph(v, params);
                let c = ph(x, params);
                // `w >= a` first so the database can range-scan an index on (w, id).
                Some(format!("({w} >= {a} AND ({w} > {bb} OR {id} > {c}))"))
            }
        }
    }

    /// Watermark order. NULL watermarks come first, but once the cursor holds a non-NULL
    /// watermark the condition excludes NULLs, and the plain `w ASC, id ASC` order lets
    /// PostgreSQL walk an ordinary (NULLS LAST) index instead of sorting the table.
    fn order_by(&self, nulls_possible: bool) -> String {
        let id = self.q(&self.opts.id);
        match &self.opts.watermark {
            Some(w) if w.column != self.opts.id && nulls_possible => format!(
                "{}, {id} ASC",
                self.db.backend.asc_nulls_first(&self.q(&w.column))
            ),
            Some(w) if w.column != self.opts.id => format!("{} ASC, {id} ASC", self.q(&w.column)),
            _ => format!("{id} ASC"),
        }
    }

    /// The record of a row, its values moved into the record's fields.
    fn record(&self, meta: &Meta, row: DbRow) -> Record {
        let id = row
            .get(&self.opts.id)
            .map(Val::to_id_string)
            .unwrap_or_default();
        let updated_at = match &self.opts.watermark {
            Some(w) if w.kind == WatermarkKind::Timestamp => {
                row.get(&w.column).and_then(Val::to_datetime)
            }
            _ => None,
        };
        let deleted = self
            .opts
            .deleted_column
            .as_ref()
            .is_some_and(|d| match row.get(d) {
                Some(Val::Bool(b)) => *b,
                Some(Val::Int(i)) => *i != 0,
                Some(Val::UInt(i)) => *i != 0,
                Some(Val::Text(t)) => matches!(
                    t.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "t" | "yes" | "y"
                ),
                _ => false,
            });
        let mut fields = Map::with_capacity(row.values.len());
        for (name, val) in row.columns.iter().zip(row.values) {
            let class = meta.classes.get(name);
            fields.insert(name.clone(), val.into_json(class));
        }
        let mut record = Record::new(id, fields);
        record.updated_at = updated_at;
        record.deleted = deleted;
        record
    }

    /// Fills the `lines` field of each record from the child table, one query per chunk.
    async fn attach_lines(
        &self,
        meta: &Meta,
        records: &mut [Record],
        parents: &[Val],
    ) -> Result<(), ConnectorError> {
        let Some(lines) = &self.opts.lines else {
            return Ok(());
        };
        let b = self.db.backend;
        let pc = self.q(&lines.parent_column);
        let order = self.q(lines.order_by.as_deref().unwrap_or(&lines.id));
        let mut by_parent: HashMap<String, Vec<Value>> = HashMap::new();
        let mut keys: Vec<Val> = Vec::new();
        for p in parents {
            if let Ok(v) = coerce(&p.to_json(None), &meta.line_parent_class)
                && !v.is_null()
                && !keys.contains(&v)
            {
                keys.push(v);
            }
        }
        for chunk in keys.chunks(IN_CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| b.placeholder(n)).collect();
            let sql = format!(
                "SELECT * FROM {} WHERE {pc} IN ({}) ORDER BY {pc}, {order}, {}",
                b.table(&lines.table),
                placeholders.join(", "),
                self.q(&lines.id)
            );
            for row in self.db.query(&sql, chunk.to_vec()).await? {
                let parent = row
                    .get(&lines.parent_column)
                    .map(Val::to_id_string)
                    .unwrap_or_default();
                let mut line = Map::new();
                for (name, val) in row.columns.iter().zip(&row.values) {
                    line.insert(name.clone(), val.to_json(meta.line_classes.get(name)));
                }
                by_parent
                    .entry(parent)
                    .or_default()
                    .push(Value::Object(line));
            }
        }
        for (record, parent) in records.iter_mut().zip(parents) {
            if record.fields.is_empty() && record.deleted {
                continue;
            }
            let lines = by_parent.remove(&parent.to_id_string()).unwrap_or_default();
            record
                .fields
                .insert("lines".to_owned(), Value::Array(lines));
        }
        Ok(())
    }

    /// How a scan ends at `last` (the highest row's watermark and id): at the start without
    /// a watermark, exactly there for integer or NULL watermarks, else in the overlap window
    /// before it (which settles, see [`ferry_kit::keyset`]).
    fn end_cursor(&self, last_w: Option<Val>, last_id: Option<Val>) -> ScanEnd<Val, Val> {
        let (Some(wm), Some(last_w)) = (&self.opts.watermark, last_w) else {
            return ScanEnd::Exact(Cursor::start());
        };
        if last_w.is_null() || wm.kind == WatermarkKind::Integer {
            return ScanEnd::Exact(Cursor::end_at(last_w, last_id));
        }
        let from = match last_w.minus(self.overlap) {
            Some(w) => Cursor::end_at(w, None),
            None => Cursor::end_at(last_w, None),
        };
        ScanEnd::Window {
            from,
            overlap: self.overlap,
        }
    }
}

#[async_trait]
impl Source for SqlSource {
    async fn probe(&self) -> ferry_kit::Probe {
        self.inspect().await
    }

    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let limit = limit.max(1);
        let cursor = Cursor::decode(cursor).map_err(|e| {
            ConnectorError::fatal(format!(
                "table `{}`: unreadable cursor `{}`: {e}",
                self.opts.table,
                cursor.unwrap_or_default()
            ))
        })?;
        let meta = self.meta().await?;
        let mut params = Vec::new();
        let mut conditions = Vec::new();
        if let Some(p) = self.position(&cursor, &mut params) {
            conditions.push(p);
        }
        if let Some(f) = &self.opts.filter {
            conditions.push(format!("({f})"));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {} FROM {}{where_clause} ORDER BY {} LIMIT {}",
            self.select_list(),
            self.db.backend.table(&self.opts.table),
            self.order_by(!matches!(cursor.w, Some(ref w) if !matches!(w, Val::Null))),
            limit + 1
        );
        let asked = ReadAt::asking();
        let mut rows = self
            .db
            .query(&sql, params)
            .await
            .map_err(|e| e.context(format!("table `{}`", self.opts.table)))?;
        let read_at = ReadAt::answered(asked);
        let more = rows.len() > limit;
        rows.truncate(limit);
        // A row's position: its watermark (`Null` when it has none) and id.
        let position = |row: &DbRow| {
            let w = self
                .opts
                .watermark
                .as_ref()
                .map(|w| row.get(&w.column).cloned().unwrap_or(Val::Null));
            (w, row.get(&self.opts.id).cloned())
        };
        // A snapshot pass starts with a scan and lasts until a page says there is no more.
        let pass = self.opts.detect_deletes.then(|| {
            cursor
                .p
                .unwrap_or_else(|| chrono::Utc::now().timestamp_millis())
        });
        let next = cursor.after_page(rows.last().map(position), more, pass, read_at, |w, id| {
            self.end_cursor(w, id)
        });
        let parents: Vec<Val> = match self.opts.lines {
            Some(_) => rows
                .iter()
                .map(|r| r.get(&self.opts.id).cloned().unwrap_or(Val::Null))
                .collect(),
            None => Vec::new(),
        };
        let mut records: Vec<Record> = rows.into_iter().map(|r| self.record(meta, r)).collect();
        self.attach_lines(meta, &mut records, &parents).await?;
        Ok(Page {
            records,
            cursor: next.encode(),
            more,
            pass: pass.map(|p| SnapshotPass {
                number: u64::try_from(p).unwrap_or_default(),
                complete: !more,
            }),
        })
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let meta = self.meta().await?;
        let b = self.db.backend;
        let mut found: HashMap<String, (Record, Val)> = HashMap::new();
        let keys: Vec<Val> = ids
            .iter()
            .map(|s| id_from_str(s, &meta.id_class))
            .filter(|v| meta.id_class != ColClass::Int || matches!(v, Val::Int(_)))
            .collect();
        for chunk in keys.chunks(IN_CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| b.placeholder(n)).collect();
            let mut sql = format!(
                "SELECT {} FROM {} WHERE {} IN ({})",
                self.select_list(),
                b.table(&self.opts.table),
                self.q(&self.opts.id),
                placeholders.join(", ")
            );
            if let Some(f) = &self.opts.filter {
                sql.push_str(&format!(" AND ({f})"));
            }
            for row in self.db.query(&sql, chunk.to_vec()).await? {
                let id = row.get(&self.opts.id).cloned().unwrap_or(Val::Null);
                let record = self.record(meta, row);
                found.insert(record.id.clone(), (record, id));
            }
        }
        let mut records = Vec::with_capacity(ids.len());
        let mut parents = Vec::with_capacity(ids.len());
        for id in ids {
            match found.get(id) {
                Some((record, key)) => {
                    records.push(record.clone());
                    parents.push(key.clone());
                }
                None => {
                    records.push(ferry_kit::sink::gone(id));
                    parents.push(Val::Null);
                }
            }
        }
        self.attach_lines(meta, &mut records, &parents).await?;
        Ok(records)
    }
}
