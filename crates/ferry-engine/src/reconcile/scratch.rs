//! The scratch database of one reconciliation: an SQLite file in the data dir holding the
//! source side (one row per source record: key, target id, mapped fields, live dead letter)
//! and the target keys seen, so that the join runs on disk with indexes and memory holds one
//! page per side. The file is removed when the [`Scratch`] is dropped, whatever happened.

use std::path::{Path, PathBuf};

use ferry_store::{DeadLetter, DeadLetterState};

use super::{DeadLettered, Finding};
use rusqlite::{Connection, OptionalExtension, params};

// The state of a source row: 0 while no target record matched it, then one of these.
/// Matched, and equal.
pub(super) const EQUAL: i64 = 1;
/// Matched, and some field differs.
pub(super) const DIFFERS: i64 = 2;

/// A source record to store.
pub(super) struct NewSource {
    pub source_id: String,
    pub key: Option<String>,
    pub target_id: Option<String>,
    /// The compared fields as JSON; `None` when the mapping refused the record.
    pub fields: Option<String>,
    /// The record's live dead letter, if it has one.
    pub dead_letter: Option<DeadLetterRef>,
}

/// What a report says of a record's live dead letter.
#[derive(Debug, Clone)]
pub(super) struct DeadLetterRef {
    pub id: i64,
    pub state: DeadLetterState,
    pub error: String,
}

impl DeadLetterRef {
    /// The reference to a live dead letter.
    pub fn of(dead_letter: &DeadLetter) -> Self {
        Self {
            id: dead_letter.id,
            state: dead_letter.state,
            error: dead_letter.error.clone(),
        }
    }

    fn known(
        &self,
        key: &Option<String>,
        source_id: &str,
        target_id: &Option<String>,
        finding: Finding,
    ) -> DeadLettered {
        DeadLettered {
            key: key.clone(),
            source_id: source_id.to_owned(),
            target_id: target_id.clone(),
            finding,
            dead_letter_id: self.id,
            dead_letter_state: self.state,
            error: self.error.clone(),
        }
    }
}

impl NewSource {
    /// The known failure `finding` is, when the record has a live dead letter.
    pub fn known(&self, finding: Finding) -> Option<DeadLettered> {
        let dl = self.dead_letter.as_ref()?;
        Some(dl.known(&self.key, &self.source_id, &self.target_id, finding))
    }
}

impl SourceRow {
    /// The known failure `finding` is, when the record has a live dead letter.
    pub fn known(&self, finding: Finding) -> Option<DeadLettered> {
        let dl = self.dead_letter.as_ref()?;
        Some(dl.known(&self.key, &self.source_id, &self.target_id, finding))
    }
}

/// A source row as stored.
pub(super) struct SourceRow {
    pub n: i64,
    pub source_id: String,
    pub key: Option<String>,
    pub target_id: Option<String>,
    /// The compared fields as JSON; `None` when the mapping refused the record.
    pub fields: Option<String>,
    /// Its live dead letter: a difference or absence is then a known failure.
    pub dead_letter: Option<DeadLetterRef>,
}

/// A reconciliation's scratch database.
pub(super) struct Scratch {
    conn: Connection,
    path: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

impl Scratch {
    /// Creates a fresh scratch file in `dir`.
    pub fn create(dir: &Path, flow: &str) -> rusqlite::Result<Self> {
        let _ = std::fs::create_dir_all(dir);
        let safe: String = flow
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!(
            "reconcile-{safe}-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let conn = Connection::open(&path)?;
        let scratch = Scratch { conn, path };
        // Nothing here must survive a crash: no journal, no syncs; a small page cache keeps
        // memory flat however many records there are.
        scratch.conn.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA cache_size = -16384;
             PRAGMA temp_store = FILE;
             CREATE TABLE src (
                 n INTEGER PRIMARY KEY,
                 source_id TEXT NOT NULL UNIQUE,
                 key TEXT,
                 target_id TEXT,
                 fields TEXT,
                 state INTEGER NOT NULL DEFAULT 0,
                 dl_id INTEGER,
                 dl_state TEXT,
                 dl_error TEXT
             );
             CREATE TABLE tgt_keys (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE orphans (n INTEGER PRIMARY KEY, target_id TEXT NOT NULL, key TEXT);",
        )?;
        Ok(scratch)
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores one page of source rows in one transaction (a source id read twice, because it
    /// changed during the scan, keeps its last version).
    pub fn add_sources(&mut self, rows: &[NewSource]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO src (source_id, key, target_id, fields, dl_id, dl_state, dl_error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (source_id) DO UPDATE SET
                     key = excluded.key, target_id = excluded.target_id, fields = excluded.fields,
                     dl_id = excluded.dl_id, dl_state = excluded.dl_state,
                     dl_error = excluded.dl_error",
            )?;
            for r in rows {
                let dl = r.dead_letter.as_ref();
                insert.execute(params![
                    r.source_id,
                    r.key,
                    r.target_id,
                    r.fields,
                    dl.map(|d| d.id),
                    dl.map(|d| d.state.as_str()),
                    dl.map(|d| d.error.as_str()),
                ])?;
            }
        }
        tx.commit()
    }

    /// Starts a transaction: the lookups and updates of one target page commit together,
    /// which is several times faster than one implicit transaction per statement.
    pub fn begin(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("BEGIN")
    }

    /// Ends the transaction [`Scratch::begin`] started.
    pub fn commit(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("COMMIT")
    }

    /// Indexes the source rows for the join (after loading them: faster than indexing as
    /// they arrive).
    pub fn index_sources(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch(
            "CREATE INDEX src_key ON src (key);
             CREATE INDEX src_target ON src (target_id);",
        )
    }

    /// Keys several source records share, with their count, in key order.
    pub fn duplicate_source_keys(&self, mut each: impl FnMut(String, u64)) -> rusqlite::Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT key, count(*) FROM src WHERE key IS NOT NULL GROUP BY key HAVING count(*) > 1 ORDER BY key",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            each(row.get(0)?, row.get::<_, i64>(1)?.try_into().unwrap_or(0));
        }
        Ok(())
    }

    /// The source row a target record belongs to: the one whose xref names its target id,
    /// else one with its key (those with no target id of their own first); an unmatched one
    /// first.
    pub fn find_source(
        &self,
        target_id: &str,
        key: Option<&str>,
    ) -> rusqlite::Result<Option<(SourceRow, i64)>> {
        let mut by_target = self.conn.prepare_cached(
            "SELECT n, source_id, key, target_id, fields, dl_id, dl_state, dl_error, state
             FROM src WHERE target_id = ?1 ORDER BY state <> 0, n LIMIT 1",
        )?;
        let read = |r: &rusqlite::Row<'_>| Ok((source_row(r)?, r.get(8)?));
        if let Some(found) = by_target.query_row([target_id], read).optional()? {
            return Ok(Some(found));
        }
        let Some(key) = key else { return Ok(None) };
        let mut by_key = self.conn.prepare_cached(
            "SELECT n, source_id, key, target_id, fields, dl_id, dl_state, dl_error, state
             FROM src WHERE key = ?1 ORDER BY target_id IS NOT NULL, state <> 0, n LIMIT 1",
        )?;
        by_key.query_row([key], read).optional()
    }

    /// Records how a source row compared (a row matched twice keeps its worst state).
    pub fn set_state(&self, n: i64, state: i64) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached("UPDATE src SET state = max(state, ?2) WHERE n = ?1")?
            .execute(params![n, state])?;
        Ok(())
    }

    /// Counts a target key.
    pub fn add_target_key(&self, key: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO tgt_keys (key, n) VALUES (?1, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1",
            )?
            .execute([key])?;
        Ok(())
    }

    /// Keys several target records share, with their count, in key order.
    pub fn duplicate_target_keys(&self, mut each: impl FnMut(String, u64)) -> rusqlite::Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, n FROM tgt_keys WHERE n > 1 ORDER BY key")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            each(row.get(0)?, row.get::<_, i64>(1)?.try_into().unwrap_or(0));
        }
        Ok(())
    }

    /// Source rows no target record matched (mapped ones only), in read order.
    pub fn unmatched_sources(&self, mut each: impl FnMut(SourceRow)) -> rusqlite::Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT n, source_id, key, target_id, NULL, dl_id, dl_state, dl_error FROM src
             WHERE state = 0 AND fields IS NOT NULL ORDER BY n",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            each(source_row(r)?);
        }
        Ok(())
    }

    /// Up to `limit` source ids to repair (missing in the target, or differing) after row
    /// `after`, in read order, with the last row number. Known failures are left to the
    /// dead-letter ledger (`ferry dlq replay` sends them again and resolves their letters).
    pub fn to_repair(&self, after: i64, limit: usize) -> rusqlite::Result<Vec<(i64, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT n, source_id FROM src
             WHERE n > ?1 AND fields IS NOT NULL AND state IN (0, 2) AND dl_id IS NULL
             ORDER BY n LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// Remembers a target record no source record matched (for `repair_deletes`).
    pub fn add_orphan(&self, target_id: &str, key: Option<&str>) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached("INSERT INTO orphans (target_id, key) VALUES (?1, ?2)")?
            .execute(params![target_id, key])?;
        Ok(())
    }

    /// Up to `limit` target records no source record matched, after row `after`:
    /// (row, target id, key).
    pub fn orphans(
        &self,
        after: i64,
        limit: usize,
    ) -> rusqlite::Result<Vec<(i64, String, Option<String>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT n, target_id, key FROM orphans WHERE n > ?1 ORDER BY n LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect()
    }
}

/// A source row from `n, source_id, key, target_id, fields, dl_id, dl_state, dl_error`.
fn source_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceRow> {
    let dl_id: Option<i64> = r.get(5)?;
    let dead_letter = match dl_id {
        Some(id) => Some(DeadLetterRef {
            id,
            state: r
                .get::<_, Option<String>>(6)?
                .as_deref()
                .and_then(DeadLetterState::parse)
                .unwrap_or(DeadLetterState::Open),
            error: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(SourceRow {
        n: r.get(0)?,
        source_id: r.get(1)?,
        key: r.get(2)?,
        target_id: r.get(3)?,
        fields: r.get(4)?,
        dead_letter,
    })
}
