//! `$batch`: a `multipart/mixed` body of requests and change sets. A change set is atomic:
//! when one of its requests fails, everything it did is rolled back and the failure is
//! answered alone, with that request's Content-ID. Processing stops after a failure unless
//! `Prefer: odata.continue-on-error`. Answered 200 `multipart/mixed`. Inside a change set,
//! `$<Content-ID>` names a record made earlier in it (in a URL or an `@odata.bind`).

use axum::http::StatusCode;

use super::error::DvError;
use super::tracker::Tracker;
use super::{API_PREFIX, Ctx, Request, execute};
use crate::multipart::{self, Part, PartRequest, boundary, hex_id};
use crate::reply::Reply;
use crate::store::Record;

/// `POST $batch`; the caller holds the tracker (the write lock).
pub fn run(ctx: &Ctx, tracker: &mut Tracker, request: &Request<'_>) -> Reply {
    match answer(ctx, tracker, request) {
        Ok(reply) => reply,
        Err(e) => e.reply(),
    }
}

fn malformed(why: &str) -> DvError {
    DvError::bad_request(format!("The batch request is not valid: {why}"))
}

fn answer(ctx: &Ctx, tracker: &mut Tracker, request: &Request<'_>) -> Result<Reply, DvError> {
    let content_type = request.header("content-type").unwrap_or("");
    let outer = boundary(content_type)
        .filter(|_| content_type.starts_with("multipart/mixed"))
        .ok_or_else(|| malformed("Content-Type must be multipart/mixed with a boundary"))?;
    let text = multipart::normalize(request.body);
    let parts = multipart::parts(&text, &outer).ok_or_else(|| malformed("unclosed body"))?;
    let go_on = request.prefers("odata.continue-on-error");
    let answer_boundary = format!("batchresponse_{}", hex_id());
    let mut out = String::new();
    for part in parts {
        out.push_str(&format!("--{answer_boundary}\r\n"));
        let kind = part.header("content-type").unwrap_or("").to_owned();
        let (text, failed) = if kind.starts_with("multipart/mixed") {
            let inner =
                boundary(&kind).ok_or_else(|| malformed("a change set without a boundary"))?;
            let ops = multipart::parts(&part.content, &inner)
                .ok_or_else(|| malformed("an unclosed change set"))?;
            change_set(ctx, tracker, &ops)?
        } else {
            let op = multipart::request(&part)
                .ok_or_else(|| malformed("a part without a request line"))?;
            let reply = run_one(ctx, tracker, &op, &[]);
            let failed = !reply.status.is_success();
            (part_of(&reply, op.content_id.as_deref()), failed)
        };
        out.push_str(&text);
        if failed && !go_on {
            break;
        }
    }
    out.push_str(&format!("--{answer_boundary}--\r\n"));
    Ok(Reply::new(
        StatusCode::OK,
        &format!("multipart/mixed; boundary={answer_boundary}"),
        out,
    ))
}

fn part_of(reply: &Reply, content_id: Option<&str>) -> String {
    multipart::http_part(
        reply.status.as_u16(),
        &reply.headers,
        &reply.body,
        content_id,
    )
}

/// One request of a batch: its target relative to the Web API root.
fn run_one(
    ctx: &Ctx,
    tracker: &mut Tracker,
    op: &PartRequest,
    created: &[(String, String)],
) -> Reply {
    let mut target = op.target.clone();
    if let Some(rest) = target.strip_prefix('$')
        && let Some((id, at)) = created.iter().find(|(id, _)| rest.starts_with(id.as_str()))
    {
        target = format!("{at}{}", &rest[id.len()..]);
    }
    let relative = target
        .find(API_PREFIX)
        .map_or(target.as_str(), |i| &target[i + API_PREFIX.len()..]);
    let (sub, query) = relative.split_once('?').unwrap_or((relative, ""));
    if sub == "$batch" {
        return malformed("a $batch inside a $batch").reply();
    }
    let request = Request {
        method: &op.method,
        sub,
        query,
        headers: op.headers.clone(),
        body: op.body.as_bytes(),
        created,
    };
    execute(ctx, tracker, &request)
}

/// Runs a change set: every answer in a changeset part, or after a rollback the failed
/// request's answer alone. The text, and whether it failed.
fn change_set(ctx: &Ctx, tracker: &mut Tracker, parts: &[Part]) -> Result<(String, bool), DvError> {
    let saved_store = snapshot(ctx);
    let saved_tracker = tracker.clone();
    let mut created: Vec<(String, String)> = Vec::new();
    let mut answers = Vec::new();
    for part in parts {
        let op =
            multipart::request(part).ok_or_else(|| malformed("a part without a request line"))?;
        let reply = if op.method == "GET" {
            DvError::bad_request("GET requests are not allowed in a change set").reply()
        } else {
            run_one(ctx, tracker, &op, &created)
        };
        if !reply.status.is_success() {
            rollback(ctx, saved_store);
            *tracker = saved_tracker;
            return Ok((part_of(&reply, op.content_id.as_deref()), true));
        }
        if let (Some(id), Some((_, location))) = (
            &op.content_id,
            reply.headers.iter().find(|(n, _)| n == "odata-entityid"),
        ) {
            let at = location
                .rsplit(API_PREFIX)
                .next()
                .unwrap_or(location)
                .to_owned();
            created.push((id.clone(), at));
        }
        answers.push((reply, op.content_id));
    }
    let inner = format!("changesetresponse_{}", hex_id());
    let mut out = format!("Content-Type: multipart/mixed; boundary={inner}\r\n\r\n");
    for (reply, id) in &answers {
        out.push_str(&format!("--{inner}\r\n"));
        out.push_str(&part_of(reply, id.as_deref()));
    }
    out.push_str(&format!("--{inner}--\r\n"));
    Ok((out, false))
}

type Snapshot = Vec<(&'static str, Vec<Record>)>;

fn snapshot(ctx: &Ctx) -> Snapshot {
    super::TABLES
        .iter()
        .map(|t| {
            (
                t.set,
                ctx.store().list(t.set, None, None).unwrap_or_default(),
            )
        })
        .collect()
}

fn rollback(ctx: &Ctx, snapshot: Snapshot) {
    let store = ctx.store();
    for (set, records) in snapshot {
        for current in store.list(set, None, None).unwrap_or_default() {
            let _ = store.delete(set, current.id);
        }
        for record in records {
            let _ = store.restore(set, record);
        }
    }
}
