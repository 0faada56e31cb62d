//! Streaming CSV rows: one record at a time from the (decoded) file, never the whole file.

use std::ops::ControlFlow;
use std::path::Path;

use super::decode::{self, Resolved};
use super::rows::{Cell, RawRow, ReadError, RowEvent, Visit};

/// How to read one CSV file.
#[derive(Debug, Clone, Copy)]
pub struct CsvRead {
    /// The field delimiter.
    pub delimiter: u8,
    /// The encoding (already resolved from `auto`).
    pub encoding: Resolved,
    /// The 1-based line of the header; records starting above it are skipped.
    pub header_row: u32,
}

/// Feeds the header, then each non-blank data row, to `visit` until it breaks.
pub fn read_rows(path: &Path, how: CsvRead, visit: &mut Visit<'_>) -> Result<(), ReadError> {
    let input = decode::open_text(path, how.encoding)?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(how.delimiter)
        // Records end at `\n` only: with csv's default CRLF handling the `\n` of a `\r\n` is
        // consumed with the *next* record, whose reported line is then one too low. The `\r`
        // left at the end of the last field is cut off below.
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_reader(input);
    let mut record = ::csv::ByteRecord::new();
    let mut header_seen = false;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                let line = e
                    .position()
                    .map(|p| format!(" near line {}", p.line()))
                    .unwrap_or_default();
                return match e.into_kind() {
                    ::csv::ErrorKind::Io(io) => Err(ReadError::Io(io)),
                    other => Err(ReadError::File(format!(
                        "cannot parse the CSV{line}: {other:?}"
                    ))),
                };
            }
        }
        let line = record.position().map_or(0, ::csv::Position::line);
        let last = record.len().saturating_sub(1);
        let fields: Vec<&[u8]> = record
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == last {
                    f.strip_suffix(b"\r").unwrap_or(f)
                } else {
                    f
                }
            })
            .collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        if !header_seen {
            if line < u64::from(how.header_row) {
                continue;
            }
            header_seen = true;
            let headers = fields
                .iter()
                .map(|b| {
                    String::from_utf8_lossy(b)
                        .trim_start_matches('\u{FEFF}')
                        .trim()
                        .to_owned()
                })
                .collect();
            if visit(RowEvent::Header(headers)).is_break() {
                return Ok(());
            }
            continue;
        }
        let cells = fields
            .iter()
            .map(|bytes| cell(bytes, how.encoding))
            .collect();
        if let ControlFlow::Break(()) = visit(RowEvent::Row(RawRow { line, cells })) {
            return Ok(());
        }
    }
}

fn cell(bytes: &[u8], encoding: Resolved) -> Cell {
    match std::str::from_utf8(bytes) {
        Ok(s) if encoding == Resolved::Gb18030 && s.contains('\u{FFFD}') => Cell::Bad {
            raw: s.to_owned(),
            reason: format!("{:?} holds bytes that are not valid {}", s, encoding.name()),
        },
        Ok(s) => Cell::Text(s.to_owned()),
        Err(_) => {
            let raw = String::from_utf8_lossy(bytes).into_owned();
            Cell::Bad {
                reason: format!("{raw:?} holds bytes that are not valid {}", encoding.name()),
                raw,
            }
        }
    }
}
