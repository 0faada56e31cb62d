//! # The `sql` connector
//!
//! Reads and writes tables of PostgreSQL, MariaDB/MySQL and SQLite databases, chosen by the
//! URL's scheme. One system is one database; a flow's `source:` names a table to read and its
//! `target:` a table to upsert into.
//!
//! ```yaml
//! systems:
//!   legacy:
//!     kind: sql
//!     url: mysql://ferry:${LEGACY_PASSWORD}@db.internal/legacy   # or postgres://, sqlite://data/app.db
//!     max_connections: 4          # default 4
//!     connect_timeout: 10s        # default 10s
//! flows:
//!   orders:
//!     source:
//!       system: legacy
//!       table: sales.orders       # schema.table allowed
//!       id: order_id              # default id
//!       watermark: { column: updated_at, kind: timestamp, overlap: 5s }
//!       columns: [order_id, number, customer, total, updated_at]   # default: all
//!       where: "status <> 'draft'"
//!       deleted_column: is_deleted
//!       lines: { table: sales.order_lines, parent_column: order_id, order_by: line_no }
//!     target:
//!       system: legacy
//!       table: customers
//!       key_column: code          # default: the flow's key field
//!       columns: { name: customer_name, notes: ~ }   # rename; ~ = do not write
//!       create_table: false
//!       lines: { table: order_lines, parent_column: order_number, columns: { sku: item } }
//! ```
//!
//! ## Cursor
//!
//! The cursor is JSON: `{"v":1,"w":<watermark>,"id":<id>,"end":true}` where values keep their
//! SQL type (`{"t":"ts","v":"2024-05-01T10:00:00Z"}`, `{"t":"int","v":42}`, …). Reads are
//! keyset-paginated by `(watermark, id)`, NULL watermarks first. A scan ends with a page
//! shorter than the limit; its cursor is then `(max watermark seen − overlap, no id)` with
//! `end: true`, so the next scan re-reads the overlap window, until the window settles once
//! the overlap has passed with nothing newer: then the cursor is the exact position after the
//! newest row (`"top"` records it and when it was read; see `crate::keyset`). Without a
//! watermark the cursor holds the last id and a finished scan starts over.
//!
//! With `detect_deletes: true` (tables without a watermark only), each full scan is a snapshot
//! pass: the cursor also holds the pass (`"p"`, the pass's start in epoch milliseconds, so a
//! number is never reused even after `--full`), every page says which pass it belongs to, and
//! the last one completes it. The engine then finds the rows an earlier pass read and this one
//! did not, and confirms each with `fetch` before recording it as deleted: hard deletes in a
//! table nobody timestamps.
//!
//! ## Values
//!
//! Integers and floats are JSON numbers, NUMERIC/DECIMAL decimal strings (never floats), dates
//! `YYYY-MM-DD`, timestamps RFC 3339 in UTC, JSON columns JSON, bytes hex. Writes convert each
//! value to the type of its column, found once in the catalogue.

mod config;
mod db;
mod dialect;
mod probe;
mod sink;
mod source;
mod value;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use serde_json::{Map, Value};

use crate::{
    BuildContext, Connector, ConnectorFactory, ConnectorSchemas, FieldInfo, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};

pub use config::{SqlSettings, SqlSourceOptions, SqlTargetOptions};
use db::Db;
use dialect::Backend;
use value::{ColClass, Val};

/// Makes `sql` connectors.
pub struct SqlFactory;

impl ConnectorFactory for SqlFactory {
    fn kind(&self) -> &'static str {
        "sql"
    }

    fn summary(&self) -> &'static str {
        "Tables of PostgreSQL, MariaDB/MySQL and SQLite databases (keyset reads by updated-at, upserts by key)"
    }

    fn schemas(&self) -> ConnectorSchemas {
        ConnectorSchemas {
            system: schemars::schema_for!(SqlSettings),
            source: schemars::schema_for!(SqlSourceOptions),
            target: schemars::schema_for!(SqlTargetOptions),
        }
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues> {
        Ok(Arc::new(SqlConnector::from_settings(ctx, settings)?))
    }
}

/// One configured database.
#[derive(Debug)]
pub struct SqlConnector {
    system: String,
    db: Arc<Db>,
}

impl SqlConnector {
    /// Validates the settings and prepares the (lazily opened) pool.
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let settings: SqlSettings = config::parse(settings)?;
        let (backend, timeout) = settings.validate()?;
        let display = config::mask_url(&settings.url);
        let secrets = config::url_secrets(&settings.url);
        let options = db::options(backend, &settings.url, &ctx.base_dir).and_then(|run| {
            Ok((
                run,
                db::probe_options(backend, &settings.url, &ctx.base_dir)?,
            ))
        });
        let (options, probe) = options.map_err(|e| {
            let mut message = e;
            for s in &secrets {
                message = message.replace(s.as_str(), "****");
            }
            vec![ferry_model::config::ConfigIssue::new(
                ["url"],
                format!("`{display}`: {message}"),
            )]
        })?;
        let db = Db::new(
            backend,
            options,
            settings.max_connections,
            timeout,
            display,
            secrets,
        )
        .with_probe(probe);
        Ok(SqlConnector {
            system: ctx.system.clone(),
            db: Arc::new(db),
        })
    }
}

#[async_trait]
impl Connector for SqlConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SqlSourceOptions = config::parse(options)?;
        let overlap = options.validate()?;
        Ok(Arc::new(source::SqlSource::new(
            self.db.clone(),
            options,
            overlap,
        )))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        let options: SqlTargetOptions = config::parse(options)?;
        options.validate()?;
        Ok(Arc::new(sink::SqlSink::new(
            self.db.clone(),
            options,
            ctx.clone(),
        )))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let rows = self
            .db
            .query(self.db.backend.discover_sql(), Vec::new())
            .await?;
        let mut out: Vec<ObjectInfo> = Vec::new();
        for row in rows {
            let text = |i: usize| row.values.get(i).and_then(Val::as_text).unwrap_or_default();
            let (table, field) = (
                text(0),
                FieldInfo {
                    name: text(1),
                    ty: text(2),
                    nullable: text(3) == "YES",
                },
            );
            match out.last_mut() {
                Some(last) if last.name == table => last.fields.push(field),
                _ => out.push(ObjectInfo {
                    name: table,
                    fields: vec![field],
                }),
            }
        }
        tracing::debug!(system = %self.system, tables = out.len(), "discovered");
        Ok(out)
    }

    /// `SELECT 1` on a connection opened only to look. A SQLite file that does not exist yet
    /// is no problem here (a run creates it); the flows' probes say which table it lacks.
    async fn probe(&self) -> Result<(), ConnectorError> {
        let db = self.db.probing();
        if db.missing_file().is_some() {
            return Ok(());
        }
        db.query("SELECT 1", Vec::new()).await.map(|_| ())
    }
}

/// One column of a table, from the catalogue.
#[derive(Debug, Clone)]
pub(crate) struct ColumnMeta {
    pub name: String,
    pub class: ColClass,
}

/// The columns of `table` in order; empty when the table does not exist.
pub(crate) async fn table_columns(db: &Db, table: &str) -> Result<Vec<ColumnMeta>, ConnectorError> {
    let (schema, name) = dialect::split_table(table);
    let sql = db.backend.columns_sql(schema);
    let params = match db.backend {
        Backend::Sqlite => vec![Val::Text(name.to_owned())],
        _ => vec![
            schema
                .map(|s| Val::Text(s.to_owned()))
                .unwrap_or(Val::NullAs(ColClass::Text)),
            Val::Text(name.to_owned()),
        ],
    };
    let rows = db.query(&sql, params).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let text = |i: usize| row.values.get(i).and_then(Val::as_text).unwrap_or_default();
            let scale = row.values.get(4).and_then(Val::as_i64);
            ColumnMeta {
                name: text(0),
                class: db.backend.classify(&text(1), &text(2), scale),
            }
        })
        .collect())
}
