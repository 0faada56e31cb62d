//! The detail APIs: a record with everything it holds (contacts and addresses, units and
//! prices, order lines). Sources read content through them, so a record reads the same
//! whether a scan or a `fetch` found it.

use std::collections::HashMap;

use ferry_kit::http::Call;
use ferry_model::ConnectorError;
use serde_json::{Map, Value, json};

use crate::api::{Api, id_of, rows_of};
use crate::objects::{MERCHANT_DETAIL, ORDER_DETAIL, Object, PRODUCT_DETAIL, PRODUCT_LIST};

/// Records asked for per batch detail call.
const DETAIL_BATCH: usize = 100;

/// The details of the records of `rows` (list rows, or `{"id"}`; materials need their
/// `orgId`), by id; records not found are left out.
pub async fn details(
    api: &Api,
    object: Object,
    rows: &[Value],
) -> Result<HashMap<String, Map<String, Value>>, ConnectorError> {
    let mut found = HashMap::new();
    match object {
        Object::Customers | Object::Materials => {
            for chunk in rows.chunks(DETAIL_BATCH) {
                let (path, body) = batch_body(object, chunk);
                let what = format!("the details of {}", object.name());
                found.extend(by_id(rows_of(api.read(path, &body, &what).await?)));
            }
        }
        Object::SalesOrders => {
            for id in rows.iter().filter_map(id_of) {
                if let Some(order) = order(api, &id).await? {
                    found.insert(id, order);
                }
            }
        }
    }
    Ok(found)
}

/// The path and body of a batch detail call.
fn batch_body(object: Object, rows: &[Value]) -> (&'static str, Value) {
    let items: Vec<Value> = rows
        .iter()
        .filter_map(|row| {
            let id = id_of(row)?;
            Some(match object {
                Object::Materials => json!({"id": id, "orgId": row.get("orgId")}),
                _ => json!({"id": id}),
            })
        })
        .collect();
    let path = match object {
        Object::Materials => PRODUCT_DETAIL,
        _ => MERCHANT_DETAIL,
    };
    (path, Value::Array(items))
}

/// One sales order with its lines (`GET detail?id=`); `None` when it is not there (1002).
pub async fn order(api: &Api, id: &str) -> Result<Option<Map<String, Value>>, ConnectorError> {
    let call = Call::get(ORDER_DETAIL)
        .query("id", id)
        .label("voucherorder/detail");
    let reply = api.send(call).await?;
    match reply.data {
        Value::Object(order) if reply.ok() => Ok(Some(order)),
        _ if reply.code == "1002" => Ok(None),
        _ => Err(ConnectorError::fatal(format!(
            "Yonyou refused the detail of sales order {id}: {}",
            reply.refusal()
        ))),
    }
}

/// The list rows of materials `ids` (for their `orgId`), by a `simpleVOs` `in` on `id`.
pub async fn material_rows(api: &Api, ids: &[String]) -> Result<Vec<Value>, ConnectorError> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(DETAIL_BATCH) {
        let body = json!({"pageIndex": 1, "pageSize": chunk.len().max(1),
                          "simpleVOs": [{"field": "id", "op": "in", "value1": chunk}]});
        rows.extend(rows_of(
            api.read(PRODUCT_LIST, &body, "the list of materials")
                .await?,
        ));
    }
    Ok(rows)
}

fn by_id(rows: Vec<Value>) -> HashMap<String, Map<String, Value>> {
    rows.into_iter()
        .filter_map(|row| match row {
            Value::Object(fields) => Some((id_of(&Value::Object(fields.clone()))?, fields)),
            _ => None,
        })
        .collect()
}
