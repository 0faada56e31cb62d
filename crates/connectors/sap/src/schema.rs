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
    pub fn parse(edmx: &str) -> Self {
        let ends = association_ends(edmx);
        let mut types = HashMap::new();
        for (name, body) in blocks(edmx, "EntityType") {
            types.insert(name, entity_type(body, &ends));
        }
        let sets = elements(edmx, "EntitySet")
            .into_iter()
            .filter_map(|tag| {
                Some((
                    attr(tag, "Name")?.to_owned(),
                    short(attr(tag, "EntityType")?),
                ))
            })
            .collect();
        Self { sets, types }
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

/// The entity type declared in `body` (the text inside `<EntityType …>`).
fn entity_type(body: &str, ends: &HashMap<(String, String), String>) -> EntityType {
    let props = elements(body, "Property")
        .into_iter()
        .filter_map(|p| {
            let prop = Prop {
                edm: attr(p, "Type").unwrap_or("Edm.String").to_owned(),
                nullable: attr(p, "Nullable") != Some("false"),
                date_only: attr(p, "sap:display-format") == Some("Date"),
            };
            Some((attr(p, "Name")?.to_owned(), prop))
        })
        .collect();
    let navs = elements(body, "NavigationProperty")
        .into_iter()
        .filter_map(|n| {
            let assoc = short(attr(n, "Relationship")?);
            let target = ends.get(&(assoc, attr(n, "ToRole")?.to_owned()))?;
            Some((attr(n, "Name")?.to_owned(), target.clone()))
        })
        .collect();
    EntityType { props, navs }
}

/// `(association, role)` → the entity type at that end.
fn association_ends(edmx: &str) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    for (name, body) in blocks(edmx, "Association") {
        for end in elements(body, "End") {
            if let (Some(role), Some(ty)) = (attr(end, "Role"), attr(end, "Type")) {
                out.insert((name.clone(), role.to_owned()), short(ty));
            }
        }
    }
    out
}

/// The name without its namespace: `NS.A_SalesOrderType` → `A_SalesOrderType`.
fn short(qualified: &str) -> String {
    qualified.rsplit('.').next().unwrap_or(qualified).to_owned()
}

/// `(Name, inner text)` of each `<tag Name="…">…</tag>` element.
fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<(String, &'a str)> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        if !after.starts_with([' ', '\n', '\t', '\r']) {
            rest = after;
            continue;
        }
        let head_end = after.find('>').unwrap_or(after.len());
        let head = &after[..head_end];
        let body_end = if head.ends_with('/') {
            head_end
        } else {
            after.find(&close).unwrap_or(after.len())
        };
        if let Some(name) = attr(head, "Name") {
            out.push((name.to_owned(), &after[head_end.min(body_end)..body_end]));
        }
        rest = &after[body_end..];
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
    [' ', '\n', '\t', '\r'].iter().find_map(|sep| {
        let pattern = format!("{sep}{name}=\"");
        let start = tag.find(&pattern)? + pattern.len();
        let len = tag[start..].find('"')?;
        Some(&tag[start..start + len])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EDMX: &str = r#"<edmx:Edmx><edmx:DataServices><Schema Namespace="API_SALES_ORDER_SRV" xmlns:sap="http://www.sap.com/Protocols/SAPData">
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
        let schema = Schema::parse(EDMX);
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
    fn days_are_read_as_days_and_instants_stay_instants() {
        let schema = Schema::parse(EDMX);
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
        let schema = Schema::parse(EDMX);
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
