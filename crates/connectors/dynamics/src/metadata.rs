//! `$metadata` (CSDL XML) read into what the connector needs: each entity set's type, its
//! properties with their Edm types, its key and alternate keys, and its lookups.

use std::collections::BTreeMap;

use ferry_model::ConnectorError;

/// An entity type's properties.
#[derive(Debug, Clone, Default)]
pub struct EntityType {
    pub name: String,
    pub key: Vec<String>,
    /// Property → Edm type (`Edm.Decimal`, `Edm.String`, …), in document order.
    pub properties: Vec<(String, String)>,
    pub navigation: Vec<String>,
    pub alternate_keys: Vec<Vec<String>>,
}

impl EntityType {
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }
}

/// Entity set → its type.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub sets: BTreeMap<String, EntityType>,
}

impl Schema {
    /// Reads a CSDL document.
    pub fn parse(xml: &str) -> Result<Self, ConnectorError> {
        let doc = roxmltree::Document::parse(xml)
            .map_err(|e| ConnectorError::fatal(format!("$metadata is not readable XML: {e}")))?;
        let mut types: BTreeMap<String, EntityType> = BTreeMap::new();
        for node in doc.descendants().filter(|n| n.has_tag_name("EntityType")) {
            let entity = entity_type(node);
            types.insert(entity.name.clone(), entity);
        }
        let mut sets = BTreeMap::new();
        for node in doc.descendants().filter(|n| n.has_tag_name("EntitySet")) {
            let (Some(set), Some(ty)) = (node.attribute("Name"), node.attribute("EntityType"))
            else {
                continue;
            };
            let short = ty.rsplit('.').next().unwrap_or(ty);
            if let Some(entity) = types.get(short) {
                sets.insert(set.to_owned(), entity.clone());
            }
        }
        Ok(Self { sets })
    }
}

fn entity_type(node: roxmltree::Node<'_, '_>) -> EntityType {
    let name = node.attribute("Name").unwrap_or_default().to_owned();
    let mut out = EntityType {
        name,
        ..EntityType::default()
    };
    for child in node.children().filter(roxmltree::Node::is_element) {
        match child.tag_name().name() {
            "Key" => out.key = refs(child),
            "Property" => out.properties.push((
                child.attribute("Name").unwrap_or_default().to_owned(),
                child.attribute("Type").unwrap_or_default().to_owned(),
            )),
            "NavigationProperty" => out
                .navigation
                .push(child.attribute("Name").unwrap_or_default().to_owned()),
            "Annotation"
                if child
                    .attribute("Term")
                    .is_some_and(|t| t.ends_with("AlternateKeys")) =>
            {
                out.alternate_keys = child
                    .descendants()
                    .filter(|n| {
                        n.has_tag_name("Record")
                            && n.attribute("Type")
                                .is_some_and(|t| t.ends_with(".AlternateKey"))
                    })
                    .map(key_paths)
                    .collect();
            }
            _ => {}
        }
    }
    out
}

/// The columns of an `AlternateKey` record: its `PropertyRef` records' `Name` paths.
fn key_paths(node: roxmltree::Node<'_, '_>) -> Vec<String> {
    node.descendants()
        .filter(|n| n.has_tag_name("PropertyValue") && n.attribute("Property") == Some("Name"))
        .filter_map(|n| n.attribute("PropertyPath").map(str::to_owned))
        .collect()
}

/// The `Name`s of the `PropertyRef`s under `node`.
fn refs(node: roxmltree::Node<'_, '_>) -> Vec<String> {
    node.descendants()
        .filter(|n| n.has_tag_name("PropertyRef"))
        .filter_map(|n| {
            n.attribute("Name")
                .or(n.attribute("Alias"))
                .map(str::to_owned)
        })
        .collect()
}
