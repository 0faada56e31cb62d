//! An existing record's lines, written item by item.
//!
//! SAP Gateway has no deep update: a sales order already in SAP takes changes to its
//! items through the item set. The lookup reads the items with the record (`$expand`);
//! each of the record's lines is compared with the item at the same position (items in
//! item-number order, `10, 20, …`): a line with other values is a `PATCH` of that item's
//! changed properties, a line beyond the items a `POST` under the navigation
//! (`A_SalesOrder('…')/to_Item`, SAP numbers it), an item beyond the lines a `DELETE`.
//! Lines that match their items cost nothing, so a second run writes nothing.
//!
//! Each operation is its own change set, after the header's: a refused item (a delivered
//! item cannot be deleted) is that record's refusal, and what was written before it stays;
//! the next run compares again and writes only what is still different.

use serde_json::{Map, Value};

use crate::api::{Operation, plain, predicate, text_literal};
use crate::config::TargetSpec;
use crate::schema::SetTypes;
use ferry_kit::sink::same_value;

/// Where and how the items of one target's records are written.
#[derive(Debug, Clone)]
pub struct Items {
    /// The navigation holding the items (`to_Item`).
    pub nav: String,
    /// The items' entity set (`A_SalesOrderItem`).
    set: String,
    /// The record's key property in an item's key (`SalesOrder`).
    parent: String,
    /// The item number property (`SalesOrderItem`).
    number: String,
    /// The record's set (`A_SalesOrder`).
    header_set: String,
}

impl Items {
    /// How `spec`'s lines are updated; `None` when it has no lines or `update: false`.
    pub fn of(spec: &TargetSpec) -> Option<Self> {
        let lines = spec.options.lines.as_ref().filter(|l| l.update)?;
        Some(Self {
            nav: lines.nav.clone().unwrap_or_else(|| "to_Item".to_owned()),
            set: lines
                .set
                .clone()
                .unwrap_or_else(|| "A_SalesOrderItem".to_owned()),
            parent: spec.id.clone(),
            number: lines
                .item
                .clone()
                .unwrap_or_else(|| "SalesOrderItem".to_owned()),
            header_set: spec.set.clone(),
        })
    }

    /// The operations that bring the items of record `id` (as `held` shows them, with
    /// the navigation expanded) to `wanted`, the record's lines in SAP's property names.
    /// A held record without the navigation (not expanded) is left as it is.
    pub fn ops(
        &self,
        id: &str,
        wanted: &[Map<String, Value>],
        held: &Map<String, Value>,
        types: &SetTypes,
    ) -> Vec<Operation> {
        let Some(mut items) = self.held_items(held) else {
            return Vec::new();
        };
        items.sort_by_key(|item| self.number_of(item).parse::<u64>().unwrap_or(u64::MAX));
        let mut ops = Vec::new();
        for i in 0..wanted.len().max(items.len()) {
            match (wanted.get(i), items.get(i)) {
                (Some(line), Some(item)) => ops.extend(self.update(id, line, item, types)),
                (Some(line), None) => ops.push(Operation {
                    method: "POST",
                    path: format!("{}({})/{}", self.header_set, text_literal(id), self.nav),
                    if_match: None,
                    body: Some(Value::Object(types.wired_line(line.clone()))),
                }),
                (None, Some(item)) => ops.push(Operation {
                    method: "DELETE",
                    path: self.item_path(id, item),
                    if_match: Some("*".to_owned()),
                    body: None,
                }),
                (None, None) => {}
            }
        }
        ops
    }

    /// The PATCH of `item`'s properties that differ from `line`, if any.
    fn update(
        &self,
        id: &str,
        line: &Map<String, Value>,
        item: &Map<String, Value>,
        types: &SetTypes,
    ) -> Option<Operation> {
        let changed: Map<String, Value> = line
            .iter()
            .filter(|(k, v)| {
                let has = item
                    .get(*k)
                    .cloned()
                    .map_or(Value::Null, |h| types.read_line(k, h));
                !same_value(v, &has)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!changed.is_empty()).then(|| Operation {
            method: "PATCH",
            path: self.item_path(id, item),
            // The item's own ETag is not read with the order; the header's lookup is the
            // fence against concurrent changes (see the README).
            if_match: Some("*".to_owned()),
            body: Some(Value::Object(types.wired_line(changed))),
        })
    }

    /// `A_SalesOrderItem(SalesOrder='…',SalesOrderItem='10')`.
    fn item_path(&self, id: &str, item: &Map<String, Value>) -> String {
        let key = [self.parent.clone(), self.number.clone()];
        let values = [id.to_owned(), self.number_of(item)];
        format!("{}{}", self.set, predicate(&key, &values))
    }

    fn number_of(&self, item: &Map<String, Value>) -> String {
        item.get(&self.number)
            .and_then(ferry_kit::sink::key_text)
            .unwrap_or_default()
    }

    /// The items a held record shows under the navigation, as read (`None`: not expanded).
    fn held_items(&self, held: &Map<String, Value>) -> Option<Vec<Map<String, Value>>> {
        match plain(held.get(&self.nav)?.clone())? {
            Value::Array(items) => Some(
                items
                    .into_iter()
                    .filter_map(|i| match i {
                        Value::Object(m) => Some(m),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetOptions;
    use serde_json::json;

    fn items() -> Items {
        let options: TargetOptions = serde_json::from_value(json!({
            "service": "API_SALES_ORDER_SRV", "entity_set": "A_SalesOrder",
            "lines": {"fields": {"sku": "Material", "quantity": "RequestedQuantity"}},
        }))
        .unwrap();
        Items::of(&options.validate().unwrap()).unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn lines_are_matched_to_items_by_position_in_item_number_order() {
        let held = obj(json!({"SalesOrder": "4000001", "to_Item": {"results": [
            {"SalesOrderItem": "20", "Material": "TG12", "RequestedQuantity": "5.000"},
            {"SalesOrderItem": "10", "Material": "TG11", "RequestedQuantity": "2.000"},
            {"SalesOrderItem": "30", "Material": "TG13", "RequestedQuantity": "1.000"},
        ]}}));
        let wanted = [
            obj(json!({"Material": "TG11", "RequestedQuantity": 2})),
            obj(json!({"Material": "TG12", "RequestedQuantity": 7})),
        ];
        let ops = items().ops("4000001", &wanted, &held, &SetTypes::untyped());
        let shown: Vec<(&str, &str)> = ops.iter().map(|o| (o.method, o.path.as_str())).collect();
        assert_eq!(
            shown,
            [
                (
                    "PATCH",
                    "A_SalesOrderItem(SalesOrder='4000001',SalesOrderItem='20')"
                ),
                (
                    "DELETE",
                    "A_SalesOrderItem(SalesOrder='4000001',SalesOrderItem='30')"
                ),
            ]
        );
        assert_eq!(ops[0].body, Some(json!({"RequestedQuantity": "7"})));

        let more = [
            wanted[0].clone(),
            wanted[1].clone(),
            obj(json!({"Material": "TG13", "RequestedQuantity": 1})),
            obj(json!({"Material": "TG14", "RequestedQuantity": 4})),
        ];
        let ops = items().ops("4000001", &more, &held, &SetTypes::untyped());
        assert_eq!(ops.last().unwrap().method, "POST");
        assert_eq!(ops.last().unwrap().path, "A_SalesOrder('4000001')/to_Item");
        assert_eq!(ops.len(), 2, "{ops:?}");
    }

    #[test]
    fn a_record_read_without_its_items_is_left_alone() {
        let held = obj(json!({"SalesOrder": "4000001"}));
        let wanted = [obj(json!({"Material": "TG11"}))];
        assert!(
            items()
                .ops("4000001", &wanted, &held, &SetTypes::untyped())
                .is_empty()
        );
    }
}
