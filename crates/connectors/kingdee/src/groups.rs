//! `sum_by`: a form's rows summed into one record per value of a field.
//!
//! Stock on hand (`STK_Inventory`) is one row per material, warehouse, lot and owner; a CRM
//! wants one figure per material. The rows are read ordered by the grouping field, so a
//! group's rows come together; a page is whole groups only. When a page of rows ends inside
//! a group (more rows follow), that group is left for the next page, which starts at it;
//! a group larger than a whole page is read alone, all its rows at once. The cursor is the
//! last group read; at the end of the form the next scan starts again at the beginning.

use std::collections::BTreeMap;

use ferry_kit::Page;
use ferry_kit::keyset::{Keyset, ReadAt, ScanEnd};
use ferry_model::{ConnectorError, Record};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::api::{Api, Query, one_of, text_literal};
use crate::config::SourceSpec;

/// The cursor: `w` the last group read.
type Cursor = Keyset<String, i64>;

/// A form read in groups by one flow.
pub struct Groups<'a> {
    pub api: &'a Api,
    pub spec: &'a SourceSpec,
    /// The grouping field.
    pub by: &'a str,
}

impl Groups<'_> {
    /// The field keys asked for: the grouping field, then the flow's fields.
    fn keys(&self) -> Vec<String> {
        let mut keys = vec![self.by.to_owned()];
        keys.extend(self.spec.fields.iter().cloned());
        keys
    }

    /// `condition` ANDed with the flow's own filter.
    fn filter(&self, condition: Option<String>) -> String {
        let own = self.spec.filter.as_ref().map(|f| format!("({f})"));
        [condition, own]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The rows of `keys` under `filter`, a group's rows together.
    fn query<'q>(&'q self, keys: &'q [String], filter: String, limit: usize) -> Query<'q> {
        Query {
            form: &self.spec.form,
            keys,
            filter,
            order: format!("{} ASC,{} ASC", self.by, self.spec.id),
            start: 0,
            limit,
        }
    }

    /// Up to `limit` groups after `cursor`.
    pub async fn read(&self, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
        let cursor = Cursor::decode(cursor)
            .map_err(|e| ConnectorError::fatal(format!("unreadable cursor: {e}")))?;
        let keys = self.keys();
        let after = cursor
            .w
            .as_ref()
            .filter(|_| !cursor.end)
            .map(|w| format!("{} > {}", self.by, text_literal(w)));
        let asked = ReadAt::asking();
        let mut rows = self
            .api
            .query(&self.query(&keys, self.filter(after), limit + 1))
            .await?;
        let at = ReadAt::answered(asked);
        let more = rows.len() > limit;
        if more {
            let cut = group_of(rows.last().expect("more than `limit` rows"));
            rows.retain(|row| group_of(row) != cut);
            if rows.is_empty() {
                let all = self.query(&keys, self.filter(Some(one_of(self.by, &[cut]))), 0);
                rows = self.api.query_all(all).await?;
            }
        }
        let records = sum(&keys, rows);
        let last = records.last().map(|r| (Some(r.id.clone()), None));
        let next = cursor.after_page(last, more, None, at, |_, _| ScanEnd::Exact(Cursor::start()));
        Ok(Page {
            records,
            cursor: next.encode(),
            more,
            pass: None,
        })
    }

    /// The groups with these values, in no particular order (absent ones left out).
    pub async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let keys = self.keys();
        let mut found = Vec::new();
        for chunk in ids.chunks(500) {
            let all = self.query(&keys, self.filter(Some(one_of(self.by, chunk))), 0);
            found.extend(sum(&keys, self.api.query_all(all).await?));
        }
        Ok(found)
    }
}

/// The grouping value of a row (its first cell) as text.
fn group_of(row: &[Value]) -> String {
    match row.first() {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// One record per group, in the rows' order: numbers summed, other values the first row's.
fn sum(keys: &[String], rows: Vec<Vec<Value>>) -> Vec<Record> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for row in rows {
        let group = group_of(&row);
        let fields = groups.entry(group.clone()).or_insert_with(|| {
            order.push(group.clone());
            Map::new()
        });
        for (key, value) in keys.iter().zip(row) {
            match (fields.get(key).and_then(decimal), decimal(&value)) {
                (Some(held), Some(more)) => {
                    fields.insert(key.clone(), number(held + more));
                }
                _ => {
                    fields.entry(key.clone()).or_insert(value);
                }
            }
        }
        // The grouping field is a value, not a quantity: never summed.
        fields.insert(keys[0].clone(), Value::String(group));
    }
    order
        .into_iter()
        .map(|group| {
            let fields = groups.remove(&group).unwrap_or_default();
            Record::new(group, fields)
        })
        .collect()
}

/// A JSON number as a decimal. Numeric *text* is not summed: codes such as an
/// organisation's number (`"100"`) are text and must stay the first row's.
fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// A decimal as a JSON number (exact: written from its text).
fn number(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

#[cfg(test)]
mod unit {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_of_a_group_are_summed_and_text_is_the_first_rows() {
        let keys = ["FMaterialId.FNumber", "FBaseQty", "FBaseUnitId.FNumber"].map(String::from);
        let rows = vec![
            vec![json!("MAT0001"), json!(100.0), json!("Pcs")],
            vec![json!("MAT0001"), json!(10.5), json!("Pcs")],
            vec![json!("MAT0002"), json!(0.1), json!("m")],
            vec![json!("MAT0002"), json!(0.2), json!("m")],
        ];
        let records = sum(&keys, rows);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].id, "MAT0001");
        assert_eq!(records[0].fields["FBaseQty"], json!(110.5));
        assert_eq!(records[0].fields["FBaseUnitId.FNumber"], json!("Pcs"));
        // 0.1 + 0.2 in decimals, not 0.30000000000000004.
        assert_eq!(records[1].fields["FBaseQty"], json!(0.3));
        // A code that looks like a number is text, kept, never added up.
        let keys = ["FMaterialId.FNumber", "FStockOrgId.FNumber"].map(String::from);
        let rows = vec![
            vec![json!("MAT0001"), json!("100")],
            vec![json!("MAT0001"), json!("100")],
        ];
        assert_eq!(
            sum(&keys, rows)[0].fields["FStockOrgId.FNumber"],
            json!("100")
        );
    }
}
