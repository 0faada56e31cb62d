//! `ferry discover`: the standard forms this data centre answers, each with the fields a
//! query of it returned. K/3 Cloud's metadata service (`QueryBusinessInfo`) differs between
//! versions, so each known form is asked for its key fields directly: a form the tenant does
//! not have (or the user may not read) is left out.

use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::{ConnectorError, ErrorKind};

use crate::api::Query;
use crate::connector::KingdeeConnector;
use crate::forms;

impl KingdeeConnector {
    pub(crate) async fn discover_forms(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let mut found = Vec::new();
        for name in forms::names() {
            let form = forms::known(name).expect("a listed form is known");
            let keys = [form.id.to_owned(), "FModifyDate".to_owned()];
            let query = Query {
                form: name,
                keys: &keys,
                filter: String::new(),
                order: String::new(),
                start: 0,
                limit: 1,
            };
            let keys: &[String] = match self.api.query(&query).await {
                Ok(_) => &keys,
                // No change time on this form (stock): the key alone.
                Err(e) if e.kind() == ErrorKind::Fatal => match self
                    .api
                    .query(&Query {
                        keys: &keys[..1],
                        ..query.clone()
                    })
                    .await
                {
                    Ok(_) => &keys[..1],
                    Err(e) if e.kind() == ErrorKind::Fatal => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            };
            let fields = keys
                .iter()
                .map(|k| FieldInfo {
                    name: k.clone(),
                    ty: if k == form.id { "integer" } else { "date" }.to_owned(),
                    nullable: false,
                })
                .collect();
            found.push(ObjectInfo {
                name: name.to_owned(),
                fields,
            });
        }
        Ok(found)
    }
}
