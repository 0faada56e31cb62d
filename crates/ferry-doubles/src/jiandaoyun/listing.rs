//! The metadata APIs (dossier §3): `app/list` → `{"apps": [{"name", "app_id"}]}`,
//! `app/entry/list` → `{"forms": [{"name", "app_id", "entry_id"}]}` (both paged by `limit`
//! and `skip`), and `app/entry/widget/list` → `{"widgets": […], "sysWidgets": […],
//! "dataModifyTime": …}`.

use serde_json::{Value, json};

use super::Ctx;
use super::answer::JdyError;
use super::records::{SYSTEM_FIELDS, iso};
use super::request::Body;

/// The most apps or forms one listing answers (`limit`), and its default.
pub const MAX_LISTING: u64 = 100;

/// `skip` and `limit` of a listing, as a range of indexes.
fn window(body: &Body) -> Result<(usize, usize), JdyError> {
    let limit = body.integer("limit", MAX_LISTING, 1..=MAX_LISTING)?;
    let skip = body.integer("skip", 0, 0..=u64::from(u32::MAX))?;
    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
    Ok((skip, usize::try_from(limit).unwrap_or(usize::MAX)))
}

/// `app/list`: the apps the key may use (all of the company's, in the double).
pub fn apps(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (skip, limit) = window(body)?;
    let apps: Vec<Value> = ctx
        .config
        .apps
        .iter()
        .skip(skip)
        .take(limit)
        .map(|a| json!({ "name": a.name, "app_id": a.app_id }))
        .collect();
    Ok(json!({ "apps": apps }))
}

/// `app/entry/list`: the forms of one app.
pub fn forms(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let app = body.app(&ctx.config)?;
    let (skip, limit) = window(body)?;
    let forms: Vec<Value> = app
        .forms
        .iter()
        .skip(skip)
        .take(limit)
        .map(|f| json!({ "name": f.name, "app_id": app.app_id, "entry_id": f.entry_id }))
        .collect();
    Ok(json!({ "forms": forms }))
}

/// `app/entry/widget/list`: the form's widgets (sub-forms with their `items`), the system
/// fields, and the time its data last changed (the newest `updateTime`; null when empty).
pub fn widgets(ctx: &Ctx, body: &Body) -> Result<Value, JdyError> {
    let (_, form) = body.form(&ctx.config)?;
    let sys: Vec<Value> = SYSTEM_FIELDS
        .iter()
        .map(|(name, label, kind)| json!({ "name": name, "label": label, "type": kind }))
        .collect();
    let newest = ctx
        .harness
        .store()
        .list(&form.entry_id, None, None)
        .ok()
        .and_then(|rows| rows.last().map(|r| iso(r.updated_at)));
    Ok(json!({
        "widgets": form.widgets,
        "sysWidgets": sys,
        "dataModifyTime": newest,
    }))
}
