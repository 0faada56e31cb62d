//! `$batch`: a `multipart/mixed` body of retrieve parts and change sets, each operation an
//! `application/http` request relative to the service root. Answered 202 with one part per
//! retrieve and one multipart per change set; a change set whose operation fails is rolled
//! back and answered by that one error response, as SAP Gateway (OData v2) does.
//!
//! The multipart format is read and written by the doubles' shared [`crate::multipart`].

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::answer::{Reply, SapError};
use super::seed::OBJECTS;
use super::{Ctx, ODATA_PREFIX, Request, execute};
use crate::multipart::{self, Part, boundary, hex_id};
use crate::store::Record;

fn malformed() -> SapError {
    SapError::bad_request(
        "/IWBEP/CM_MGW_RT/009",
        "Malformed multipart body in $batch request",
    )
}

/// The parts between `--boundary` lines, up to `--boundary--`.
fn parts(text: &str, boundary: &str) -> Result<Vec<Part>, SapError> {
    multipart::parts(text, boundary).ok_or_else(malformed)
}

/// An operation inside a part: request line, headers, body.
struct Operation {
    method: String,
    target: String,
    headers: HeaderMap,
    body: String,
    content_id: Option<String>,
}

fn operation(part: &Part) -> Result<Operation, SapError> {
    let bad = || SapError::bad_request("/IWBEP/CM_MGW_RT/009", "Malformed request in $batch part");
    let request = multipart::request(part).ok_or_else(bad)?;
    let mut headers = HeaderMap::new();
    for (k, v) in request.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            headers.append(k, v);
        }
    }
    let method = match (
        request.method.as_str(),
        headers.get("x-http-method").and_then(|v| v.to_str().ok()),
    ) {
        ("POST", Some(m)) => m.trim().to_ascii_uppercase(),
        _ => request.method,
    };
    Ok(Operation {
        method,
        target: request.target,
        headers,
        body: request.body,
        content_id: request.content_id,
    })
}

/// Runs one operation; `$<content-id>` at the start of its target names an entity created
/// earlier in the change set.
fn run_one(ctx: &Ctx, service: &str, op: &Operation, created: &[(String, String)]) -> Reply {
    let mut target = op.target.clone();
    if let Some(rest) = target.strip_prefix('$')
        && let Some((id, location)) = created.iter().find(|(id, _)| rest.starts_with(id.as_str()))
    {
        target = format!("{location}{}", &rest[id.len()..]);
    }
    // Targets are relative to the service root; an absolute path is cut down to that.
    let root = format!("{ODATA_PREFIX}{service}/");
    let relative = target
        .find(&root)
        .map_or(target.as_str(), |i| &target[i + root.len()..]);
    let (sub, query) = relative.split_once('?').unwrap_or((relative, ""));
    let path = format!("{root}{sub}");
    let request = Request {
        method: &op.method,
        path: &path,
        sub,
        query,
        headers: &op.headers,
        body: op.body.as_bytes(),
    };
    execute(ctx, service, &request)
}

/// `POST <service>/$batch`; the caller holds the write lock.
pub fn run(ctx: &Ctx, service: &str, request: &Request<'_>) -> Reply {
    match answer_batch(ctx, service, request) {
        Ok(reply) => reply,
        Err(e) => ctx.error(service, &e),
    }
}

fn answer_batch(ctx: &Ctx, service: &str, request: &Request<'_>) -> Result<Reply, SapError> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let outer = boundary(content_type)
        .filter(|_| content_type.starts_with("multipart/mixed"))
        .ok_or_else(|| {
            SapError::bad_request(
                "/IWBEP/CM_MGW_RT/009",
                "$batch needs Content-Type multipart/mixed with a boundary",
            )
        })?;
    let text = multipart::normalize(request.body);
    let answer_boundary = format!("batchresponse_{}", hex_id());
    let mut out = String::new();
    for part in parts(&text, &outer)? {
        out.push_str(&format!("--{answer_boundary}\r\n"));
        let part_type = part.header("content-type").unwrap_or("");
        if part_type.starts_with("multipart/mixed") {
            let inner = boundary(part_type).ok_or_else(|| {
                SapError::bad_request("/IWBEP/CM_MGW_RT/009", "Change set without a boundary")
            })?;
            if !ctx.config.change_set_time.is_zero() {
                // Only ever on a blocking task of its own (see `SapConfig::change_set_time`).
                std::thread::sleep(ctx.config.change_set_time);
            }
            out.push_str(&change_set(ctx, service, &parts(&part.content, &inner)?)?);
        } else {
            let op = operation(&part)?;
            let reply = if op.method == "GET" {
                run_one(ctx, service, &op, &[])
            } else {
                let e = SapError::bad_request(
                    "/IWBEP/CM_MGW_RT/009",
                    "Modifying requests must be sent in a change set",
                );
                ctx.error(service, &e)
            };
            out.push_str(&http_part(&reply, None));
        }
    }
    out.push_str(&format!("--{answer_boundary}--\r\n"));
    Ok(Reply::new(
        StatusCode::ACCEPTED,
        &format!("multipart/mixed; boundary={answer_boundary}"),
        out,
    ))
}

/// Runs a change set atomically: all answers, or the first failure alone after a rollback.
fn change_set(ctx: &Ctx, service: &str, parts: &[Part]) -> Result<String, SapError> {
    let snapshot = snapshot(ctx);
    let mut replies = Vec::new();
    let mut created: Vec<(String, String)> = Vec::new();
    for part in parts {
        let op = operation(part)?;
        let reply = if op.method == "GET" {
            let e = SapError::bad_request(
                "/IWBEP/CM_MGW_RT/009",
                "Retrieve requests are not allowed in a change set",
            );
            ctx.error(service, &e)
        } else {
            run_one(ctx, service, &op, &created)
        };
        if reply.status.is_client_error() || reply.status.is_server_error() {
            rollback(ctx, snapshot);
            return Ok(http_part(&reply, None));
        }
        if let (Some(id), Some((_, location))) = (
            &op.content_id,
            reply.headers.iter().find(|(n, _)| n == "location"),
        ) {
            let root = format!("{ODATA_PREFIX}{service}/");
            let relative = location
                .find(&root)
                .map_or(location.clone(), |i| location[i + root.len()..].to_owned());
            created.push((id.clone(), relative));
        }
        replies.push((reply, op.content_id));
    }
    let boundary = format!("changesetresponse_{}", hex_id());
    let mut out = format!("Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n");
    for (reply, content_id) in &replies {
        out.push_str(&format!("--{boundary}\r\n"));
        out.push_str(&http_part(reply, content_id.as_deref()));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    Ok(out)
}

/// An `application/http` part holding `reply`.
fn http_part(reply: &Reply, content_id: Option<&str>) -> String {
    multipart::http_part(
        reply.status.as_u16(),
        &reply.headers,
        &reply.body,
        content_id,
    )
}

type Snapshot = Vec<(&'static str, Vec<Record>)>;

fn snapshot(ctx: &Ctx) -> Snapshot {
    let store = ctx.harness.store();
    OBJECTS
        .iter()
        .map(|o| (*o, store.list(o, None, None).unwrap_or_default()))
        .collect()
}

/// Puts every object back as the snapshot holds it.
fn rollback(ctx: &Ctx, snapshot: Snapshot) {
    let store = ctx.harness.store();
    for (object, records) in snapshot {
        for current in store.list(object, None, None).unwrap_or_default() {
            let _ = store.delete(object, current.id);
        }
        for record in records {
            let _ = store.restore(object, record);
        }
    }
}
