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
//! newest row (`"top"` records it and when it was read; see `ferry_kit::keyset`). Without a
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
mod connector;
mod db;
mod dialect;
mod discover;
mod probe;
mod sink;
mod source;
mod value;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{SqlSettings, SqlSourceOptions, SqlTargetOptions};
pub use connector::{SqlConnector, SqlFactory};
