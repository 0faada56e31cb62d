//! Reading: which files are new or changed (the cursor), turning rows into records, paging
//! inside a file, and `fetch` by id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use ferry_model::{ConnectorError, Record};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ColumnType, Format, SourceSpec};
use crate::csv::{self as csv_rows, CsvRead};
use crate::decode::{self, FileScan};
use crate::rows::{Cell, Problem, RawRow, ReadError, RowEvent, Visit};
use crate::xlsx;
use ferry_kit::{Page, Source};

/// A file name pattern: `*` matches any run of characters, `?` one character; compared
/// case-insensitively.
#[derive(Debug, Clone)]
pub struct Pattern {
    chars: Vec<char>,
}

impl Pattern {
    /// Checks and compiles a pattern.
    pub fn new(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("must be a file name pattern such as `customers*.csv`".into());
        }
        if text.contains(['/', '\\']) {
            return Err(
                "matches file names inside `dir` only; put folders in the system's `dir`".into(),
            );
        }
        Ok(Self {
            chars: text.chars().flat_map(char::to_lowercase).collect(),
        })
    }

    /// Whether a file name matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
        let (p, n) = (&self.chars, &name);
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
                pi += 1;
                ni += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ni));
                pi += 1;
            } else if let Some((sp, sn)) = star {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
}

/// A file found in the folder.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The file name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time.
    pub mtime: SystemTime,
}

impl Listed {
    fn mtime_text(&self) -> String {
        DateTime::<Utc>::from(self.mtime).to_rfc3339_opts(SecondsFormat::Nanos, true)
    }
}

/// Files in `dir` whose name passes `keep`, oldest first (by modification time, then name).
/// Hidden files (`.name`, which includes the sink's `.part` files) and Excel lock files
/// (`~$name`) are never listed.
pub fn list_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<Listed>, ConnectorError> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            ConnectorError::fatal(format!("the folder {} does not exist", dir.display()))
        }
        _ => io_error(&format!("cannot list the folder {}", dir.display()), &e),
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| io_error(&format!("cannot list the folder {}", dir.display()), &e))?;
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(dir = %dir.display(), "skipping a file whose name is not valid UTF-8");
            continue;
        };
        if name.starts_with('.') || name.starts_with("~$") || !keep(&name) {
            continue;
        }
        let path = entry.path();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // gone meanwhile
            Err(e) => return Err(io_error(&format!("cannot read {name}"), &e)),
        };
        if !meta.is_file() {
            continue;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        files.push(Listed {
            name,
            path,
            size: meta.len(),
            mtime,
        });
    }
    files.sort_by(|a, b| (a.mtime, &a.name).cmp(&(b.mtime, &b.name)));
    Ok(files)
}

/// An I/O failure: permissions are for an operator to fix, anything else may pass.
pub fn io_error(what: &str, e: &std::io::Error) -> ConnectorError {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => ConnectorError::fatal(format!("{what}: {e}")),
        _ => ConnectorError::transient(format!("{what}: {e}")),
    }
}

/// The source's cursor. Serialized as JSON:
/// `{"v":1,"done":{"<file>":{"size":…,"mtime":"<RFC 3339>","hash":"<sha256>"}},"current":{"file":…,"hash":…,"row":…}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cursor {
    /// Format version.
    pub v: u32,
    /// Files fully imported, by name.
    #[serde(default)]
    pub done: BTreeMap<String, Seen>,
    /// The file being imported, when a page ended inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Current>,
}

/// A file imported in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Size in bytes when imported.
    pub size: u64,
    /// Modification time when imported (RFC 3339, nanoseconds).
    pub mtime: String,
    /// SHA-256 of the content imported.
    pub hash: String,
}

/// The position inside the file in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    /// The file name.
    pub file: String,
    /// SHA-256 of the version being imported; another hash restarts the file at row 0.
    pub hash: String,
    /// Data rows of the file already returned (the next page starts with this one, 0-based).
    pub row: u64,
}

impl Cursor {
    fn parse(cursor: Option<&str>) -> Result<Self, ConnectorError> {
        match cursor {
            None | Some("") => Ok(Cursor {
                v: 1,
                ..Cursor::default()
            }),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                ConnectorError::fatal(format!(
                    "the cursor is not a files cursor ({e}): {text:.80}"
                ))
            }),
        }
    }
}

/// A source reading the files of one folder that match a pattern.
#[derive(Debug)]
pub struct FilesSource {
    pub(crate) dir: PathBuf,
    pub(crate) spec: Arc<SourceSpec>,
}

#[async_trait]
impl Source for FilesSource {
    async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let (dir, spec, cursor) = (
            self.dir.clone(),
            Arc::clone(&self.spec),
            cursor.map(str::to_owned),
        );
        blocking(move || read_page(&dir, &spec, cursor.as_deref(), limit.max(1))).await
    }

    async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let (dir, spec, ids) = (self.dir.clone(), Arc::clone(&self.spec), ids.to_vec());
        blocking(move || fetch(&dir, &spec, &ids)).await
    }

    async fn probe(&self) -> ferry_kit::Probe {
        let (dir, spec) = (self.dir.clone(), Arc::clone(&self.spec));
        blocking(move || Ok(crate::probe::inspect_source(&dir, &spec)))
            .await
            .unwrap_or_else(|e| ferry_kit::Probe::failed(&e))
    }
}

/// Runs file work on tokio's blocking pool.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConnectorError> + Send + 'static,
) -> Result<T, ConnectorError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ConnectorError::fatal(format!("file task failed: {e}")))?
}

/// One page: finish the file in progress, then the new or changed files by (mtime, name).
pub fn read_page(
    dir: &Path,
    spec: &SourceSpec,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page, ConnectorError> {
    let mut state = Cursor::parse(cursor)?;
    let listed = list_files(dir, |name| spec.pattern.matches(name))?;
    state
        .done
        .retain(|name, _| listed.iter().any(|f| &f.name == name));
    let mut queue: Vec<&Listed> = listed
        .iter()
        .filter(|f| !matches!(state.done.get(&f.name), Some(seen) if seen.size == f.size && seen.mtime == f.mtime_text()))
        .collect();
    if let Some(current) = &state.current {
        match queue.iter().position(|f| f.name == current.file) {
            Some(pos) => {
                let file = queue.remove(pos);
                queue.insert(0, file);
            }
            None => state.current = None,
        }
    }
    let mut records = Vec::new();
    let mut more = false;
    for file in queue {
        if records.len() >= limit {
            more = true;
            break;
        }
        let scan = decode::scan_file(&file.path)
            .map_err(|e| io_error(&format!("cannot read {}", file.name), &e))?;
        let start = match state.current.take() {
            Some(c) if c.file == file.name && c.hash == scan.hash => c.row,
            _ => 0,
        };
        let seen = Seen {
            size: file.size,
            mtime: file.mtime_text(),
            hash: scan.hash.clone(),
        };
        if start == 0 && matches!(state.done.get(&file.name), Some(s) if s.hash == scan.hash) {
            state.done.insert(file.name.clone(), seen); // touched, same content
            continue;
        }
        let before = records.len();
        let outcome = read_file(file, &scan, spec, start, limit, &mut records)?;
        // The file changed while it was read: drop what was read; the next read sees the new
        // version (which is imported whole).
        let now = std::fs::metadata(&file.path)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        if now != Some((file.size, file.mtime)) {
            records.truncate(before);
            more = true;
            break;
        }
        match outcome {
            Outcome::Finished => {
                state.done.insert(file.name.clone(), seen);
            }
            Outcome::Partial(row) => {
                state.current = Some(Current {
                    file: file.name.clone(),
                    hash: scan.hash.clone(),
                    row,
                });
                more = true;
                break;
            }
        }
    }
    let cursor =
        serde_json::to_string(&state).map_err(|e| ConnectorError::fatal(format!("cursor: {e}")))?;
    Ok(Page {
        records,
        cursor,
        more,
        pass: None,
    })
}

enum Outcome {
    Finished,
    /// The page is full; the next one starts at this data row.
    Partial(u64),
}

/// Reads data rows `start..` of a file into `out` until `out` holds `limit` records.
fn read_file(
    file: &Listed,
    scan: &FileScan,
    spec: &SourceSpec,
    start: u64,
    limit: usize,
    out: &mut Vec<Record>,
) -> Result<Outcome, ConnectorError> {
    let mut layout: Option<Layout> = None;
    let mut problem: Option<String> = None;
    let mut outcome = Outcome::Finished;
    let mut index = 0u64;
    let updated_at = Some(DateTime::<Utc>::from(file.mtime));
    let result = visit_file(file, scan, spec, &mut |event| match event {
        RowEvent::Header(headers) => {
            match Layout::new(&file.name, headers, spec, file_format(file, spec)) {
                Ok(l) => {
                    layout = Some(l);
                    ControlFlow::Continue(())
                }
                Err(message) => {
                    problem = Some(message);
                    ControlFlow::Break(())
                }
            }
        }
        RowEvent::Row(row) => {
            if index < start {
                index += 1;
                return ControlFlow::Continue(());
            }
            if out.len() >= limit {
                outcome = Outcome::Partial(index);
                return ControlFlow::Break(());
            }
            let layout = layout.as_ref().expect("the header comes first");
            let mut record = layout.record(row);
            record.updated_at = updated_at;
            out.push(record);
            index += 1;
            ControlFlow::Continue(())
        }
    });
    match result {
        Ok(()) => {}
        Err(ReadError::Io(e)) => return Err(io_error(&format!("cannot read {}", file.name), &e)),
        Err(ReadError::File(message)) => problem = Some(message),
    }
    if let Some(message) = problem {
        if out.len() >= limit {
            return Ok(Outcome::Partial(index));
        }
        let mut fields = Map::new();
        fields.insert("_file".into(), Value::String(file.name.clone()));
        fields.insert(
            "_error".into(),
            Value::String(format!("{}: {message}", file.name)),
        );
        let mut record = Record::new(file.name.clone(), fields);
        record.updated_at = updated_at;
        record.origin = Some(file.name.clone());
        out.push(record);
        return Ok(Outcome::Finished);
    }
    Ok(outcome)
}

fn file_format(file: &Listed, spec: &SourceSpec) -> Option<Format> {
    spec.format.or_else(|| Format::from_name(&file.name))
}

/// Feeds a file's header and rows to `visit`, whatever its format.
fn visit_file(
    file: &Listed,
    scan: &FileScan,
    spec: &SourceSpec,
    visit: &mut Visit<'_>,
) -> Result<(), ReadError> {
    match file_format(file, spec) {
        Some(Format::Csv) => {
            let how = CsvRead {
                delimiter: spec.delimiter,
                encoding: scan.resolve(spec.encoding),
                header_row: spec.header_row,
            };
            csv_rows::read_rows(&file.path, how, visit)
        }
        Some(Format::Xlsx) => {
            xlsx::read_rows(&file.path, spec.sheet.as_deref(), spec.header_row, visit)
        }
        None => Err(ReadError::File(
            "cannot tell the format from the file name; set `format:` in the source".into(),
        )),
    }
}

/// How the columns of one file become fields.
struct Layout {
    file: String,
    /// Where rows are (`customers.csv line` / `book.xlsx row`).
    place: String,
    headers: Vec<String>,
    fields: Vec<String>,
    types: Vec<Option<ColumnType>>,
    id: usize,
}

impl Layout {
    fn new(
        file: &str,
        raw_headers: Vec<String>,
        spec: &SourceSpec,
        format: Option<Format>,
    ) -> Result<Self, String> {
        let mut headers: Vec<String> = Vec::with_capacity(raw_headers.len());
        for (i, header) in raw_headers.into_iter().enumerate() {
            let base = if header.is_empty() {
                format!("column_{}", i + 1)
            } else {
                header
            };
            let mut name = base.clone();
            let mut n = 2;
            while headers.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            headers.push(name);
        }
        let fields: Vec<String> = headers
            .iter()
            .map(|h| spec.columns.get(h).cloned().unwrap_or_else(|| h.clone()))
            .collect();
        let shown = || {
            headers
                .iter()
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for renamed in spec.columns.keys() {
            if !headers.contains(renamed) {
                return Err(format!(
                    "no column {renamed:?} (named in `columns`); the header has {}",
                    shown()
                ));
            }
        }
        let position = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .or_else(|| fields.iter().position(|f| f == name))
        };
        for typed in spec.types.keys() {
            if position(typed).is_none() {
                return Err(format!(
                    "no column {typed:?} (named in `types`); the header has {}",
                    shown()
                ));
            }
        }
        let id = position(&spec.id).ok_or_else(|| {
            format!(
                "no id column {:?}; the header (line {}) has {}",
                spec.id,
                spec.header_row,
                shown()
            )
        })?;
        let types = headers
            .iter()
            .zip(&fields)
            .map(|(h, f)| spec.types.get(h).or_else(|| spec.types.get(f)).copied())
            .collect();
        let place = match format {
            Some(Format::Xlsx) => format!("{file} row"),
            _ => format!("{file} line"),
        };
        Ok(Self {
            file: file.to_owned(),
            place,
            headers,
            fields,
            types,
            id,
        })
    }

    /// The record id of a row: the id cell's text, trimmed; `<file>:<line>` when that is
    /// empty or does not decode, or when the row is broken (its cells may not line up with
    /// the header, so the id cell may hold another column's value).
    fn id_of(&self, row: &RawRow) -> String {
        let text = match row.cells.get(self.id) {
            Some(Cell::Bad { .. }) | None => String::new(),
            Some(cell) => cell.text().trim().to_owned(),
        };
        if text.is_empty() || row.broken.is_some() {
            format!("{}:{}", self.file, row.line)
        } else {
            text
        }
    }

    /// The record of a row; a row that does not parse becomes its raw text plus `_error`.
    /// Either way its origin is the file and line.
    fn record(&self, row: RawRow) -> Record {
        let id = self.id_of(&row);
        let mut record = match &row.broken {
            Some(broken) => {
                let error = self.describe(&broken.problem, row.line);
                self.error_record(&row, id, &[error], Some(&broken.raw))
            }
            None => match self.fields_of(&row) {
                Ok(fields) => Record::new(id, fields),
                Err(errors) => self.error_record(&row, id, &errors, None),
            },
        };
        record.origin = Some(format!("{} {}", self.place, row.line));
        record
    }

    /// The fields of a row the reader could split, or what is wrong with its cells.
    fn fields_of(&self, row: &RawRow) -> Result<Map<String, Value>, Vec<String>> {
        let mut fields = Map::new();
        let mut errors = Vec::new();
        let width = self.headers.len();
        let used = row
            .cells
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |i| i + 1);
        if used > width {
            errors.push(format!("{used} values but the header has {width} columns"));
        }
        for (i, field) in self.fields.iter().enumerate() {
            let cell = row.cells.get(i).unwrap_or(&Cell::Empty);
            match cell.convert(self.types[i]) {
                Ok(value) => {
                    fields.insert(field.clone(), value);
                }
                Err(reason) => errors.push(format!("column {:?}: {reason}", self.headers[i])),
            }
        }
        let id = row.cells.get(self.id).unwrap_or(&Cell::Empty);
        if !matches!(id, Cell::Bad { .. }) && id.text().trim().is_empty() {
            errors.push(format!(
                "column {:?}: the id is empty",
                self.headers[self.id]
            ));
        }
        if errors.is_empty() {
            Ok(fields)
        } else {
            Err(errors)
        }
    }

    /// What is wrong with a broken row, for its `_error`.
    fn describe(&self, problem: &Problem, line: u64) -> String {
        match problem {
            Problem::UnterminatedQuote { column, why } => {
                let name = self
                    .headers
                    .get(*column)
                    .cloned()
                    .unwrap_or_else(|| format!("column_{}", column + 1));
                format!(
                    "column {name:?}: unterminated quote: {why}; the row is taken as this line \
                     alone and reading went on at line {}",
                    line + 1
                )
            }
            Problem::Width { found, columns } => {
                format!("{found} values but the header has {columns} columns")
            }
        }
    }

    /// The error record of a row: each cell's raw text under its field name (a cell past the
    /// header under `column_<n>`), the row's text as read under `_raw` when the reader kept it,
    /// and `_error` naming file, line and every problem.
    fn error_record(
        &self,
        row: &RawRow,
        id: String,
        errors: &[String],
        raw: Option<&str>,
    ) -> Record {
        let mut fields = Map::new();
        for (i, cell) in row.cells.iter().enumerate() {
            let name = self
                .fields
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("column_{}", i + 1));
            fields.insert(name, Value::String(cell.text()));
        }
        for field in &self.fields {
            fields
                .entry(field.clone())
                .or_insert_with(|| Value::String(String::new()));
        }
        if let Some(raw) = raw {
            fields.insert("_raw".into(), Value::String(raw.to_owned()));
        }
        fields.insert(
            "_error".into(),
            Value::String(format!(
                "{} {}, {}",
                self.place,
                row.line,
                errors.join("; ")
            )),
        );
        Record::new(id, fields)
    }
}

/// The latest record of each id (later files, and later rows within a file, win); ids not
/// found come back deleted.
pub fn fetch(dir: &Path, spec: &SourceSpec, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut found: HashMap<String, Record> = HashMap::new();
    for file in list_files(dir, |name| spec.pattern.matches(name))? {
        let scan = decode::scan_file(&file.path)
            .map_err(|e| io_error(&format!("cannot read {}", file.name), &e))?;
        let updated_at = Some(DateTime::<Utc>::from(file.mtime));
        let mut layout: Option<Layout> = None;
        let result = visit_file(&file, &scan, spec, &mut |event| {
            match event {
                RowEvent::Header(headers) => {
                    match Layout::new(&file.name, headers, spec, file_format(&file, spec)) {
                        Ok(l) => layout = Some(l),
                        Err(message) => {
                            tracing::warn!(file = %file.name, "fetch skips a file: {message}");
                            return ControlFlow::Break(());
                        }
                    }
                }
                RowEvent::Row(row) => {
                    let layout = layout.as_ref().expect("the header comes first");
                    let id = layout.id_of(&row);
                    if wanted.contains(id.as_str()) {
                        let mut record = layout.record(row);
                        record.updated_at = updated_at;
                        found.insert(id, record);
                    }
                }
            }
            ControlFlow::Continue(())
        });
        match result {
            Ok(()) => {}
            Err(ReadError::Io(e)) => {
                return Err(io_error(&format!("cannot read {}", file.name), &e));
            }
            Err(ReadError::File(message)) => {
                tracing::warn!(file = %file.name, "fetch skips a file: {message}")
            }
        }
    }
    Ok(ferry_kit::sink::fetched_in_order(ids, |id| {
        found.get(id).cloned()
    }))
}

/// A sheet's name (`None` for CSV) and its header cells.
pub type SheetHeader = (Option<String>, Vec<String>);

/// The header of a CSV file (delimiter guessed among `,` `;` tab `|`) or of each sheet of a
/// workbook, for `discover`. `None` when the file has no header.
pub fn headers_of(file: &Listed) -> Result<Vec<SheetHeader>, ReadError> {
    match Format::from_name(&file.name) {
        Some(Format::Csv) => {
            let scan = decode::scan_file(&file.path)?;
            let encoding = scan.resolve(crate::config::ReadEncoding::Auto);
            let mut best: Vec<String> = Vec::new();
            for delimiter in [b',', b';', b'\t', b'|'] {
                let how = CsvRead {
                    delimiter,
                    encoding,
                    header_row: 1,
                };
                let found = first_header(|visit| csv_rows::read_rows(&file.path, how, visit))?;
                if found.len() > best.len() {
                    best = found;
                }
            }
            Ok(vec![(None, best)])
        }
        Some(Format::Xlsx) => {
            let mut sheets = Vec::new();
            for sheet in xlsx::sheet_names(&file.path)? {
                let found =
                    first_header(|visit| xlsx::read_rows(&file.path, Some(&sheet), 1, visit))?;
                sheets.push((Some(sheet), found));
            }
            Ok(sheets)
        }
        None => Ok(Vec::new()),
    }
}

/// The fields a file's records get (its header, renamed by `columns`), or why the file
/// cannot be used (no id column, a `columns`/`types` entry the header lacks, unreadable).
/// Reads the header only (and the bytes, to tell the encoding); changes nothing.
pub(super) fn fields_of(file: &Listed, spec: &SourceSpec) -> Result<Vec<String>, String> {
    let scan = decode::scan_file(&file.path).map_err(|e| e.to_string())?;
    let mut layout: Option<Result<Layout, String>> = None;
    let result = visit_file(file, &scan, spec, &mut |event| {
        if let RowEvent::Header(headers) = event {
            layout = Some(Layout::new(
                &file.name,
                headers,
                spec,
                file_format(file, spec),
            ));
        }
        ControlFlow::Break(())
    });
    match (result, layout) {
        (Err(ReadError::Io(e)), _) => Err(e.to_string()),
        (Err(ReadError::File(message)), _) => Err(message),
        (Ok(()), Some(layout)) => layout.map(|l| l.fields),
        (Ok(()), None) => Err(format!("no header row (line {})", spec.header_row)),
    }
}

fn first_header(
    read: impl FnOnce(&mut Visit<'_>) -> Result<(), ReadError>,
) -> Result<Vec<String>, ReadError> {
    let mut found = Vec::new();
    read(&mut |event| {
        if let RowEvent::Header(h) = event {
            found = h;
        }
        ControlFlow::Break(())
    })?;
    Ok(found)
}
