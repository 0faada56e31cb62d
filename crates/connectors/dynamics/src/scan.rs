//! `ferry reconcile`: a target table read back in canonical field names, ordered by its
//! alternate key, page after page through `@odata.nextLink` (the cursor, with its page
//! size). Decimals come back as text, as a source record carries them.

use ferry_kit::{SinkContext, TargetPage, TargetRecord};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value};

use crate::api::{Api, Got};
use crate::config::Target;
use crate::metadata::EntityType;
use crate::source::Cursor;

/// Canonical field → the column it is written to, for the flow's fields the table has.
fn plan(target: &Target, ctx: &SinkContext, ty: &EntityType) -> Vec<(String, String)> {
    ctx.fields
        .iter()
        .filter(|f| !target.lookups.contains_key(*f))
        .map(|f| {
            let column = if *f == ctx.key_field {
                target.key.clone()
            } else {
                target.fields.get(f).cloned().unwrap_or_else(|| f.clone())
            };
            (f.clone(), column)
        })
        .filter(|(_, column)| ty.property(column).is_some())
        .collect()
}

/// One page of the table from `cursor` (`None`: the first).
pub async fn scan(
    api: &Api,
    target: &Target,
    ctx: &SinkContext,
    ty: &EntityType,
    cursor: Option<&str>,
    limit: usize,
) -> Result<TargetPage, ConnectorError> {
    let plan = plan(target, ctx, ty);
    let id = ty.key.first().cloned().unwrap_or_default();
    let (url, size) = match cursor.filter(|c| !c.is_empty()) {
        Some(text) => match serde_json::from_str(text) {
            Ok(Cursor::Next { url, size }) => (url, size),
            _ => {
                return Err(ConnectorError::fatal(
                    "the scan cursor is not a dynamics next link",
                ));
            }
        },
        None => {
            let mut columns: Vec<&str> = plan.iter().map(|(_, c)| c.as_str()).collect();
            columns.extend([id.as_str(), target.key.as_str()]);
            columns.sort_unstable();
            columns.dedup();
            let url = format!(
                "{}?$select={}&$orderby={} asc",
                target.set,
                columns.join(","),
                target.key
            );
            (url, limit.clamp(1, 5000))
        }
    };
    let body = match api.get(&url, &format!("odata.maxpagesize={size}")).await? {
        Got::Json(body) => body,
        Got::Refused(status, code, message) => {
            return Err(ConnectorError::new(
                ErrorKind::Validation,
                format!(
                    "{}: scanning {}: HTTP {status}: {message} ({code})",
                    api.http.system(),
                    target.set
                ),
            ));
        }
    };
    let rows = body
        .get("value")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let records = rows
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|row| record(row, &id, &target.key, &plan, ty))
        .collect();
    let next = body.get("@odata.nextLink").and_then(Value::as_str);
    Ok(TargetPage {
        records,
        cursor: next.map_or(String::new(), |url| {
            serde_json::to_string(&Cursor::Next {
                url: url.to_owned(),
                size,
            })
            .unwrap_or_default()
        }),
        more: next.is_some(),
        fields: plan.into_iter().map(|(f, _)| f).collect(),
    })
}

fn record(
    row: &Map<String, Value>,
    id: &str,
    key: &str,
    plan: &[(String, String)],
    ty: &EntityType,
) -> Option<TargetRecord> {
    let fields = plan
        .iter()
        .map(|(canonical, column)| {
            let value = row.get(column).cloned().unwrap_or(Value::Null);
            let value = match (ty.property(column), value) {
                (Some("Edm.Decimal"), Value::Number(n)) => Value::String(n.to_string()),
                (_, v) => v,
            };
            (canonical.clone(), value)
        })
        .collect();
    Some(TargetRecord {
        target_id: row.get(id)?.as_str()?.to_owned(),
        key: row.get(key).and_then(Value::as_str).map(str::to_owned),
        fields,
    })
}
