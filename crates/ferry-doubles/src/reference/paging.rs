//! `GET /api/{object}`: lists in (modified time, id) order, paged in the object's style,
//! optionally from a watermark.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderValue;
use axum::http::header::LINK;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Ctx;
use super::answer::ApiError;
use super::config::Paging;
use super::objects;
use crate::store::{Position, Record, UpdatedFilter, stamp};

/// The incremental filters every style accepts.
const FILTERS: [&str; 2] = ["updated_since", "updated_after"];

type Params = BTreeMap<String, String>;

pub async fn list(
    State(ctx): State<Ctx>,
    Path(object): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let spec = objects::spec(&object)?;
    let style = ctx.config.paging_of(spec.name);
    check_params(style, &params)?;
    let filter = filter(&params)?;
    let page = Page::new(&ctx, spec.name, style, &params);
    match style {
        Paging::Page | Paging::Link | Paging::Offset => page.by_number(filter),
        Paging::Cursor | Paging::NextUrl => page.by_keyset(filter),
    }
}

fn check_params(style: Paging, params: &Params) -> Result<(), ApiError> {
    let allowed: Vec<&str> = style.params().into_iter().chain(FILTERS).collect();
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::bad_request(format!(
            "unknown query parameter `{unknown}`; this object pages by {}: {}",
            style.name(),
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn filter(params: &Params) -> Result<Option<UpdatedFilter>, ApiError> {
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        params
            .get(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.to_utc())
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "{name}: `{v}` is not an RFC 3339 time (2026-01-01T00:00:00Z)"
                        ))
                    })
            })
            .transpose()
    };
    match (time("updated_since")?, time("updated_after")?) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "give updated_since or updated_after, not both",
        )),
        (Some(t), None) => Ok(Some(UpdatedFilter::Since(t))),
        (None, Some(t)) => Ok(Some(UpdatedFilter::After(t))),
        (None, None) => Ok(None),
    }
}

/// One page request, read from the query.
struct Page<'a> {
    ctx: &'a Ctx,
    object: &'static str,
    style: Paging,
    params: &'a Params,
}

impl<'a> Page<'a> {
    fn new(ctx: &'a Ctx, object: &'static str, style: Paging, params: &'a Params) -> Self {
        Self {
            ctx,
            object,
            style,
            params,
        }
    }

    fn number(&self, name: &str, default: usize, min: usize) -> Result<usize, ApiError> {
        let Some(text) = self.params.get(name) else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "{name}: expected a whole number, {min} or more, found `{text}`"
            ))),
        }
    }

    /// The page size asked for, at most the largest served.
    fn size(&self) -> Result<usize, ApiError> {
        let [_, size_param] = self.style.params();
        let config = &self.ctx.config;
        let asked = self.number(size_param, config.default_page_size, 1)?;
        Ok(asked.min(config.max_page_size))
    }

    /// Page-number and offset styles: a slice of the whole filtered list.
    fn by_number(&self, filter: Option<UpdatedFilter>) -> Result<Response, ApiError> {
        let size = self.size()?;
        let rows = self.ctx.harness.store().list(self.object, filter, None)?;
        let total = rows.len();
        let (skip, page) = match self.style {
            Paging::Offset => (self.number("offset", 0, 0)?, None),
            _ => {
                let page = self.number("page", 1, 1)?;
                ((page - 1).saturating_mul(size), Some(page))
            }
        };
        let data: Vec<Value> = rows
            .iter()
            .skip(skip)
            .take(size)
            .map(Record::to_json)
            .collect();
        let more = skip.saturating_add(size) < total;
        Ok(match (self.style, page) {
            (Paging::Offset, _) => Json(json!({
                "data": data, "offset": skip, "limit": size, "total": total,
            }))
            .into_response(),
            (Paging::Link, Some(page)) => {
                let mut response = Json(data).into_response();
                let headers = response.headers_mut();
                headers.insert("x-total-count", total.into());
                if more {
                    let next = self.url_with(&[("page", (page + 1).to_string())]);
                    if let Ok(link) = HeaderValue::try_from(format!("<{next}>; rel=\"next\"")) {
                        headers.insert(LINK, link);
                    }
                }
                response
            }
            (_, page) => Json(json!({
                "data": data, "page": page, "per_page": size, "total": total,
            }))
            .into_response(),
        })
    }

    /// Cursor and next-URL styles: the records after a position, exact under concurrent
    /// writes (a record moved past the position by an update is read again later).
    fn by_keyset(&self, filter: Option<UpdatedFilter>) -> Result<Response, ApiError> {
        let size = self.size()?;
        let [position_param, _] = self.style.params();
        let after = self
            .params
            .get(position_param)
            .map(|token| decode_position(position_param, token))
            .transpose()?;
        let rows = self.ctx.harness.store().list(self.object, filter, after)?;
        let page = &rows[..size.min(rows.len())];
        let next = (rows.len() > size)
            .then(|| page.last().map(|r| encode_position(r.position())))
            .flatten();
        let data: Vec<Value> = page.iter().map(Record::to_json).collect();
        Ok(match self.style {
            Paging::Cursor => Json(json!({ "data": data, "next_cursor": next })).into_response(),
            _ => {
                let mut body = json!({ "data": data });
                if let Some(token) = next {
                    body["next"] = self
                        .url_with(&[("after", token), ("limit", size.to_string())])
                        .into();
                }
                Json(body).into_response()
            }
        })
    }

    /// The URL of this list with the same query, some parameters replaced: absolute, or
    /// the path alone when the run asks for relative next URLs.
    fn url_with(&self, replace: &[(&str, String)]) -> String {
        let mut params = self.params.clone();
        for (name, value) in replace {
            params.insert((*name).to_owned(), value.clone());
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let path = format!("/api/{}?{}", self.object, query.join("&"));
        if self.ctx.config.relative_next_urls {
            path
        } else {
            self.ctx.harness.url(&path)
        }
    }
}

/// An opaque position token: base64url of `<RFC 3339 modified time>|<id>`.
fn encode_position(p: Position) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", stamp(p.updated_at), p.id))
}

fn decode_position(param: &str, token: &str) -> Result<Position, ApiError> {
    let parsed = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (at, id) = text.split_once('|')?;
            Some(Position {
                updated_at: DateTime::parse_from_rfc3339(at).ok()?.to_utc(),
                id: id.parse().ok()?,
            })
        });
    parsed.ok_or_else(|| {
        ApiError::bad_request(format!(
            "{param}: `{token}` is not a position this double issued"
        ))
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
