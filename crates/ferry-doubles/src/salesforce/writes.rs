//! Applying checked writes to the store, as one transaction of change events. Each write
//! stamps `LastModifiedDate` and `SystemModstamp` from the harness clock (whole seconds: a
//! frozen clock makes every write tie); a change made directly in the store by a test
//! (`store().touch`) moves only `SystemModstamp`, as a system change does.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::Ctx;
use super::answer::{SfError, datetime};
use super::cdc::Change;
use super::config::API_VERSION;
use super::ids::sf_id;
use super::schema::{ERP_ID, SObject};
use crate::StoreError;
use crate::store::Record;

/// The `changeOrigin` of a write through `api` (`rest`, `bulk`) with the request's
/// `Sforce-Call-Options: client=…`.
pub fn origin(headers: &HeaderMap, api: &str) -> String {
    let version = API_VERSION.trim_start_matches('v');
    let client = headers
        .get("sforce-call-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|p| p.trim().strip_prefix("client=")));
    match client {
        Some(c) => format!("com/salesforce/api/{api}/{version};client={c}"),
        None => format!("com/salesforce/api/{api}/{version}"),
    }
}

/// The writes of one request: one transaction key, events numbered in order.
pub struct Writer<'a> {
    ctx: &'a Ctx,
    origin: String,
    transaction: String,
    sequence: u32,
}

impl<'a> Writer<'a> {
    pub fn new(ctx: &'a Ctx, origin: String) -> Self {
        let bytes: [u8; 16] = rand::random();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let transaction = format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        Self {
            ctx,
            origin,
            transaction,
            sequence: 0,
        }
    }

    fn publish(
        &mut self,
        object: &SObject,
        id: u64,
        kind: &str,
        changed: Vec<String>,
        nulled: Vec<String>,
        fields: Map<String, Value>,
    ) {
        self.sequence += 1;
        let change = Change {
            entity: object.name,
            record_ids: vec![sf_id(object, id)],
            change_type: kind,
            changed,
            nulled,
            fields,
            origin: self.origin.clone(),
            transaction_key: &self.transaction,
            sequence: self.sequence,
        };
        self.ctx
            .shared
            .cdc
            .publish(change, self.ctx.harness.clock().now());
    }

    /// Inserts checked `fields`; answers the new record.
    pub fn create(
        &mut self,
        object: &SObject,
        mut fields: Map<String, Value>,
    ) -> Result<Record, SfError> {
        let now = self.ctx.harness.clock().now();
        fields.insert("LastModifiedDate".into(), datetime(now).into());
        if object.name == "Order" {
            let n = self.ctx.shared.next_order_number();
            fields.insert("OrderNumber".into(), format!("{n:08}").into());
        }
        let record = self
            .ctx
            .harness
            .store()
            .insert_at(object.name, fields, now)
            .map_err(duplicate(object))?;
        let payload: Map<String, Value> = record
            .fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.publish(object, record.id, "CREATE", Vec::new(), Vec::new(), payload);
        Ok(record)
    }

    /// Sets checked `fields` on record `id`.
    pub fn update(
        &mut self,
        object: &SObject,
        id: u64,
        mut fields: Map<String, Value>,
    ) -> Result<Record, SfError> {
        let store = self.ctx.harness.store();
        let before = store
            .get(object.name, id)
            .map_err(|_| SfError::not_found())?;
        let now = self.ctx.harness.clock().now();
        fields.insert("LastModifiedDate".into(), datetime(now).into());
        let record = store
            .update(object.name, id, fields.clone())
            .map_err(duplicate(object))?;
        let changed: Map<String, Value> = fields
            .into_iter()
            .filter(|(k, v)| {
                k == "LastModifiedDate" || before.fields.get(k).unwrap_or(&Value::Null) != v
            })
            .collect();
        let nulled = changed
            .iter()
            .filter(|(_, v)| v.is_null())
            .map(|(k, _)| k.clone())
            .collect();
        let names = changed.keys().cloned().collect();
        self.publish(object, id, "UPDATE", names, nulled, changed);
        Ok(record)
    }

    pub fn delete(&mut self, object: &SObject, id: u64) -> Result<(), SfError> {
        self.ctx
            .harness
            .store()
            .delete(object.name, id)
            .map_err(|_| SfError::not_found())?;
        self.publish(object, id, "DELETE", Vec::new(), Vec::new(), Map::new());
        Ok(())
    }
}

fn duplicate(object: &SObject) -> impl Fn(StoreError) -> SfError + '_ {
    move |e| match e {
        StoreError::DuplicateKey { id, .. } => SfError::bad(
            "DUPLICATE_VALUE",
            format!(
                "duplicate value found: {ERP_ID} duplicates value on record with id: {}",
                sf_id(object, id)
            ),
        ),
        _ => SfError::not_found(),
    }
}
