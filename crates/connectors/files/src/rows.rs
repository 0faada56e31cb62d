//! What the CSV and XLSX readers hand to the source: header and data rows of cells, and how
//! one cell becomes a field value (text by default, or parsed by the column's `types:` entry).

use std::io;
use std::ops::ControlFlow;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::config::ColumnType;

/// One cell as read from a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value.
    Empty,
    /// Text (every CSV cell, XLSX strings).
    Text(String),
    /// An XLSX integer.
    Int(i64),
    /// An XLSX number.
    Float(f64),
    /// An XLSX boolean.
    Bool(bool),
    /// An XLSX date or date-time: year, month, day, hour, minute, second, millisecond.
    DateTime(u16, u8, u8, u8, u8, u8, u16),
    /// An XLSX ISO 8601 date or time, kept as written.
    Iso(String),
    /// An XLSX error value (`#DIV/0!`).
    Error(String),
    /// Bytes that could not be decoded: the lossy text and why.
    Bad {
        /// The text with undecodable bytes replaced by U+FFFD.
        raw: String,
        /// What was wrong.
        reason: String,
    },
}

/// A header or data row.
#[derive(Debug)]
pub enum RowEvent {
    /// The header row's cells as text, trimmed.
    Header(Vec<String>),
    /// A data row (rows whose cells are all empty are not reported).
    Row(RawRow),
}

/// A data row and where it is.
#[derive(Debug)]
pub struct RawRow {
    /// The 1-based line (CSV, where the record starts) or row (XLSX).
    pub line: u64,
    /// The cells, left to right.
    pub cells: Vec<Cell>,
    /// Set when the reader could not take the row apart into the header's columns (CSV);
    /// `cells` are then its best reading of the row.
    pub broken: Option<Broken>,
}

/// A CSV row that is not a row of the header's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    /// What is wrong.
    pub problem: Problem,
    /// The row's text as read (undecodable bytes as `\xNN`).
    pub raw: String,
}

/// What is wrong with a [`Broken`] row.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A quote opened a value in this 0-based column and is not closed (see `split`): the
    /// row is its first line alone, and reading resumed on the next line.
    UnterminatedQuote {
        /// The column whose value the quote opened.
        column: usize,
        /// Why the quote is taken as unterminated.
        why: crate::split::Unclosed,
    },
    /// The row has `found` values; the header has `columns` columns.
    Width {
        /// Values in the row.
        found: usize,
        /// Columns in the header.
        columns: usize,
    },
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file system failed (worth retrying).
    Io(io::Error),
    /// The file itself is unusable (not a workbook, no such sheet): reported as an error
    /// record, not retried.
    File(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// The callback readers feed rows to; `Break` stops reading.
pub type Visit<'a> = dyn FnMut(RowEvent) -> ControlFlow<()> + 'a;

impl Cell {
    /// The cell as text: what an untyped column holds and what error records show.
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) | Cell::Iso(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => float_text(*f),
            Cell::Bool(b) => b.to_string(),
            Cell::DateTime(y, mo, d, h, mi, s, ms) => {
                if (*h, *mi, *s, *ms) == (0, 0, 0, 0) {
                    format!("{y:04}-{mo:02}-{d:02}")
                } else if *ms == 0 {
                    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
                } else {
                    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}")
                }
            }
            Cell::Error(e) => e.clone(),
            Cell::Bad { raw, .. } => raw.clone(),
        }
    }

    /// Whether the cell holds nothing.
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.is_empty(),
            _ => false,
        }
    }

    /// The field value for a column of type `ty` (`None`: untyped, kept as text). Empty cells
    /// are `""` in untyped and text columns and `null` in typed ones. The error is the reason,
    /// e.g. `"12,5x" is not a decimal`.
    pub fn convert(&self, ty: Option<ColumnType>) -> Result<Value, String> {
        match self {
            Cell::Bad { reason, .. } => return Err(reason.clone()),
            Cell::Error(e) => return Err(format!("the cell holds the error {e}")),
            _ => {}
        }
        let ty = match ty {
            None | Some(ColumnType::Text) => return Ok(Value::String(self.text())),
            Some(ty) => ty,
        };
        if self.is_empty() {
            return Ok(Value::Null);
        }
        let not_a = || format!("{:?} is not {}", self.text(), ty.article_name());
        match ty {
            ColumnType::Text => unreachable!("handled above"),
            ColumnType::Integer => match self {
                Cell::Int(i) => Ok(Value::from(*i)),
                Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Ok(Value::from(*f as i64))
                }
                Cell::Text(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| not_a()),
                _ => Err(not_a()),
            },
            ColumnType::Decimal => match self {
                Cell::Int(i) => Ok(Value::String(i.to_string())),
                Cell::Float(f) if f.is_finite() => Ok(Value::String(float_text(*f))),
                Cell::Text(s) => parse_decimal(s.trim())
                    .map(|d| Value::String(d.to_string()))
                    .ok_or_else(not_a),
                _ => Err(not_a()),
            },
            ColumnType::Date => match self {
                Cell::DateTime(y, mo, d, ..) => Ok(Value::String(format!("{y:04}-{mo:02}-{d:02}"))),
                Cell::Text(s) | Cell::Iso(s) => parse_date(s.trim())
                    .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                    .ok_or_else(not_a),
                _ => Err(not_a()),
            },
            ColumnType::Bool => match self {
                Cell::Bool(b) => Ok(Value::Bool(*b)),
                Cell::Int(0) => Ok(Value::Bool(false)),
                Cell::Int(1) => Ok(Value::Bool(true)),
                Cell::Float(f) if *f == 0.0 || *f == 1.0 => Ok(Value::Bool(*f == 1.0)),
                Cell::Text(s) => parse_bool(s.trim()).map(Value::Bool).ok_or_else(not_a),
                _ => Err(not_a()),
            },
        }
    }
}

/// A float as a decimal string without binary noise: rounded to 15 significant digits (what
/// Excel shows), trailing zeros dropped. `1234.5` → `"1234.5"`, `0.1 + 0.2` → `"0.3"`.
pub fn float_text(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    match Decimal::from_scientific(&format!("{f:.14e}")) {
        Ok(d) => d.normalize().to_string(),
        Err(_) => f.to_string(),
    }
}

fn parse_decimal(s: &str) -> Option<Decimal> {
    if s.is_empty() {
        return None;
    }
    Decimal::from_str(s).ok().or_else(|| {
        if s.contains(['e', 'E']) {
            Decimal::from_scientific(s).ok()
        } else {
            None
        }
    })
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    const FORMATS: [&str; 5] = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d"];
    FORMATS
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" | "是" | "真" => Some(true),
        "false" | "f" | "no" | "n" | "0" | "否" | "假" => Some(false),
        _ => None,
    }
}
