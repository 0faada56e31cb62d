//! `ferry discover`: the objects the connector is made for (Accounts, Contacts,
//! Opportunities and their line items, Products, price books and their entries, Orders and
//! their items), each with the fields its `describe` lists. An object the org does not have
//! or the user may not read is left out.

use ferry_kit::http::Call;
use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::Value;

use crate::connector::SalesforceConnector;

/// The objects listed.
pub const OBJECTS: &[&str] = &[
    "Account",
    "Contact",
    "Opportunity",
    "OpportunityLineItem",
    "Product2",
    "Pricebook2",
    "PricebookEntry",
    "Order",
    "OrderItem",
];

impl SalesforceConnector {
    pub(crate) async fn describe_objects(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let mut found = Vec::new();
        for name in OBJECTS {
            let call = Call::get(self.api.path(&format!("sobjects/{name}/describe")));
            let describe = match self.api.json(call).await {
                Ok(d) => d,
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Auth) => {
                    if e.kind() == ErrorKind::Auth && found.is_empty() && *name == OBJECTS[0] {
                        return Err(e);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let fields = describe
                .get("fields")
                .and_then(Value::as_array)
                .map(|fields| {
                    fields
                        .iter()
                        .filter_map(|f| {
                            Some(FieldInfo {
                                name: f.get("name")?.as_str()?.to_owned(),
                                ty: f
                                    .get("type")
                                    .and_then(Value::as_str)
                                    .unwrap_or("string")
                                    .to_owned(),
                                nullable: f
                                    .get("nillable")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(true),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.push(ObjectInfo {
                name: (*name).to_owned(),
                fields,
            });
        }
        Ok(found)
    }
}
