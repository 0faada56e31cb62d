//! Streaming CSV rows: one record at a time from the (decoded) file, never the whole file.
//! Records are split by [`crate::split`], which resynchronises after an unterminated quote;
//! a row that is not a row of the header's columns is handed on as [`Broken`], not dropped.

use std::path::Path;

use crate::decode::{self, Resolved};
use crate::rows::{Broken, Cell, Problem, RawRow, ReadError, RowEvent, Visit};
use crate::split::{self, Lines, Split, Width};

/// How to read one CSV file.
#[derive(Debug, Clone, Copy)]
pub struct CsvRead {
    /// The field delimiter.
    pub delimiter: u8,
    /// The encoding (already resolved from `auto`).
    pub encoding: Resolved,
    /// The 1-based line of the header; lines above it are skipped.
    pub header_row: u32,
}

/// Feeds the header, then each non-blank data row, to `visit` until it breaks.
pub fn read_rows(path: &Path, how: CsvRead, visit: &mut Visit<'_>) -> Result<(), ReadError> {
    let mut lines = Lines::new(decode::open_text(path, how.encoding)?);
    while lines
        .peek(0)?
        .is_some_and(|l| l.number < u64::from(how.header_row))
    {
        lines.consume(1);
    }
    let Some(headers) = read_header(&mut lines, how)? else {
        return Ok(());
    };
    let width = Width::of(&headers);
    if visit(RowEvent::Header(headers)).is_break() {
        return Ok(());
    }
    while let Some(record) = split::next_record(&mut lines, how.delimiter, Some(width))? {
        if record.fields.is_blank() {
            continue;
        }
        if visit(RowEvent::Row(row(record, width, how.encoding))).is_break() {
            return Ok(());
        }
    }
    Ok(())
}

/// The first non-blank record: the header's cells, trimmed. A header with an unterminated
/// quote or bytes that do not decode makes the file unusable.
fn read_header(
    lines: &mut Lines<impl std::io::BufRead>,
    how: CsvRead,
) -> Result<Option<Vec<String>>, ReadError> {
    loop {
        let Some(record) = split::next_record(lines, how.delimiter, None)? else {
            return Ok(None);
        };
        if record.fields.is_blank() {
            continue;
        }
        if let Some((_, why)) = &record.unterminated {
            return Err(ReadError::File(format!(
                "the header (line {}) has an unterminated quote: {why}",
                record.line
            )));
        }
        let mut headers = Vec::with_capacity(record.fields.len());
        for bytes in record.fields.iter() {
            match cell(bytes, how.encoding) {
                Cell::Bad { reason, .. } => {
                    return Err(ReadError::File(format!(
                        "the header (line {}): {reason}",
                        record.line
                    )));
                }
                c => headers.push(c.text().trim_start_matches('\u{FEFF}').trim().to_owned()),
            }
        }
        return Ok(Some(headers));
    }
}

/// A data row: its cells, and what makes it broken if anything does.
fn row(record: Split, width: Width, encoding: Resolved) -> RawRow {
    let problem = match (record.unterminated, record.misfit) {
        (Some((column, why)), _) => Some(Problem::UnterminatedQuote { column, why }),
        (None, Some(found)) => Some(Problem::Width {
            found,
            columns: width.columns,
        }),
        (None, None) => None,
    };
    let broken = problem.map(|problem| Broken {
        problem,
        raw: record
            .raw
            .map(|raw| cell(&raw, encoding).text())
            .unwrap_or_default(),
    });
    RawRow {
        line: record.line,
        cells: record.fields.iter().map(|b| cell(b, encoding)).collect(),
        broken,
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
            // Not `{:?}`: that would double the backslashes of `\xNN`.
            let raw = escaped(bytes);
            Cell::Bad {
                reason: format!(
                    "\"{raw}\" holds bytes that are not valid {}",
                    encoding.name()
                ),
                raw,
            }
        }
    }
}

/// Text with each byte that is not valid UTF-8 shown as `\xNN`, so the bytes can be found.
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}
