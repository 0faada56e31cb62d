//! What a service's `$metadata` (EDMX) says about its values, and how values are read and
//! written by it.
//!
//! OData v2 JSON does not carry types: an `Edm.DateTime` holding a calendar day (the
//! property annotated `sap:display-format="Date"`: `CreationDate`, `BillingDocumentDate`,
//! `ActualGoodsMovementDate` …) arrives as `/Date(ms)/` of midnight UTC, exactly like an
//! instant. Read as an instant, a day shown in a time zone west of UTC becomes the day
//! before. So the source reads such a property as the day (`2024-05-01`), and the sink
//! writes each value in the form its property's type takes: `Edm.Decimal`/`Edm.Int64`
//! as text, `Edm.Int32` and its kin as JSON numbers, `Edm.Boolean` as `true`/`false`,
//! `Edm.DateTime`/`Edm.DateTimeOffset` as `/Date(ms)/`. A property the document does not
//! name (or a service whose `$metadata` the user may not read) keeps the untyped rules:
//! numbers as text, the rest as given.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use ferry_kit::{FieldInfo, ObjectInfo};
use indexmap::IndexMap;
use roxmltree::Node;
use serde_json::{Map, Value};

use crate::api::date_millis;

/// A service's entity sets and entity types.
#[derive(Debug, Default, Clone)]
pub struct Schema {
    /// Entity set → its entity type's short name, in document order.
    sets: IndexMap<String, String>,
    types: HashMap<String, EntityType>,
}

/// An entity type: its properties in document order, its navigations' target types.
#[derive(Debug, Default, Clone)]
pub struct EntityType {
    props: IndexMap<String, Prop>,
    navs: HashMap<String, String>,
}

/// One property's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    /// `Edm.String`, `Edm.Decimal` …
    pub edm: String,
    pub nullable: bool,
    /// `Edm.DateTime` shown as a date (`sap:display-format="Date"`): a calendar day.
    pub date_only: bool,
}

impl Schema {
    /// The schema an EDMX document declares (one or more `Schema` elements).
    pub fn parse(edmx: &str) -> Result<Self, roxmltree::Error> {
        let doc = roxmltree::Document::parse(edmx)?;
        let ends = association_ends(&doc);
        let types = named(doc.descendants(), "EntityType")
            .filter_map(|t| Some((t.attribute("Name")?.to_owned(), entity_type(t, &ends))))
            .collect();
        let sets = named(doc.descendants(), "EntitySet")
            .filter_map(|s| {
                let ty = short(s.attribute("EntityType")?);
                Some((s.attribute("Name")?.to_owned(), ty))
            })
            .collect();
        Ok(Self { sets, types })
    }

    /// The entity type of an entity set.
    pub fn set_type(&self, set: &str) -> Option<&EntityType> {
        self.types.get(self.sets.get(set)?)
    }

    /// The entity type a navigation of `ty` leads to.
    pub fn nav_type(&self, ty: &EntityType, nav: &str) -> Option<&EntityType> {
        self.types.get(ty.navs.get(nav)?)
    }

    /// The entity sets with their properties, for `ferry discover`.
    pub fn objects(&self) -> Vec<ObjectInfo> {
        self.sets
            .iter()
            .map(|(set, ty)| ObjectInfo {
                name: set.clone(),
                fields: self
                    .types
                    .get(ty)
                    .map(EntityType::fields)
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// An entity read by the source, typed by `ty`: days as days, expanded navigations by
    /// their own types. `plain` values (RFC 3339 instants) go in.
    pub fn read_entity(&self, ty: &EntityType, entity: Map<String, Value>) -> Map<String, Value> {
        entity
            .into_iter()
            .map(|(k, v)| {
                let v = match (ty.props.get(&k), self.nav_type(ty, &k)) {
                    (Some(prop), _) => prop.read(v),
                    (None, Some(target)) => self.read_nested(target, v),
                    (None, None) => v,
                };
                (k, v)
            })
            .collect()
    }

    fn read_nested(&self, ty: &EntityType, value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(self.read_entity(ty, map)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|i| self.read_nested(ty, i)).collect())
            }
            other => other,
        }
    }
}

impl EntityType {
    /// The type of property `name`.
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.get(name)
    }

    fn fields(&self) -> Vec<FieldInfo> {
        self.props
            .iter()
            .map(|(name, p)| FieldInfo {
                name: name.clone(),
                ty: p.edm.clone(),
                nullable: p.nullable,
            })
            .collect()
    }
}

impl Prop {
    /// A value as read (after `/Date()/` became RFC 3339): a day property as its day.
    pub fn read(&self, value: Value) -> Value {
        match value {
            Value::String(s) if self.date_only => match DateTime::parse_from_rfc3339(&s) {
                Ok(at) => Value::String(at.to_utc().format("%Y-%m-%d").to_string()),
                Err(_) => Value::String(s),
            },
            other => other,
        }
    }

    /// A value in the JSON form this property's type takes in OData v2. A value that does
    /// not fit is sent as given: SAP's refusal then names the property.
    pub fn wire(&self, value: &Value) -> Value {
        match self.edm.as_str() {
            "Edm.Int16" | "Edm.Int32" | "Edm.Byte" | "Edm.SByte" => integer(value),
            "Edm.Boolean" => boolean(value),
            "Edm.DateTime" => date_value(value, "").unwrap_or_else(|| value.clone()),
            "Edm.DateTimeOffset" => date_value(value, "+0000").unwrap_or_else(|| value.clone()),
            // Edm.Decimal, Edm.Int64, Edm.Double, Edm.Single, Edm.String travel as text.
            _ => untyped_wire(value),
        }
    }
}

/// The types of the set's properties and of its lines' properties, from `$metadata`;
/// without it, values go by the untyped rules (numbers as text).
pub struct SetTypes {
    pub schema: Option<Arc<Schema>>,
    pub set: String,
    pub lines_nav: Option<String>,
}

impl SetTypes {
    /// No `$metadata`: everything by the untyped rules.
    #[cfg(test)]
    pub fn untyped() -> Self {
        Self {
            schema: None,
            set: String::new(),
            lines_nav: None,
        }
    }

    fn record_type(&self) -> Option<&EntityType> {
        self.schema.as_deref()?.set_type(&self.set)
    }

    fn line_type(&self) -> Option<&EntityType> {
        let schema = self.schema.as_deref()?;
        schema.nav_type(self.record_type()?, self.lines_nav.as_deref()?)
    }

    /// A property's value in its type's JSON form.
    pub fn wire(&self, prop: &str, value: &Value) -> Value {
        match self.record_type().and_then(|t| t.prop(prop)) {
            Some(p) => p.wire(value),
            None => untyped_wire(value),
        }
    }

    /// A line property's value in its type's JSON form.
    pub fn wire_line(&self, prop: &str, value: &Value) -> Value {
        match self.line_type().and_then(|t| t.prop(prop)) {
            Some(p) => p.wire(value),
            None => untyped_wire(value),
        }
    }

    pub fn wired(&self, values: Map<String, Value>) -> Map<String, Value> {
        values
            .into_iter()
            .map(|(k, v)| {
                let v = self.wire(&k, &v);
                (k, v)
            })
            .collect()
    }

    /// A line's properties in their types' JSON forms.
    pub fn wired_line(&self, values: Map<String, Value>) -> Map<String, Value> {
        values
            .into_iter()
            .map(|(k, v)| {
                let v = self.wire_line(&k, &v);
                (k, v)
            })
            .collect()
    }

    /// A line property's value as read, to compare with Ferry's.
    pub fn read_line(&self, prop: &str, value: Value) -> Value {
        match self.line_type().and_then(|t| t.prop(prop)) {
            Some(p) => p.read(value),
            None => value,
        }
    }

    /// A property's value as read (a day property as its day), to compare with Ferry's.
    pub fn read(&self, prop: &str, value: Value) -> Value {
        match self.record_type().and_then(|t| t.prop(prop)) {
            Some(p) => p.read(value),
            None => value,
        }
    }
}

/// A value as OData v2 JSON takes it without a type to go by: numbers as text (what
/// `Edm.Decimal` needs), the rest as given.
pub fn untyped_wire(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

fn integer(value: &Value) -> Value {
    match value {
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_or_else(|_| value.clone(), Value::from),
        other => other.clone(),
    }
}

fn boolean(value: &Value) -> Value {
    match value {
        Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        other => other.clone(),
    }
}

/// `/Date(ms<suffix>)/` of a day (`2024-05-01`, midnight UTC), an RFC 3339 instant or a
/// value already in that form.
fn date_value(value: &Value, suffix: &str) -> Option<Value> {
    let text = value.as_str()?;
    let ms = if let Some(ms) = date_millis(text) {
        ms
    } else if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis()
    } else {
        DateTime::parse_from_rfc3339(text).ok()?.timestamp_millis()
    };
    Some(Value::String(format!("/Date({ms}{suffix})/")))
}

/// The namespace of SAP's annotations (`sap:display-format`).
const SAP_NS: &str = "http://www.sap.com/Protocols/SAPData";

/// The elements among `nodes` with local name `name`.
fn named<'a, 'i: 'a>(
    nodes: impl Iterator<Item = Node<'a, 'i>>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    nodes.filter(move |n| n.is_element() && n.tag_name().name() == name)
}

/// The entity type an `EntityType` element declares.
fn entity_type(node: Node<'_, '_>, ends: &HashMap<(String, String), String>) -> EntityType {
    let props = named(node.children(), "Property")
        .filter_map(|p| {
            let prop = Prop {
                edm: p.attribute("Type").unwrap_or("Edm.String").to_owned(),
                nullable: p.attribute("Nullable") != Some("false"),
                date_only: p.attribute((SAP_NS, "display-format")) == Some("Date"),
            };
            Some((p.attribute("Name")?.to_owned(), prop))
        })
        .collect();
    let navs = named(node.children(), "NavigationProperty")
        .filter_map(|n| {
            let assoc = short(n.attribute("Relationship")?);
            let target = ends.get(&(assoc, n.attribute("ToRole")?.to_owned()))?;
            Some((n.attribute("Name")?.to_owned(), target.clone()))
        })
        .collect();
    EntityType { props, navs }
}

/// `(association, role)` → the entity type at that end.
fn association_ends(doc: &roxmltree::Document<'_>) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    for assoc in named(doc.descendants(), "Association") {
        let Some(name) = assoc.attribute("Name") else {
            continue;
        };
        for end in named(assoc.children(), "End") {
            if let (Some(role), Some(ty)) = (end.attribute("Role"), end.attribute("Type")) {
                out.insert((name.to_owned(), role.to_owned()), short(ty));
            }
        }
    }
    out
}

/// The name without its namespace: `NS.A_SalesOrderType` → `A_SalesOrderType`.
fn short(qualified: &str) -> String {
    qualified.rsplit('.').next().unwrap_or(qualified).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EDMX: &str = r#"<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><edmx:DataServices><Schema Namespace="API_SALES_ORDER_SRV" xmlns:sap="http://www.sap.com/Protocols/SAPData">
<EntityType Name="A_SalesOrderType" sap:content-version="1"><Key><PropertyRef Name="SalesOrder"/></Key>
<Property Name="SalesOrder" Type="Edm.String" Nullable="false"/><Property Name="TotalNetAmount" Type="Edm.Decimal"/>
<Property Name="SalesOrderDate" Type="Edm.DateTime" Precision="0" sap:display-format="Date"/>
<Property Name="LastChangeDateTime" Type="Edm.DateTimeOffset" Precision="7"/>
<Property Name="DeliveryBlockReason" Type="Edm.Boolean"/>
<NavigationProperty Name="to_Item" Relationship="API_SALES_ORDER_SRV.assoc_A" FromRole="FromRole_assoc_A" ToRole="ToRole_assoc_A"/></EntityType>
<EntityType Name="A_SalesOrderItemType"><Key><PropertyRef Name="SalesOrderItem"/></Key>
<Property Name="SalesOrderItem" Type="Edm.String" Nullable="false"/><Property Name="ItemCount" Type="Edm.Int32"/>
<Property Name="RequestedDeliveryDate"
  Type="Edm.DateTime" sap:display-format="Date"/></EntityType>
<Association Name="assoc_A"><End Type="API_SALES_ORDER_SRV.A_SalesOrderType" Multiplicity="1" Role="FromRole_assoc_A"/>
<End Type="API_SALES_ORDER_SRV.A_SalesOrderItemType" Multiplicity="*" Role="ToRole_assoc_A"/></Association>
<EntityContainer Name="C"><EntitySet Name="A_SalesOrder" EntityType="API_SALES_ORDER_SRV.A_SalesOrderType"/>
<AssociationSet Name="assoc_A_set" Association="API_SALES_ORDER_SRV.assoc_A"/></EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>"#;

    #[test]
    fn sets_types_and_navigations_are_read_from_edmx() {
        let schema = Schema::parse(EDMX).unwrap();
        let found = schema.objects();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "A_SalesOrder");
        let names: Vec<&str> = found[0].fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "SalesOrder",
                "TotalNetAmount",
                "SalesOrderDate",
                "LastChangeDateTime",
                "DeliveryBlockReason"
            ]
        );
        assert!(!found[0].fields[0].nullable);
        assert_eq!(found[0].fields[1].ty, "Edm.Decimal");
        let order = schema.set_type("A_SalesOrder").unwrap();
        assert!(order.prop("SalesOrderDate").unwrap().date_only);
        assert!(!order.prop("LastChangeDateTime").unwrap().date_only);
        let item = schema.nav_type(order, "to_Item").unwrap();
        assert!(item.prop("RequestedDeliveryDate").unwrap().date_only);
        assert_eq!(item.prop("ItemCount").unwrap().edm, "Edm.Int32");
    }

    #[test]
    fn an_annotation_counts_by_its_namespace_not_its_prefix_and_broken_xml_is_refused() {
        // The same annotation under another prefix is the same annotation.
        let other = EDMX
            .replace("xmlns:sap=", "xmlns:s=")
            .replace("sap:display-format", "s:display-format")
            .replace("sap:content-version", "s:content-version");
        let schema = Schema::parse(&other).unwrap();
        let order = schema.set_type("A_SalesOrder").unwrap();
        assert!(order.prop("SalesOrderDate").unwrap().date_only);
        assert!(Schema::parse("<edmx:Edmx><Schema").is_err());
    }

    #[test]
    fn days_are_read_as_days_and_instants_stay_instants() {
        let schema = Schema::parse(EDMX).unwrap();
        let order = schema.set_type("A_SalesOrder").unwrap();
        let read = schema.read_entity(
            order,
            json!({
                "SalesOrderDate": "2024-05-01T00:00:00Z",
                "LastChangeDateTime": "2024-05-01T08:30:00Z",
                "Unknown": "2024-05-01T00:00:00Z",
                "to_Item": [{"RequestedDeliveryDate": "2024-06-03T00:00:00Z"}]
            })
            .as_object()
            .cloned()
            .unwrap(),
        );
        assert_eq!(read["SalesOrderDate"], "2024-05-01");
        assert_eq!(read["LastChangeDateTime"], "2024-05-01T08:30:00Z");
        assert_eq!(read["Unknown"], "2024-05-01T00:00:00Z");
        assert_eq!(read["to_Item"][0]["RequestedDeliveryDate"], "2024-06-03");
    }

    #[test]
    fn values_are_written_in_the_form_their_type_takes() {
        let schema = Schema::parse(EDMX).unwrap();
        let order = schema.set_type("A_SalesOrder").unwrap();
        let item = schema.nav_type(order, "to_Item").unwrap();
        let wire = |t: &EntityType, p: &str, v: Value| t.prop(p).unwrap().wire(&v);
        assert_eq!(wire(order, "TotalNetAmount", json!(12.5)), json!("12.5"));
        assert_eq!(wire(item, "ItemCount", json!("3")), json!(3));
        assert_eq!(wire(item, "ItemCount", json!(3)), json!(3));
        assert_eq!(
            wire(order, "DeliveryBlockReason", json!("true")),
            json!(true)
        );
        assert_eq!(
            wire(order, "SalesOrderDate", json!("2024-05-01")),
            json!("/Date(1714521600000)/")
        );
        assert_eq!(
            wire(
                order,
                "LastChangeDateTime",
                json!("2024-05-01T10:00:00+02:00")
            ),
            json!("/Date(1714550400000+0000)/")
        );
        // Not a date: sent as given, for SAP to refuse by name.
        assert_eq!(
            wire(order, "SalesOrderDate", json!("first of May")),
            json!("first of May")
        );
    }
}
