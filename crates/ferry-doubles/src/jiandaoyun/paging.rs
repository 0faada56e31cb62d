//! `data/list` (dossier §4): the records passing `filter`, always in ascending `_id` order,
//! after the `data_id` cursor (the `_id` of the last record of the previous page), at most
//! `limit` (1–100, default 10) of them: `{"data": [...]}`. Fewer than `limit` records means
//! the last page. `fields` narrows each record to `_id` and the fields named.

use serde_json::{Value, json};

use super::Ctx;
use super::answer::JdyError;
use super::filter::Filter;
use super::forms::Form;
use super::records::{self, SYSTEM_FIELDS};
use super::request::Body;

/// The most records one page holds.
pub const MAX_LIMIT: u64 = 100;
/// The page size when `limit` is absent.
pub const DEFAULT_LIMIT: u64 = 10;

/// `app/entry/data/list`.
pub fn list(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (app, form) = body.form(&ctx.config)?;
    let limit = body.integer("limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)?;
    let after = body.optional_text("data_id")?;
    let fields = fields(body, form)?;
    let filter = Filter::parse(body.get("filter"), form)?;
    let mut page: Vec<(String, Value)> = ctx
        .records(app, form)
        .into_iter()
        .filter(|(id, _)| after.is_none_or(|after| id.as_str() > after))
        .filter(|(_, record)| filter.as_ref().is_none_or(|f| f.admits(record)))
        .collect();
    page.sort_by(|a, b| a.0.cmp(&b.0));
    let data: Vec<Value> = page
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(_, record)| records::project(record, fields.as_deref()))
        .collect();
    Ok(json!({ "data": data }))
}

/// The `fields` asked for: widget names or system fields; an unknown name is refused.
fn fields(body: &Body, form: &Form) -> Result<Option<Vec<String>>, JdyError> {
    let Some(value) = body.get("fields") else {
        return Ok(None);
    };
    let bad = |what: String| JdyError::BadParameter(format!("fields {what}"));
    let names = value.as_array().ok_or_else(|| bad("必须是数组".into()))?;
    let known = |name: &str| {
        form.widget(name).is_some()
            || SYSTEM_FIELDS.iter().any(|(n, ..)| *n == name)
            || ["_id", "appId", "entryId"].contains(&name)
    };
    names
        .iter()
        .map(|n| match n.as_str() {
            Some(name) if known(name) => Ok(name.to_owned()),
            _ => Err(bad(format!("含有不存在的字段：{n}"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
