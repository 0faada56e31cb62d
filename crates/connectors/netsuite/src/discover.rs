//! `ferry discover`: the objects a source reads and their fields. SuiteQL has no cheap
//! catalogue of columns, so the list is the connector's own (the columns it selects); one
//! query proves the account answers.

use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::ConnectorError;

use crate::api::Api;
use crate::objects::{LINE_FIELDS, OBJECTS, STOCK_FIELDS};

/// One cheap query: the token is good and SuiteQL answers.
pub async fn probe(api: &Api) -> Result<(), ConnectorError> {
    api.query("SELECT id FROM customer", 1, 0).await.map(|_| ())
}

fn field(name: &str, ty: &str) -> FieldInfo {
    FieldInfo {
        name: name.to_owned(),
        ty: ty.to_owned(),
        nullable: name != "id",
    }
}

/// The objects, after a probe.
pub async fn objects(api: &Api) -> Result<Vec<ObjectInfo>, ConnectorError> {
    probe(api).await?;
    Ok(OBJECTS
        .iter()
        .map(|o| {
            let mut fields: Vec<FieldInfo> = o.columns.iter().map(|c| field(c, "text")).collect();
            fields.push(field("lastmodifieddate", "datetime"));
            if o.lines {
                let names = LINE_FIELDS.join(", ");
                fields.push(field("lines", &format!("array of {{{names}}}")));
            }
            if o.name == "fulfilments" {
                fields.push(field("createdfrom_externalid", "text"));
            }
            if o.name == "stock" {
                fields.extend(STOCK_FIELDS.iter().map(|f| field(f, "text")));
            }
            ObjectInfo {
                name: o.name.to_owned(),
                fields,
            }
        })
        .collect())
}
