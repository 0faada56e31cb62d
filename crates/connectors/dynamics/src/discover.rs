//! `ferry discover`: the org's entity sets and their columns with Edm types, from
//! `$metadata` (alternate keys marked, so a mapping author sees what a target can upsert on).

use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::ConnectorError;

use crate::api::Api;

pub async fn discover(api: &Api) -> Result<Vec<ObjectInfo>, ConnectorError> {
    let schema = api.schema().await?;
    Ok(schema
        .sets
        .iter()
        .map(|(set, ty)| {
            let keys: Vec<&String> = ty.alternate_keys.iter().flatten().collect();
            ObjectInfo {
                name: set.clone(),
                fields: ty
                    .properties
                    .iter()
                    .map(|(name, edm)| {
                        let mut ty_name = edm.clone();
                        if ty.key.contains(name) {
                            ty_name.push_str(" (id)");
                        } else if keys.contains(&name) {
                            ty_name.push_str(" (alternate key)");
                        }
                        FieldInfo {
                            name: name.clone(),
                            ty: ty_name,
                            nullable: !ty.key.contains(name),
                        }
                    })
                    .collect(),
            }
        })
        .collect())
}
