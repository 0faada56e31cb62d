//! Typed settings of the `files` connector: the system's settings, a flow's `source:` options
//! and its `target:` options. Each is deserialized from its settings map and then validated;
//! every problem is a [`ConfigIssue`] whose path is relative to that map.

use std::collections::BTreeSet;

use ferry_model::config::ConfigIssue;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::source::Pattern;

/// Settings under `systems.<name>` for `kind: files`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// The folder the files are read from and written to, relative to the config file's
    /// folder unless absolute. Created on the first write.
    pub dir: String,
}

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma (or other delimiter) separated values.
    Csv,
    /// Excel workbook (Office Open XML).
    Xlsx,
}

impl Format {
    /// The format a file name's extension implies (`.csv`, `.xlsx`, `.xlsm`), any case.
    pub fn from_name(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "xlsx" | "xlsm" => Some(Format::Xlsx),
            _ => None,
        }
    }
}

/// The text encoding of CSV files being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
pub enum ReadEncoding {
    /// UTF-8, with or without a byte order mark.
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    /// GBK (decoded as GB18030, its superset).
    #[serde(rename = "gbk", alias = "GBK")]
    Gbk,
    /// GB18030.
    #[serde(rename = "gb18030", alias = "GB18030")]
    Gb18030,
    /// UTF-8 when the file has a UTF-8 byte order mark or is (essentially) valid UTF-8,
    /// GB18030 otherwise.
    #[default]
    #[serde(rename = "auto")]
    Auto,
}

/// How a column's cells are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Kept as a string (the default).
    Text,
    /// A whole number, as a JSON number.
    Integer,
    /// An exact decimal, as a decimal string (`"1234.50"`).
    Decimal,
    /// A calendar date, as `YYYY-MM-DD`.
    Date,
    /// `true`/`false` (also `yes`/`no`, `y`/`n`, `1`/`0`, `是`/`否`).
    #[serde(alias = "boolean")]
    Bool,
}

impl ColumnType {
    /// The name used in messages (`a decimal`).
    pub fn article_name(self) -> &'static str {
        match self {
            ColumnType::Text => "a text",
            ColumnType::Integer => "an integer",
            ColumnType::Decimal => "a decimal",
            ColumnType::Date => "a date",
            ColumnType::Bool => "a yes/no value",
        }
    }
}

fn default_header_row() -> u32 {
    1
}

/// Options of a flow's `source:` reading from a `files` system.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// File names to read, matched case-insensitively against the names in `dir`
    /// (`*` is any run of characters, `?` one character), e.g. `customers*.csv`.
    pub pattern: String,
    /// `csv` or `xlsx`; by default from each file's extension.
    #[serde(default)]
    pub format: Option<Format>,
    /// CSV text encoding: `utf-8`, `gbk`, `gb18030` or `auto` (default).
    #[serde(default)]
    pub encoding: ReadEncoding,
    /// CSV field delimiter, one character (default `,`; `tab` or `"\t"` for tab).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// XLSX sheet name; by default the first sheet.
    #[serde(default)]
    pub sheet: Option<String>,
    /// The 1-based line (CSV) or row (XLSX) holding the column names; rows above are skipped.
    #[serde(default = "default_header_row")]
    pub header_row: u32,
    /// The column holding the record id (by header or by its renamed field name). Required:
    /// it must be stable, records are upserted by it later.
    pub id: String,
    /// Renames, source header → field name. Columns not listed keep their header as name.
    #[serde(default)]
    pub columns: IndexMap<String, String>,
    /// Column (header or field name) → `text|integer|decimal|date|bool`. Columns not listed
    /// are kept as text.
    #[serde(default)]
    pub types: IndexMap<String, ColumnType>,
}

/// The text encoding of CSV files being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
pub enum WriteEncoding {
    /// UTF-8 without a byte order mark (the default).
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    /// UTF-8 with a byte order mark, so that Excel opens it with the right encoding.
    #[serde(rename = "utf-8-bom", alias = "utf8-bom", alias = "UTF-8-BOM")]
    Utf8Bom,
    /// GBK, for Chinese ERPs that import nothing else. A record with a character GBK cannot
    /// encode is refused.
    #[serde(rename = "gbk", alias = "GBK")]
    Gbk,
}

/// One output column: a canonical field name, or `{field: header}` to give it another header.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ColumnItem {
    /// The field, written under its own name.
    Field(String),
    /// `{field: header}`: the field written under another header (exactly one entry).
    Renamed(IndexMap<String, String>),
}

/// Options of a flow's `target:` writing to a `files` system.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// Output file name; `{date}` (YYYY-MM-DD) and `{timestamp}` (YYYYMMDDTHHMMSS), local
    /// time, are replaced when a batch is written. The extension picks the format: `.csv` or
    /// `.xlsx`.
    pub file: String,
    /// The fields to write, in column order: `name` or `{field: header}`.
    pub columns: Vec<ColumnItem>,
    /// CSV encoding: `utf-8` (default), `utf-8-bom` or `gbk`.
    #[serde(default)]
    pub encoding: WriteEncoding,
    /// CSV field delimiter, one character (default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
}

/// Validated source options.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The file name pattern.
    pub pattern: Pattern,
    /// The forced format, if any.
    pub format: Option<Format>,
    /// CSV encoding.
    pub encoding: ReadEncoding,
    /// CSV delimiter byte.
    pub delimiter: u8,
    /// XLSX sheet.
    pub sheet: Option<String>,
    /// 1-based header line/row.
    pub header_row: u32,
    /// The id column (header or field name).
    pub id: String,
    /// Renames header → field.
    pub columns: IndexMap<String, String>,
    /// Types by header or field name.
    pub types: IndexMap<String, ColumnType>,
}

/// Validated target options.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The name template.
    pub file: String,
    /// Format from the template's extension.
    pub format: Format,
    /// (field, header) in column order.
    pub columns: Vec<(String, String)>,
    /// CSV encoding.
    pub encoding: WriteEncoding,
    /// CSV delimiter byte.
    pub delimiter: u8,
}

/// Parses and validates the system settings.
pub fn parse_system(map: &Map<String, Value>) -> Result<SystemSettings, Vec<ConfigIssue>> {
    let settings: SystemSettings = ferry_kit::settings::parse(map)?;
    if settings.dir.trim().is_empty() {
        return Err(vec![ConfigIssue::new(["dir"], "must name a folder")]);
    }
    Ok(settings)
}

/// Parses and validates a flow's `source:` options.
pub fn parse_source(map: &Map<String, Value>) -> Result<SourceSpec, Vec<ConfigIssue>> {
    let opts: SourceOptions = ferry_kit::settings::parse(map)?;
    let mut issues = Vec::new();
    let pattern = match Pattern::new(&opts.pattern) {
        Ok(p) => Some(p),
        Err(message) => {
            issues.push(ConfigIssue::new(["pattern"], message));
            None
        }
    };
    if opts.format.is_none()
        && let Some((_, ext)) = opts.pattern.rsplit_once('.')
        && !ext.contains(['*', '?'])
        && Format::from_name(&opts.pattern).is_none()
    {
        issues.push(ConfigIssue::new(
            ["format"],
            format!("cannot tell the format from the extension `.{ext}` of the pattern; set `format: csv` or `format: xlsx`"),
        ));
    }
    let delimiter = match parse_delimiter(opts.delimiter.as_deref()) {
        Ok(d) => d,
        Err(message) => {
            issues.push(ConfigIssue::new(["delimiter"], message));
            b','
        }
    };
    if opts.header_row == 0 {
        issues.push(ConfigIssue::new(
            ["header_row"],
            "is 1-based: the first line is 1",
        ));
    }
    if opts.id.trim().is_empty() {
        issues.push(ConfigIssue::new(
            ["id"],
            "must name the column holding the record id",
        ));
    }
    if opts.format == Some(Format::Xlsx)
        && (opts.delimiter.is_some() || opts.encoding != ReadEncoding::Auto)
    {
        let key = if opts.delimiter.is_some() {
            "delimiter"
        } else {
            "encoding"
        };
        issues.push(ConfigIssue::new(
            [key],
            "applies to CSV files only, not to xlsx",
        ));
    }
    if opts.format == Some(Format::Csv) && opts.sheet.is_some() {
        issues.push(ConfigIssue::new(
            ["sheet"],
            "applies to xlsx files only, not to csv",
        ));
    }
    if matches!(&opts.sheet, Some(s) if s.trim().is_empty()) {
        issues.push(ConfigIssue::new(
            ["sheet"],
            "must name a sheet (leave it out for the first sheet)",
        ));
    }
    let mut seen = BTreeSet::new();
    for (header, field) in &opts.columns {
        if field.trim().is_empty() {
            issues.push(ConfigIssue::at(
                path(&["columns", header]),
                "the field name must not be empty",
            ));
        } else if !seen.insert(field.as_str()) {
            issues.push(ConfigIssue::at(
                path(&["columns", header]),
                format!("two columns are renamed to `{field}`"),
            ));
        }
    }
    match pattern {
        Some(pattern) if issues.is_empty() => Ok(SourceSpec {
            pattern,
            format: opts.format,
            encoding: opts.encoding,
            delimiter,
            sheet: opts.sheet,
            header_row: opts.header_row,
            id: opts.id.trim().to_owned(),
            columns: opts.columns,
            types: opts.types,
        }),
        _ => Err(issues),
    }
}

/// Parses and validates a flow's `target:` options.
pub fn parse_target(map: &Map<String, Value>) -> Result<TargetSpec, Vec<ConfigIssue>> {
    let opts: TargetOptions = ferry_kit::settings::parse(map)?;
    let mut issues = Vec::new();
    let format = match check_file_template(&opts.file) {
        Ok(format) => Some(format),
        Err(message) => {
            issues.push(ConfigIssue::new(["file"], message));
            None
        }
    };
    let delimiter = match parse_delimiter(opts.delimiter.as_deref()) {
        Ok(d) => d,
        Err(message) => {
            issues.push(ConfigIssue::new(["delimiter"], message));
            b','
        }
    };
    if format == Some(Format::Xlsx) {
        if opts.delimiter.is_some() {
            issues.push(ConfigIssue::new(
                ["delimiter"],
                "applies to CSV files only, not to xlsx",
            ));
        }
        if opts.encoding != WriteEncoding::Utf8 {
            issues.push(ConfigIssue::new(
                ["encoding"],
                "applies to CSV files only, not to xlsx",
            ));
        }
    }
    let mut columns = Vec::new();
    if opts.columns.is_empty() {
        issues.push(ConfigIssue::new(
            ["columns"],
            "list the fields to write, in column order",
        ));
    }
    let mut fields = BTreeSet::new();
    let mut headers = BTreeSet::new();
    for (i, item) in opts.columns.iter().enumerate() {
        let at = || path(&["columns", &i.to_string()]);
        let (field, header) = match item {
            ColumnItem::Field(f) => (f.clone(), f.clone()),
            ColumnItem::Renamed(m) if m.len() == 1 => {
                let (f, h) = m.iter().next().expect("one entry");
                (f.clone(), h.clone())
            }
            ColumnItem::Renamed(_) => {
                issues.push(ConfigIssue::at(
                    at(),
                    "write `{field: header}` with exactly one entry",
                ));
                continue;
            }
        };
        if field.trim().is_empty() || header.trim().is_empty() {
            issues.push(ConfigIssue::at(
                at(),
                "field and header names must not be empty",
            ));
            continue;
        }
        if !fields.insert(field.clone()) {
            issues.push(ConfigIssue::at(
                at(),
                format!("the field `{field}` is listed twice"),
            ));
        } else if !headers.insert(header.clone()) {
            issues.push(ConfigIssue::at(
                at(),
                format!("the header `{header}` is used twice"),
            ));
        }
        columns.push((field, header));
    }
    match format {
        Some(format) if issues.is_empty() => Ok(TargetSpec {
            file: opts.file,
            format,
            columns,
            encoding: opts.encoding,
            delimiter,
        }),
        _ => Err(issues),
    }
}

/// Checks an output name template; returns the format its extension implies.
fn check_file_template(file: &str) -> Result<Format, String> {
    if file.trim().is_empty() {
        return Err("must name the output file, e.g. `customers-{date}.csv`".into());
    }
    if file.contains(['/', '\\']) || file == "." || file == ".." {
        return Err("must be a file name inside the system's `dir`, without folders".into());
    }
    let mut rest = file;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err("has a `{` without a closing `}`".into());
        };
        let name = &rest[open + 1..open + close];
        if name != "date" && name != "timestamp" {
            return Err(format!(
                "unknown placeholder `{{{name}}}`: use `{{date}}` or `{{timestamp}}`"
            ));
        }
        rest = &rest[open + close + 1..];
    }
    match Format::from_name(file) {
        Some(Format::Xlsx) if file.to_ascii_lowercase().ends_with(".xlsm") => {
            Err("write `.xlsx`, not `.xlsm` (no macros are written)".into())
        }
        Some(format) => Ok(format),
        None => Err("must end in `.csv` or `.xlsx` (the extension picks the format)".into()),
    }
}

/// `None` → `,`; otherwise exactly one ASCII character (`tab` means a tab).
fn parse_delimiter(value: Option<&str>) -> Result<u8, String> {
    match value {
        None => Ok(b','),
        Some("tab" | "\\t") => Ok(b'\t'),
        Some(s) if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
            Ok(s.as_bytes()[0])
        }
        Some(s) => Err(format!(
            "must be one ASCII character other than a quote or line break (got {s:?})"
        )),
    }
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}
