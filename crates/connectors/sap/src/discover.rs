//! `ferry discover`: the entity sets of the configured services, each with its properties,
//! from the service's `$metadata` (EDMX). A service the system does not serve (or the
//! communication user may not use: SAP answers 403 `/IWFND/MED/170`) is left out.

use ferry_kit::http::{Call, HeaderName, HeaderValue};
use ferry_kit::{FieldInfo, ObjectInfo};
use ferry_model::{ConnectorError, ErrorKind};

use crate::api::Api;
use crate::connector::SapConnector;

impl SapConnector {
    pub(crate) async fn discover_sets(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let mut found = Vec::new();
        for service in &self.services {
            let mut call = Call::get(Api::path(service, "$metadata")).header(
                HeaderName::from_static("accept"),
                HeaderValue::from_static("application/xml"),
            );
            if let Some(c) = &self.api.client {
                call = call.query("sap-client", c);
            }
            let edmx = match self.api.http.send(call).await {
                Ok(r) => r.text(),
                Err(e) if matches!(e.kind(), ErrorKind::NotFound) => continue,
                // An unknown or inactive service is a 403 in SAP's words; the credentials
                // themselves are proven by the first service that answers.
                Err(e) if e.kind() == ErrorKind::Auth && !found.is_empty() => continue,
                Err(e) => return Err(e),
            };
            found.extend(sets(&edmx));
        }
        Ok(found)
    }
}

/// The entity sets of an EDMX document, with the properties of their entity types.
pub fn sets(edmx: &str) -> Vec<ObjectInfo> {
    let types = entity_types(edmx);
    let mut out = Vec::new();
    for tag in elements(edmx, "EntitySet") {
        let (Some(name), Some(ty)) = (attr(tag, "Name"), attr(tag, "EntityType")) else {
            continue;
        };
        let short = ty.rsplit('.').next().unwrap_or(ty);
        let fields = types
            .iter()
            .find(|(n, _)| n == short)
            .map(|(_, f)| f.clone())
            .unwrap_or_default();
        out.push(ObjectInfo {
            name: name.to_owned(),
            fields,
        });
    }
    out
}

/// `(type name, properties)` of every `EntityType`.
fn entity_types(edmx: &str) -> Vec<(String, Vec<FieldInfo>)> {
    let mut out = Vec::new();
    let mut rest = edmx;
    while let Some(start) = rest.find("<EntityType") {
        let block = &rest[start..];
        let end = block.find("</EntityType>").unwrap_or(block.len());
        let body = &block[..end];
        let head_end = body.find('>').unwrap_or(body.len());
        if let Some(name) = attr(&body[..head_end], "Name") {
            let fields = elements(body, "Property")
                .into_iter()
                .filter_map(|p| {
                    Some(FieldInfo {
                        name: attr(p, "Name")?.to_owned(),
                        ty: attr(p, "Type").unwrap_or("Edm.String").to_owned(),
                        nullable: attr(p, "Nullable") != Some("false"),
                    })
                })
                .collect();
            out.push((name.to_owned(), fields));
        }
        rest = &block[end.min(block.len())..];
        if end == block.len() {
            break;
        }
    }
    out
}

/// The opening tags `<name …>` in `xml` (attributes included).
fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        if after.starts_with([' ', '\n', '\t', '\r', '/', '>']) {
            let end = after.find('>').unwrap_or(after.len());
            out.push(&after[..end]);
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    out
}

/// The value of attribute `name` in a tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let pattern = format!(" {name}=\"");
    let start = tag
        .find(&pattern)
        .or_else(|| tag.find(&format!("\n{name}=\"")))?
        + pattern.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_sets_and_their_properties_are_read_from_edmx() {
        let edmx = r#"<edmx:Edmx><edmx:DataServices><Schema Namespace="API_SALES_ORDER_SRV">
<EntityType Name="A_SalesOrderType"><Key><PropertyRef Name="SalesOrder"/></Key>
<Property Name="SalesOrder" Type="Edm.String" Nullable="false"/><Property Name="TotalNetAmount" Type="Edm.Decimal"/>
<NavigationProperty Name="to_Item"/></EntityType>
<EntityContainer Name="C"><EntitySet Name="A_SalesOrder" EntityType="API_SALES_ORDER_SRV.A_SalesOrderType"/></EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>"#;
        let found = sets(edmx);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "A_SalesOrder");
        let names: Vec<&str> = found[0].fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["SalesOrder", "TotalNetAmount"]);
        assert!(!found[0].fields[0].nullable);
        assert_eq!(found[0].fields[1].ty, "Edm.Decimal");
    }
}
