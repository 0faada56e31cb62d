//! Writing: CSV batches appended to one file, XLSX batches each to a new numbered workbook.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::Local;
use ferry_model::ConnectorError;
use serde_json::{Map, Value};

use crate::config::{Format, TargetSpec, WriteEncoding};
use crate::decode::{self, BOM};
use crate::source::{blocking, io_error};
use crate::xlsx;
use ferry_kit::{Outgoing, Sink, Written};

/// A sink writing the records of one flow to files in one folder.
#[derive(Debug)]
pub struct FilesSink {
    pub(crate) dir: PathBuf,
    pub(crate) spec: TargetSpec,
    /// Batches of one sink are written one after the other.
    pub(crate) lock: tokio::sync::Mutex<()>,
}

type Results = Vec<Result<Written, ConnectorError>>;

#[async_trait]
impl Sink for FilesSink {
    async fn probe(&self) -> ferry_kit::Probe {
        let dir = self.dir.clone();
        blocking(move || Ok(crate::probe::inspect_sink(&dir)))
            .await
            .unwrap_or_else(|e| ferry_kit::Probe::failed(&e))
    }

    async fn upsert(&self, batch: &[Outgoing]) -> Result<Results, ConnectorError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let _turn = self.lock.lock().await;
        let (dir, spec, batch) = (self.dir.clone(), self.spec.clone(), batch.to_vec());
        let name = render_name(&spec.file);
        blocking(move || match spec.format {
            Format::Csv => write_csv(&dir, &spec, &name, &batch),
            Format::Xlsx => write_xlsx(&dir, &spec, &name, &batch),
        })
        .await
    }
}

/// The file name with `{date}` and `{timestamp}` replaced (local time).
pub fn render_name(template: &str) -> String {
    let now = Local::now();
    template
        .replace("{date}", &now.format("%Y-%m-%d").to_string())
        .replace("{timestamp}", &now.format("%Y%m%dT%H%M%S").to_string())
}

/// A field's value: the key itself, else a dotted path into nested objects (`extra.wechat`).
fn lookup<'a>(fields: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    if let Some(v) = fields.get(field) {
        return Some(v);
    }
    let mut parts = field.split('.');
    let mut value = fields.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A value as CSV text: null is empty, arrays and objects are JSON.
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// One CSV line (CRLF-terminated) in the target's encoding.
fn csv_line(spec: &TargetSpec, cells: &[String]) -> Result<Vec<u8>, String> {
    let mut writer = ::csv::WriterBuilder::new()
        .delimiter(spec.delimiter)
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(cells).map_err(|e| e.to_string())?;
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    match spec.encoding {
        WriteEncoding::Utf8 | WriteEncoding::Utf8Bom => Ok(bytes),
        WriteEncoding::Gbk => {
            let utf8 = String::from_utf8(bytes).map_err(|e| e.to_string())?;
            decode::encode_gbk(&utf8)
                .map_err(|c| format!("{c:?} (U+{:04X}) cannot be written in GBK", u32::from(c)))
        }
    }
}

fn write_csv(
    dir: &Path,
    spec: &TargetSpec,
    name: &str,
    batch: &[Outgoing],
) -> Result<Results, ConnectorError> {
    let headers: Vec<String> = spec.columns.iter().map(|(_, h)| h.clone()).collect();
    let header = csv_line(spec, &headers)
        .map_err(|e| ConnectorError::fatal(format!("{name}: the header: {e}")))?;
    let mut body = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    for record in batch {
        let cells: Vec<String> = spec
            .columns
            .iter()
            .map(|(f, _)| text(lookup(&record.fields, f)))
            .collect();
        match csv_line(spec, &cells) {
            Ok(line) => {
                body.extend_from_slice(&line);
                results.push(Ok(Written {
                    target_id: format!("{name}#{}", record.key),
                }));
            }
            Err(e) => {
                // Name the field that cannot be written.
                let field = spec
                    .columns
                    .iter()
                    .zip(&cells)
                    .find(|(_, c)| csv_line(spec, std::slice::from_ref(*c)).is_err())
                    .map(|((f, _), _)| format!(" field {f:?}:"))
                    .unwrap_or_default();
                results.push(Err(ConnectorError::invalid(format!(
                    "record {}:{field} {e}",
                    record.key
                ))));
            }
        }
    }
    if body.is_empty() {
        return Ok(results);
    }
    fs::create_dir_all(dir)
        .map_err(|e| io_error(&format!("cannot create the folder {}", dir.display()), &e))?;
    let path = dir.join(name);
    let existing = match fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io_error(&format!("cannot read {name}"), &e)),
    };
    let fail = |e: io::Error| io_error(&format!("cannot write {name}"), &e);
    if existing == 0 {
        // A new file appears whole: header and first batch, written aside and renamed.
        let mut content = Vec::with_capacity(BOM.len() + header.len() + body.len());
        if spec.encoding == WriteEncoding::Utf8Bom {
            content.extend_from_slice(BOM);
        }
        content.extend_from_slice(&header);
        content.extend_from_slice(&body);
        create_atomically(dir, name, &content).map_err(fail)?;
    } else {
        append(&path, name, &header, &body)?;
    }
    Ok(results)
}

/// Appends a batch to an existing CSV file with one write and an fsync, after checking that
/// its header is ours and cutting off a torn last line left by a crash.
fn append(path: &Path, name: &str, header: &[u8], body: &[u8]) -> Result<(), ConnectorError> {
    let fail = |e: io::Error| io_error(&format!("cannot write {name}"), &e);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(fail)?;
    let mut start = vec![0u8; BOM.len() + header.len()];
    let n = read_up_to(&mut file, &mut start).map_err(fail)?;
    let start = &start[..n];
    let start = start.strip_prefix(BOM).unwrap_or(start);
    if !start.starts_with(header) {
        let found =
            String::from_utf8_lossy(start.split(|b| *b == b'\n').next().unwrap_or_default())
                .trim_end()
                .to_owned();
        return Err(ConnectorError::fatal(format!(
            "{name} already exists with other columns ({found:?}); rename or move it, or change `file:`"
        )));
    }
    let len = file.seek(SeekFrom::End(0)).map_err(fail)?;
    let keep = complete_length(&mut file, len).map_err(fail)?;
    if keep != len {
        tracing::warn!(file = %name, "cutting off {} bytes of a torn last line", len - keep);
        file.set_len(keep).map_err(fail)?;
    }
    file.seek(SeekFrom::Start(keep)).map_err(fail)?;
    file.write_all(body).map_err(fail)?;
    file.sync_data().map_err(fail)
}

/// The length of the file up to and including its last line break.
fn complete_length(file: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 8192];
    while end > 0 {
        let from = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(chunk)?;
        if let Some(pos) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(from + pos as u64 + 1);
        }
        end = from;
    }
    Ok(0)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// Writes `.<name>.part`, syncs it and renames it to `name`: readers see all or nothing.
fn create_atomically(dir: &Path, name: &str, content: &[u8]) -> io::Result<()> {
    let part = dir.join(format!(".{name}.part"));
    let mut file = File::create(&part)?;
    file.write_all(content)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&part, dir.join(name))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all(); // persist the rename where the platform allows it
    }
    Ok(())
}

fn write_xlsx(
    dir: &Path,
    spec: &TargetSpec,
    rendered: &str,
    batch: &[Outgoing],
) -> Result<Results, ConnectorError> {
    fs::create_dir_all(dir)
        .map_err(|e| io_error(&format!("cannot create the folder {}", dir.display()), &e))?;
    let (stem, ext) = rendered.rsplit_once('.').unwrap_or((rendered, "xlsx"));
    let name = format!("{stem}-{}.{ext}", next_number(dir, stem, ext)?);
    let headers: Vec<String> = spec.columns.iter().map(|(_, h)| h.clone()).collect();
    let mut rows = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    for record in batch {
        let row: Vec<Value> = spec
            .columns
            .iter()
            .map(|(f, _)| lookup(&record.fields, f).cloned().unwrap_or(Value::Null))
            .collect();
        let problem = spec
            .columns
            .iter()
            .zip(&row)
            .find_map(|((f, _), v)| xlsx::check_value(v).err().map(|e| (f, e)));
        match problem {
            Some((field, e)) => results.push(Err(ConnectorError::invalid(format!(
                "record {}: field {field:?} {e}",
                record.key
            )))),
            None => {
                rows.push(row);
                results.push(Ok(Written {
                    target_id: format!("{name}#{}", record.key),
                }));
            }
        }
    }
    if rows.is_empty() {
        return Ok(results);
    }
    let bytes = xlsx::workbook(&headers, &rows)
        .map_err(|e| ConnectorError::fatal(format!("{name}: cannot build the workbook: {e}")))?;
    create_atomically(dir, &name, &bytes)
        .map_err(|e| io_error(&format!("cannot write {name}"), &e))?;
    Ok(results)
}

/// One more than the highest `n` of the existing `<stem>-<n>.<ext>` files (1 for the first).
fn next_number(dir: &Path, stem: &str, ext: &str) -> Result<u64, ConnectorError> {
    let entries = fs::read_dir(dir)
        .map_err(|e| io_error(&format!("cannot list the folder {}", dir.display()), &e))?;
    let prefix = format!("{stem}-");
    let suffix = format!(".{ext}");
    let mut highest = 0;
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let n = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(&suffix))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            highest = highest.max(n);
        }
    }
    Ok(highest + 1)
}
