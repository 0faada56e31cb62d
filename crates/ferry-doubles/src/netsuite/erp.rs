//! The ERP team's own work, for tests and examples: fulfil a sales order (an item
//! fulfilment created from it), bill it (an invoice), set an item's stock at a location.
//! Each stamps what it changes from the store's clock, as NetSuite would.

use serde_json::{Map, Value, json};

use super::schema;
use crate::error::StoreError;
use crate::store::{Record, RecordStore};

/// Why the ERP team's step could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ErpError {
    #[error("no sales order with internal id {0}")]
    NoOrder(u64),
    #[error("no item with internal id {0}")]
    NoItem(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ERP team at work on one double's records.
pub struct Erp<'a> {
    store: &'a RecordStore,
}

impl<'a> Erp<'a> {
    pub fn new(store: &'a RecordStore) -> Self {
        Self { store }
    }

    fn order(&self, id: u64) -> Result<Record, ErpError> {
        let record = self
            .store
            .get("transaction", id)
            .map_err(|_| ErpError::NoOrder(id))?;
        if record.fields.get("type").and_then(Value::as_str) != Some("SalesOrd") {
            return Err(ErpError::NoOrder(id));
        }
        Ok(record)
    }

    /// A transaction made from sales order `order`: its customer and every line.
    fn made_from(&self, order: &Record, code: &str, prefix: &str) -> Result<u64, ErpError> {
        let lines: Vec<Value> = schema::lines(order)
            .into_iter()
            .map(|l| Value::Object(l.clone()))
            .collect();
        let mut fields = Map::new();
        fields.insert("type".into(), json!(code));
        fields.insert(
            "entity".into(),
            order.fields.get("entity").cloned().unwrap_or(Value::Null),
        );
        fields.insert("createdfrom".into(), json!(order.id.to_string()));
        fields.insert(
            "trandate".into(),
            json!(self.store.clock().now().format("%Y-%m-%d").to_string()),
        );
        fields.insert("item".into(), Value::Array(lines));
        fields.insert(
            "status".into(),
            json!(if code == "ItemShip" { "C" } else { "A" }),
        );
        if code == "ItemShip" {
            fields.insert("shipstatus".into(), json!("C"));
        }
        let record = self.store.insert("transaction", fields)?;
        let number = json!({"tranid": format!("{prefix}{}", 1000 + record.id)});
        self.store
            .update("transaction", record.id, object(number))?;
        Ok(record.id)
    }

    /// Ships every line of sales order `order` in full: a new item fulfilment (shipped,
    /// `shipstatus` C) created from it, and the order pending billing (status F). Returns
    /// the fulfilment's internal id.
    pub fn fulfil(&self, order: u64) -> Result<u64, ErpError> {
        let record = self.order(order)?;
        let id = self.made_from(&record, "ItemShip", "IF")?;
        self.store
            .update("transaction", order, object(json!({"status": "F"})))?;
        Ok(id)
    }

    /// Bills sales order `order`: a new invoice of every line, the order billed (status
    /// G). Returns the invoice's internal id.
    pub fn bill(&self, order: u64) -> Result<u64, ErpError> {
        let record = self.order(order)?;
        let id = self.made_from(&record, "CustInvc", "INV")?;
        self.store
            .update("transaction", order, object(json!({"status": "G"})))?;
        Ok(id)
    }

    /// Sets item `item`'s quantity on hand (and available) at location `location`; the
    /// item's `lastmodifieddate` moves.
    pub fn set_stock(&self, item: u64, location: u64, quantity: f64) -> Result<(), ErpError> {
        let record = self
            .store
            .get("item", item)
            .map_err(|_| ErpError::NoItem(item))?;
        let mut at: Vec<Value> = record
            .fields
            .get("locations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let entry = json!({"location": location.to_string(), "quantityonhand": quantity,
                           "quantityavailable": quantity});
        match at
            .iter()
            .position(|l| l["location"] == json!(location.to_string()))
        {
            Some(p) => at[p] = entry,
            None => at.push(entry),
        }
        let mut patch = Map::new();
        patch.insert("locations".into(), Value::Array(at));
        self.store.update("item", item, patch)?;
        Ok(())
    }
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}
