//! Reads: query options, `$filter`/`$orderby`/`$skip`/`$top`, server-driven paging with
//! `__next` and `$skiptoken`, `$inlinecount`, `$select`, `$expand`, `/$count`.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::answer::{Reply, SapError};
use super::catalog::EntitySet;
use super::entity;
use super::filter::{self, Expr};
use super::path::{Resource, query_pairs};

/// The system query options of a request.
#[derive(Debug, Default)]
pub struct Options {
    pub filter: Option<String>,
    pub select: Vec<String>,
    pub expand: Vec<String>,
    pub orderby: Vec<(String, bool)>,
    pub top: Option<usize>,
    pub skip: usize,
    pub skiptoken: usize,
    pub inlinecount: bool,
    /// `$format=json` (else the `Accept` header decides).
    pub json: bool,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number(name: &str, text: &str) -> Result<usize, SapError> {
    text.trim()
        .parse()
        .map_err(|_| SapError::syntax(format!("Invalid system query option {name}={text}")))
}

impl Options {
    pub fn parse(query: &str) -> Result<Self, SapError> {
        let mut o = Self::default();
        for (name, value) in query_pairs(query) {
            match name.as_str() {
                "$filter" => o.filter = Some(value),
                "$select" => o.select = list(&value),
                "$expand" => o.expand = list(&value),
                "$orderby" => {
                    for part in list(&value) {
                        let mut words = part.split_whitespace();
                        let prop = words.next().unwrap_or_default().to_owned();
                        let desc = match words.next() {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(other) => {
                                return Err(SapError::syntax(format!(
                                    "Invalid $orderby direction '{other}'"
                                )));
                            }
                        };
                        o.orderby.push((prop, desc));
                    }
                }
                "$top" => o.top = Some(number(&name, &value)?),
                "$skip" => o.skip = number(&name, &value)?,
                "$skiptoken" => o.skiptoken = number(&name, &value)?,
                "$inlinecount" => match value.as_str() {
                    "allpages" => o.inlinecount = true,
                    "none" => o.inlinecount = false,
                    _ => return Err(SapError::syntax(format!("Invalid $inlinecount '{value}'"))),
                },
                "$format" => o.json = value == "json",
                _ if name.starts_with('$') => {
                    return Err(SapError::syntax(format!(
                        "Invalid system query option '{name}'"
                    )));
                }
                // sap-client, sap-language and custom options are not the double's concern
                _ => {}
            }
        }
        Ok(o)
    }

    fn check(&self, set: &EntitySet) -> Result<Option<Expr>, SapError> {
        let unknown = |p: &str| {
            SapError::bad_request(
                "/IWBEP/CM_MGW_RT/004",
                format!("Property '{p}' not found in type '{}'", set.type_name()),
            )
        };
        for e in &self.expand {
            let first = e.split('/').next().unwrap_or_default();
            if set.nav(first).is_none() || e.contains('/') {
                return Err(unknown(e));
            }
        }
        for s in &self.select {
            let first = s.split('/').next().unwrap_or_default();
            if s != "*" && set.kind(first).is_none() && set.nav(first).is_none() {
                return Err(unknown(s));
            }
        }
        for (p, _) in &self.orderby {
            if set.kind(p).is_none() {
                return Err(unknown(p));
            }
        }
        self.filter
            .as_deref()
            .map(|f| filter::parse(f, set))
            .transpose()
    }
}

/// Answers a GET of `resource`. `path_and_query` is the request as received (for `__next`).
pub fn read(
    ctx: &Ctx,
    resource: &Resource,
    options: &Options,
    path: &str,
    query: &str,
) -> Result<Reply, SapError> {
    let set = resource.answer_set();
    let expr = options.check(set)?;
    // One entity (`A_SalesOrder('1')`), or a navigation from it to one entity.
    if let Some(key) = &resource.key {
        match resource.nav {
            None => {
                let e = entity::one(ctx, resource.set, key, &options.expand)?;
                let tag = e["__metadata"]["etag"].as_str().map(str::to_owned);
                let mut reply = Reply::json(
                    StatusCode::OK,
                    &json!({"d": entity::select(e, &options.select)}),
                );
                if let Some(tag) = tag {
                    reply = reply.header("etag", tag);
                }
                return Ok(reply);
            }
            Some(nav) if nav.held == super::catalog::Held::SameKey => {
                let e = entity::one(ctx, set, key, &options.expand)?;
                return Ok(Reply::json(
                    StatusCode::OK,
                    &json!({"d": entity::select(e, &options.select)}),
                ));
            }
            Some(_) => {}
        }
    }
    let mut rows = match (&resource.key, resource.nav) {
        (Some(key), Some(_)) => {
            // the parent must exist; its embedded entries are the collection
            entity::locate(ctx, resource.set, key)?;
            entity::all(ctx, set, &options.expand)
                .into_iter()
                .filter(|e| entity::key_of(set, e)[..key.len()] == key[..])
                .collect()
        }
        _ => entity::all(ctx, set, &options.expand),
    };
    if let Some(expr) = &expr {
        let mut kept = Vec::new();
        for e in rows {
            if filter::admits(expr, set, &e)? {
                kept.push(e);
            }
        }
        rows = kept;
    }
    // Stable sort on the key order: ties on the sort property keep key order.
    for (prop, desc) in options.orderby.iter().rev() {
        rows.sort_by(|a, b| {
            let o = filter::order(set, prop, a, b);
            if *desc { o.reverse() } else { o }
        });
    }
    let total = rows.len();
    if resource.count {
        let skipped = total.saturating_sub(options.skip);
        let n = options.top.map_or(skipped, |t| skipped.min(t));
        return Ok(Reply::new(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            n.to_string(),
        ));
    }
    Ok(page(ctx, rows, options, path, query))
}

/// The page from `$skip` + `$skiptoken`, at most the server page size and within `$top`.
fn page(
    ctx: &Ctx,
    rows: Vec<Map<String, Value>>,
    options: &Options,
    path: &str,
    query: &str,
) -> Reply {
    let total = rows.len();
    let window: Vec<Map<String, Value>> = rows
        .into_iter()
        .skip(options.skip)
        .take(options.top.unwrap_or(usize::MAX))
        .collect();
    let start = options.skiptoken.min(window.len());
    let size = ctx.config.page_size.max(1);
    let end = (start + size).min(window.len());
    let results: Vec<Value> = window[start..end]
        .iter()
        .map(|e| Value::Object(entity::select(e.clone(), &options.select)))
        .collect();
    let mut d = Map::new();
    if options.inlinecount {
        d.insert("__count".into(), total.to_string().into());
    }
    d.insert("results".into(), results.into());
    if end < window.len() {
        d.insert("__next".into(), next_link(ctx, path, query, end).into());
    }
    Reply::json(StatusCode::OK, &json!({ "d": d }))
}

/// The request again, absolute, with `$skiptoken` and `$format=json`.
fn next_link(ctx: &Ctx, path: &str, query: &str, offset: usize) -> String {
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            !p.is_empty() && !p.starts_with("$skiptoken=") && !p.starts_with("%24skiptoken=")
        })
        .collect();
    let has_format = kept
        .iter()
        .any(|p| p.starts_with("$format=") || p.starts_with("%24format="));
    let token = format!("$skiptoken={offset}");
    kept.push(&token);
    if !has_format {
        kept.push("$format=json");
    }
    format!("{}{path}?{}", ctx.harness.base_url(), kept.join("&"))
}
