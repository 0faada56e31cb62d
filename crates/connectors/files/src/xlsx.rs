//! XLSX: streaming a sheet's rows with calamine's cell reader (cells are not collected into a
//! whole-sheet range), and writing one workbook per batch with rust_xlsxwriter.

use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx, XlsxError, open_workbook};
use rust_xlsxwriter::{Format as CellFormat, Workbook};
use serde_json::Value;

use crate::rows::{Cell, RawRow, ReadError, RowEvent, Visit};

/// Excel's limit on the length of a text cell.
pub const MAX_TEXT: usize = 32_767;

fn open(path: &Path) -> Result<Xlsx<BufReader<File>>, ReadError> {
    open_workbook::<Xlsx<_>, _>(path).map_err(|e| match e {
        XlsxError::Io(io) => ReadError::Io(io),
        other => ReadError::File(format!("not a readable xlsx workbook: {other}")),
    })
}

/// The workbook's sheet names, in order.
pub fn sheet_names(path: &Path) -> Result<Vec<String>, ReadError> {
    Ok(open(path)?.sheet_names())
}

/// Feeds the header, then each non-blank data row of `sheet` (default: the first), to
/// `visit` until it breaks. `header_row` is 1-based; rows above it are skipped.
pub fn read_rows(
    path: &Path,
    sheet: Option<&str>,
    header_row: u32,
    visit: &mut Visit<'_>,
) -> Result<(), ReadError> {
    let mut workbook = open(path)?;
    let names = workbook.sheet_names();
    let sheet = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .cloned()
            .ok_or_else(|| {
                ReadError::File(format!(
                    "no sheet {wanted:?} (the workbook has {})",
                    quoted(&names)
                ))
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| ReadError::File("the workbook has no sheets".into()))?,
    };
    let mut reader = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(|e| ReadError::File(format!("cannot read sheet {sheet:?}: {e}")))?;
    let mut rows = RowAssembler {
        header_row: u64::from(header_row),
        header_seen: false,
        row: None,
        cells: Vec::new(),
    };
    loop {
        let cell = reader
            .next_cell()
            .map_err(|e| ReadError::File(format!("cannot read sheet {sheet:?}: {e}")))?;
        let Some(cell) = cell else { break };
        let (row, col) = cell.get_position();
        let row = u64::from(row) + 1;
        if rows.row != Some(row) {
            if rows.flush(visit).is_break() {
                return Ok(());
            }
            rows.row = Some(row);
        }
        let value = convert(cell.get_value());
        let col = col as usize;
        if rows.cells.len() <= col {
            rows.cells.resize(col + 1, Cell::Empty);
        }
        rows.cells[col] = value;
    }
    let _ = rows.flush(visit);
    Ok(())
}

/// Gathers the cells of one row (they arrive row by row, left to right, empty ones skipped).
struct RowAssembler {
    header_row: u64,
    header_seen: bool,
    row: Option<u64>,
    cells: Vec<Cell>,
}

impl RowAssembler {
    fn flush(&mut self, visit: &mut Visit<'_>) -> ControlFlow<()> {
        let Some(line) = self.row.take() else {
            return ControlFlow::Continue(());
        };
        let cells = std::mem::take(&mut self.cells);
        if line < self.header_row {
            return ControlFlow::Continue(());
        }
        if !self.header_seen {
            // The header is the first row at or below `header_row` (an empty header row has
            // no cells at all, so the next row with cells takes its place).
            self.header_seen = true;
            return visit(RowEvent::Header(
                cells.iter().map(|c| c.text().trim().to_owned()).collect(),
            ));
        }
        if cells.iter().all(Cell::is_empty) {
            return ControlFlow::Continue(());
        }
        visit(RowEvent::Row(RawRow {
            line,
            cells,
            broken: None,
        }))
    }
}

fn convert(value: &DataRef<'_>) -> Cell {
    match value {
        DataRef::Empty => Cell::Empty,
        DataRef::String(s) => Cell::Text(s.clone()),
        DataRef::SharedString(s) => Cell::Text((*s).to_owned()),
        DataRef::Int(i) => Cell::Int(*i),
        DataRef::Float(f) => Cell::Float(*f),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
            Cell::DateTime(y, mo, d, h, mi, s, ms)
        }
        DataRef::DateTime(dt) => Cell::Float(dt.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Iso(s.clone()),
        DataRef::Error(e) => Cell::Error(e.to_string()),
    }
}

fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        return "no sheets".into();
    }
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a value can be written to a cell (Excel refuses text longer than [`MAX_TEXT`]).
pub fn check_value(value: &Value) -> Result<(), String> {
    let len = match value {
        Value::String(s) => s.chars().count(),
        Value::Array(_) | Value::Object(_) => value.to_string().chars().count(),
        _ => 0,
    };
    if len > MAX_TEXT {
        Err(format!(
            "is {len} characters long; an Excel cell holds at most {MAX_TEXT}"
        ))
    } else {
        Ok(())
    }
}

/// A workbook with one sheet: the bold header row, then the rows. Strings are written as
/// text, JSON numbers as numbers, booleans as booleans, arrays and objects as JSON text.
pub fn workbook(
    headers: &[String],
    rows: &[Vec<Value>],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let bold = CellFormat::new().set_bold();
    for (c, header) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), header, &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, value) in row.iter().enumerate() {
            let c = col(c);
            match value {
                Value::Null => {}
                Value::Bool(b) => {
                    sheet.write_boolean(r, c, *b)?;
                }
                Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) if i.unsigned_abs() > 1 << 53 => {
                        sheet.write_string(r, c, i.to_string())?;
                    }
                    (_, Some(f)) => {
                        sheet.write_number(r, c, f)?;
                    }
                    _ => {
                        sheet.write_string(r, c, n.to_string())?;
                    }
                },
                Value::String(s) => {
                    sheet.write_string(r, c, s)?;
                }
                other => {
                    sheet.write_string(r, c, other.to_string())?;
                }
            }
        }
    }
    workbook.save_to_buffer()
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}
