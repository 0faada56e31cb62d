//! `ferry discover`: the objects the connector reads and writes, from its static schema
//! (what it asks for, see [`crate::schema`]), not from the shop: GraphQL introspection of
//! the whole Admin API is large and says nothing about one shop. One cheap query proves the
//! token works first.

use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::ConnectorError;

use crate::config::Object;
use crate::connector::ShopifyConnector;
use crate::gql::Sel;
use crate::schema::discovered;

impl ShopifyConnector {
    pub(crate) async fn list_objects(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.ping().await?;
        let mut out: Vec<ObjectInfo> = [Object::Customers, Object::Products, Object::Orders]
            .into_iter()
            .map(|o| ObjectInfo {
                name: o.name().to_owned(),
                fields: fields(&discovered(o)),
            })
            .collect();
        out.push(ObjectInfo {
            name: "inventory".into(),
            fields: fields(&[
                ("sku", "String"),
                ("warehouse", "Location code, GID or name"),
                ("available", "Int"),
            ]),
        });
        out.push(ObjectInfo {
            name: "fulfillments".into(),
            fields: fields(&[
                ("order_number", "String (order name or GID)"),
                ("tracking_number", "String"),
                ("carrier", "String"),
                ("tracking_url", "URL"),
                ("lines", "[sku quantity]"),
            ]),
        });
        Ok(out)
    }

    /// The cheapest query there is: proves the shop answers and takes the token.
    pub(crate) async fn ping(&self) -> Result<(), ConnectorError> {
        let f = Sel::object("shop", vec![Sel::scalar("name")]);
        self.api.query(&[f], false, "shop").await.map(|_| ())
    }
}

fn fields(list: &[(&str, &str)]) -> Vec<FieldInfo> {
    list.iter()
        .map(|(name, ty)| FieldInfo {
            name: (*name).to_owned(),
            ty: (*ty).to_owned(),
            nullable: *name != "id",
        })
        .collect()
}
