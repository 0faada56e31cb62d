//! Bulk API 2.0 ingest (dossier §4, correction 7): create a job, `PUT` one CSV upload,
//! `PATCH {"state": "UploadComplete"}`, poll — `Open → UploadComplete → InProgress →
//! JobComplete | Failed | Aborted` — then read `successfulResults/` (`sf__Id,sf__Created,…`),
//! `failedResults/` (`sf__Id,sf__Error,…`) and `unprocessedrecords/`. Progress is driven by
//! polls, not time: a closed job answers `InProgress` for the run's `bulk_polls_in_progress`
//! polls, then processes every row at once. Rows are checked and written as single writes
//! are; an empty cell leaves a field unchanged and `#N/A` empties it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{SfError, datetime, json};
use super::config::{API_VERSION, USER_ID};
use super::ids::sf_id;
use super::records::{self, Mode, by_external_id, prepare};
use super::schema::{SObject, sobject};
use super::sobjects::body_object;
use super::writes::{Writer, origin};

const OPERATIONS: [&str; 5] = ["insert", "update", "upsert", "delete", "hardDelete"];

struct Job {
    id: String,
    object: &'static SObject,
    operation: String,
    ext_field: Option<&'static str>,
    delimiter: char,
    line_ending: String,
    state: &'static str,
    created: DateTime<Utc>,
    modstamp: DateTime<Utc>,
    data: Option<String>,
    polls: u32,
    processed: usize,
    failed: usize,
    error: Option<String>,
    results: [String; 3],
    origin: String,
}

/// The ingest jobs of the run.
#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<BTreeMap<String, Job>>,
}

impl Jobs {
    pub fn clear(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn info(job: &Job) -> Value {
    let mut v = json!({
        "id": job.id, "operation": job.operation, "object": job.object.name,
        "createdById": USER_ID, "createdDate": datetime(job.created), "systemModstamp": datetime(job.modstamp),
        "state": job.state, "concurrencyMode": "Parallel", "contentType": "CSV",
        "apiVersion": API_VERSION.trim_start_matches('v').parse::<f64>().unwrap_or(60.0),
        "jobType": "V2Ingest", "lineEnding": job.line_ending,
        "columnDelimiter": if job.delimiter == ',' { "COMMA" } else { "PIPE" },
        "contentUrl": format!("services/data/{API_VERSION}/jobs/ingest/{}/batches", job.id),
        "numberRecordsProcessed": job.processed, "numberRecordsFailed": job.failed, "retries": 0,
        "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
    });
    if let Some(f) = job.ext_field {
        v["externalIdFieldName"] = f.into();
    }
    if let Some(e) = &job.error {
        v["errorMessage"] = e.clone().into();
    }
    v
}

/// Routes the segments after `/jobs/ingest`.
pub fn serve(
    ctx: &Ctx,
    method: &Method,
    rest: &[&str],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SfError> {
    let jobs = &ctx.shared.jobs;
    let mut all = jobs.jobs.lock().unwrap_or_else(|e| e.into_inner());
    let now = ctx.harness.clock().now();
    match (method.as_str(), rest) {
        ("POST", []) => {
            let spec = body_object(body)?;
            let text = |k: &str| {
                spec.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let object = sobject(&text("object")).ok_or_else(|| {
                SfError::bad(
                    "INVALIDENTITY",
                    format!(
                        "Entity '{}' is not supported by the Bulk API.",
                        text("object")
                    ),
                )
            })?;
            let operation = text("operation");
            if !OPERATIONS.contains(&operation.as_str()) {
                return Err(SfError::bad(
                    "INVALIDJOB",
                    format!("Invalid operation: {operation}"),
                ));
            }
            let ext_field = match operation.as_str() {
                "upsert" => Some(
                    object
                        .field(&text("externalIdFieldName"))
                        .filter(|f| f.external_id)
                        .map(|f| f.name)
                        .ok_or_else(|| {
                            SfError::bad(
                                "INVALIDJOB",
                                "External ID was blank or not an External ID field for upsert",
                            )
                        })?,
                ),
                _ => None,
            };
            let id = format!("7505g{:010}AAA", all.len() + 1);
            let job = Job {
                id: id.clone(),
                object,
                operation,
                ext_field,
                delimiter: if text("columnDelimiter") == "PIPE" {
                    '|'
                } else {
                    ','
                },
                line_ending: if text("lineEnding") == "CRLF" {
                    "CRLF".into()
                } else {
                    "LF".into()
                },
                state: "Open",
                created: now,
                modstamp: now,
                data: None,
                polls: 0,
                processed: 0,
                failed: 0,
                error: None,
                results: Default::default(),
                origin: origin(headers, "bulk"),
            };
            let answer = info(&job);
            all.insert(id, job);
            Ok(json(StatusCode::OK, answer))
        }
        ("GET", []) => {
            let records: Vec<Value> = all.values().map(info).collect();
            Ok(json(
                StatusCode::OK,
                json!({"done": true, "records": records, "nextRecordsUrl": null}),
            ))
        }
        (_, [id, ..]) => {
            let job = all.get_mut(*id).ok_or_else(SfError::not_found)?;
            job_call(ctx, job, method, &rest[1..], body, now)
        }
        _ => Err(SfError::not_found()),
    }
}

fn job_call(
    ctx: &Ctx,
    job: &mut Job,
    method: &Method,
    rest: &[&str],
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Response, SfError> {
    let state_error =
        |what: &str| SfError::new(StatusCode::CONFLICT, "INVALIDJOBSTATE", what.to_owned());
    match (method.as_str(), rest) {
        ("GET", []) => {
            if matches!(job.state, "UploadComplete" | "InProgress") {
                if job.polls < ctx.config.bulk_polls_in_progress {
                    job.polls += 1;
                    job.state = "InProgress";
                } else {
                    process(ctx, job);
                }
                job.modstamp = now;
            }
            Ok(json(StatusCode::OK, info(job)))
        }
        ("PUT", ["batches"]) => {
            if job.state != "Open" {
                return Err(state_error(
                    "Job is not in Open state; data can only be uploaded to an Open job",
                ));
            }
            if job.data.is_some() {
                return Err(SfError::bad(
                    "BULK_API_ERROR",
                    format!(
                        "Found multiple contents for job: <{}>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
                        job.id
                    ),
                ));
            }
            job.data = Some(String::from_utf8_lossy(body).into_owned());
            Ok(StatusCode::CREATED.into_response())
        }
        ("PATCH", []) => {
            let wanted = body_object(body)?
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match (wanted.as_str(), job.state) {
                ("UploadComplete", "Open") => job.state = "UploadComplete",
                ("Aborted", "Open" | "UploadComplete" | "InProgress") => {
                    job.state = "Aborted";
                    job.results[2] = job.data.clone().unwrap_or_default();
                }
                _ => {
                    return Err(state_error(&format!(
                        "Cannot change the job's state from {} to {wanted}",
                        job.state
                    )));
                }
            }
            job.modstamp = now;
            Ok(json(StatusCode::OK, info(job)))
        }
        ("DELETE", []) => {
            if !matches!(job.state, "JobComplete" | "Failed" | "Aborted" | "Open") {
                return Err(state_error(
                    "Job can only be deleted in Open, JobComplete, Failed or Aborted state",
                ));
            }
            job.state = "Deleted";
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("GET", [kind]) => {
            let index = match *kind {
                "successfulResults" => 0,
                "failedResults" => 1,
                "unprocessedrecords" => 2,
                _ => return Err(SfError::not_found()),
            };
            let header = match index {
                0 => format!("\"sf__Id\",\"sf__Created\",{}", first_line(job)),
                1 => format!("\"sf__Id\",\"sf__Error\",{}", first_line(job)),
                _ => first_line(job),
            };
            let text = if job.results[index].is_empty() || index == 2 {
                job.results[index].clone()
            } else {
                format!("{header}\n{}", job.results[index])
            };
            let text = if text.is_empty() {
                format!("{header}\n")
            } else {
                text
            };
            Ok(([(CONTENT_TYPE, "text/csv")], text).into_response())
        }
        _ => Err(SfError::not_found()),
    }
}

fn first_line(job: &Job) -> String {
    job.data
        .as_deref()
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r')
        .to_owned()
}

/// Runs every uploaded row; the job ends `JobComplete` (or `Failed` when the CSV itself is
/// unusable).
fn process(ctx: &Ctx, job: &mut Job) {
    let data = job.data.clone().unwrap_or_default();
    let rows = parse_csv(&data, job.delimiter);
    let Some((header, rows)) = rows.split_first() else {
        job.state = "Failed";
        job.error = Some("InvalidBatch : No data to process".into());
        return;
    };
    for name in header {
        let known = match name.split_once('.') {
            Some((rel, ext)) => job
                .object
                .relationship(rel)
                .is_some_and(|_| !ext.is_empty()),
            None => job.object.field(name).is_some(),
        };
        if !known {
            job.state = "Failed";
            job.error = Some(format!("InvalidBatch : Field name not found : {name}"));
            job.results[2] = data;
            return;
        }
    }
    let mut writer = Writer::new(ctx, job.origin.clone());
    let (mut ok, mut bad) = (String::new(), String::new());
    for row in rows {
        let mut item = Map::new();
        for (name, cell) in header.iter().zip(row) {
            let value = match cell.as_str() {
                "" => continue,
                "#N/A" => Value::Null,
                text => text.into(),
            };
            match name.split_once('.') {
                Some((rel, ext)) => {
                    let mut lookup = Map::new();
                    lookup.insert(ext.to_owned(), value);
                    item.insert(rel.to_owned(), Value::Object(lookup));
                }
                None => {
                    item.insert(name.clone(), value);
                }
            }
        }
        let original = row.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",");
        match apply(ctx, job, &mut writer, item) {
            Ok((id, created)) => ok.push_str(&format!(
                "{},{},{original}\n",
                quote(&id),
                quote(&created.to_string())
            )),
            Err((id, e)) => {
                job.failed += 1;
                bad.push_str(&format!(
                    "{},{},{original}\n",
                    quote(&id),
                    quote(&e.bulk_text())
                ));
            }
        }
        job.processed += 1;
    }
    job.results[0] = ok;
    job.results[1] = bad;
    job.state = "JobComplete";
}

/// One row: the record's id and whether it was created, or the id (empty for inserts) and
/// the error.
fn apply(
    ctx: &Ctx,
    job: &Job,
    writer: &mut Writer<'_>,
    mut item: Map<String, Value>,
) -> Result<(String, bool), (String, SfError)> {
    let object = job.object;
    let id_text = item
        .remove("Id")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let existing = || {
        records::find(ctx, Some(object), &id_text)
            .map(|(_, r)| r.id)
            .ok_or_else(|| {
                (
                    id_text.clone(),
                    SfError::bad("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),
                )
            })
    };
    let fail = |id: String| move |e: SfError| (id, e);
    match job.operation.as_str() {
        "insert" => {
            let fields = prepare(ctx, object, &item, Mode::Create).map_err(fail(String::new()))?;
            let r = writer.create(object, fields).map_err(fail(String::new()))?;
            Ok((sf_id(object, r.id), true))
        }
        "update" => {
            let id = existing()?;
            let fields =
                prepare(ctx, object, &item, Mode::Update(id)).map_err(fail(id_text.clone()))?;
            writer
                .update(object, id, fields)
                .map_err(fail(id_text.clone()))?;
            Ok((sf_id(object, id), false))
        }
        "delete" | "hardDelete" => {
            let id = existing()?;
            writer.delete(object, id).map_err(fail(id_text.clone()))?;
            Ok((sf_id(object, id), false))
        }
        _ => {
            let ext = job.ext_field.unwrap_or_default();
            let value = item
                .get(ext)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if value.is_empty() {
                return Err((
                    String::new(),
                    SfError::on_fields("MISSING_ARGUMENT", format!("{ext} not specified"), &[ext]),
                ));
            }
            match by_external_id(ctx, object, ext, &value).as_slice() {
                [] => {
                    let fields =
                        prepare(ctx, object, &item, Mode::Create).map_err(fail(String::new()))?;
                    let r = writer.create(object, fields).map_err(fail(String::new()))?;
                    Ok((sf_id(object, r.id), true))
                }
                [one] => {
                    let id = sf_id(object, one.id);
                    item.remove(ext);
                    let fields = prepare(ctx, object, &item, Mode::Update(one.id))
                        .map_err(fail(id.clone()))?;
                    writer
                        .update(object, one.id, fields)
                        .map_err(fail(id.clone()))?;
                    Ok((id, false))
                }
                _ => Err((
                    String::new(),
                    SfError::bad(
                        "DUPLICATE_EXTERNAL_ID",
                        format!("{ext}: more than one record found for external id field: {value}"),
                    ),
                )),
            }
        }
    }
}

fn quote(cell: &str) -> String {
    format!("\"{}\"", cell.replace('"', "\"\""))
}

/// RFC 4180 rows: quoted cells may hold the delimiter, quotes (doubled) and line breaks.
pub fn parse_csv(text: &str, delimiter: char) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            _ if quoted => cell.push(c),
            _ if c == delimiter => row.push(std::mem::take(&mut cell)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            _ => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}
