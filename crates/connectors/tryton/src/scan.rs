//! Reading a target model back in canonical field names ([`Sink::scan`](ferry_kit::Sink::scan)),
//! for reconciliation: the reverse of what [`TrytonSink`](crate::sink::TrytonSink) writes.
//!
//! Only the fields the flow's mapping makes are read (a Tryton model has hundreds), each
//! from where the sink writes it:
//! - a field of the model, renamed by `fields:` (`order_date` ← `sale_date`);
//! - a field given by code through `lookup` (`customer_code` ← `party.identifiers.code`):
//!   the code, read through the relation, so a party changed on a sale shows as its code;
//! - a field of a child made of the record's own fields (`email` ← the `value` of the
//!   contact mechanism whose `type` is `email`);
//! - the business key, at `key`; through a one2many (`identifiers.code`), the code of the
//!   first child that no other `children:` entry manages (a tax identifier is not the key).
//!
//! Lists of children (`from: lines`) and one2many fields are not read back. Records are
//! paged by id (`id > last`), archived ones included, and only those holding a key (a record
//! without one is not one Ferry wrote or could match) and within `scan_domain` when set.

use std::collections::BTreeSet;

use ferry_model::ConnectorError;
use serde_json::{Map, Value, json};

use crate::config::TrytonTargetOptions;
use crate::rpc::Effect;
use crate::sink::{KeyWrite, Meta, TrytonSink, same};
use crate::source::pick;
use ferry_kit::keyset::Keyset;
use ferry_kit::sink::key_text;
use ferry_kit::{TargetPage, TargetRecord};

/// Where one canonical field is read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReadBack {
    /// The business key itself.
    Key,
    /// A field of the model.
    Field(String),
    /// A code at a path through a relation (`party.identifiers.code`): the first one.
    Code(String),
    /// A field of the child `children[index]` writes from the record's own fields.
    Child { index: usize, field: String },
}

/// How each compared canonical field of `fields` is read back, for a model described by
/// `meta`; fields the sink does not write are left out.
pub(crate) fn plan(
    opts: &TrytonTargetOptions,
    meta: &Meta,
    key_field: &str,
    fields: &[String],
) -> Vec<(String, ReadBack)> {
    let mut out = Vec::new();
    for canonical in fields {
        let c = canonical.as_str();
        let how = if c == key_field && !opts.fields.contains_key(c) {
            Some(ReadBack::Key)
        } else if let Some((field, lookup)) = opts
            .lookup
            .iter()
            .find(|(_, l)| l.from.as_deref() == Some(c))
        {
            Some(ReadBack::Code(format!("{field}.{}", lookup.by)))
        } else if opts.children.iter().any(|ch| {
            ch.from.as_deref() == Some(c) || (ch.from.is_none() && ch.fields.contains_key(c))
        }) {
            opts.children
                .iter()
                .enumerate()
                .filter(|(_, ch)| ch.from.is_none())
                .find_map(|(index, ch)| {
                    let field = ch.fields.get(c)?.clone()?;
                    Some(ReadBack::Child { index, field })
                })
        } else {
            opts.field_of(c)
                .and_then(|f| meta.fields.get(f).map(|m| (f, m)))
                .filter(|(_, m)| !matches!(m.ty.as_str(), "one2many" | "many2many" | "binary"))
                .map(
                    |(f, _)| match opts.lookup.get(f).filter(|l| l.from.is_none()) {
                        Some(lookup) => ReadBack::Code(format!("{f}.{}", lookup.by)),
                        None => ReadBack::Field(f.to_owned()),
                    },
                )
        };
        if let Some(how) = how {
            out.push((canonical.clone(), how));
        }
    }
    out
}

impl TrytonSink {
    /// The Tryton field paths a scan reads for `plan`.
    fn scan_paths(&self, meta: &Meta, plan: &[(String, ReadBack)]) -> BTreeSet<String> {
        let mut paths = BTreeSet::from(["id".to_owned()]);
        match &meta.key {
            KeyWrite::Field(field, _) => {
                paths.insert(field.clone());
            }
            KeyWrite::SearchOnly => {
                paths.insert(self.key_path().to_owned());
            }
            KeyWrite::Child { field, child_field } => {
                self.add_child_paths(&mut paths, field, child_field);
            }
        }
        for (_, how) in plan {
            match how {
                ReadBack::Key => {}
                ReadBack::Field(f) | ReadBack::Code(f) => {
                    paths.insert(f.clone());
                }
                ReadBack::Child { index, field } => {
                    let parent = &self.opts().children[*index].field;
                    self.add_child_paths(&mut paths, parent, field);
                }
            }
        }
        paths
    }

    /// A child field's path, and the paths of the `values` that tell the children of
    /// `field` apart.
    fn add_child_paths(&self, paths: &mut BTreeSet<String>, field: &str, child_field: &str) {
        paths.insert(format!("{field}.{child_field}"));
        for ch in self.opts().children.iter().filter(|ch| ch.field == field) {
            paths.extend(ch.values.keys().map(|k| format!("{field}.{k}")));
        }
    }

    /// The business key of a row read by a scan.
    fn key_of(&self, meta: &Meta, row: &Map<String, Value>) -> Option<String> {
        match &meta.key {
            KeyWrite::Field(field, _) => first_code(pick(row, field)),
            KeyWrite::SearchOnly => first_code(pick(row, self.key_path())),
            KeyWrite::Child { field, child_field } => {
                let others: Vec<&Map<String, Value>> = self
                    .opts()
                    .children
                    .iter()
                    .filter(|ch| ch.field == *field && ch.from.is_none() && !ch.values.is_empty())
                    .map(|ch| &ch.values)
                    .collect();
                children_of(row, field)
                    .filter(|item| !others.iter().any(|values| matches(item, values)))
                    .find_map(|item| key_text(&pick(item, child_field)))
            }
        }
    }

    /// One page of the model, by id, in canonical field names.
    pub(crate) async fn scan_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<TargetPage, ConnectorError> {
        let limit = limit.max(1);
        let meta = self.meta().await?;
        let cursor: Keyset<i64, i64> = Keyset::decode(cursor)
            .map_err(|e| self.fatal(format_args!("unreadable scan cursor: {e}")))?;
        let plan = plan(self.opts(), meta, self.key_field(), self.fields());
        let paths = self.scan_paths(meta, &plan);
        let mut domain = vec![json!([self.key_path(), "!=", null])];
        if let Some(last) = cursor.id {
            domain.push(json!(["id", ">", last]));
        }
        if !self.opts().scan_domain.is_empty() {
            // A nested list is a sub-domain, ANDed with the clauses above whatever it holds.
            domain.push(Value::Array(self.opts().scan_domain.clone()));
        }
        let mut context = self.opts().context.clone();
        context.insert("active_test".to_owned(), Value::Bool(false));
        let reply = self
            .rpc()
            .model(
                self.model(),
                "search_read",
                vec![
                    Value::Array(domain),
                    json!(0),
                    json!(limit + 1),
                    json!([["id", "ASC"]]),
                    json!(paths),
                ],
                &context,
                Effect::Read,
            )
            .await?;
        let mut rows: Vec<Map<String, Value>> = match reply {
            Value::Array(rows) => rows
                .into_iter()
                .filter_map(|r| match r {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect(),
            other => return Err(self.fatal(format_args!("search_read returned {other}"))),
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        let last = rows
            .last()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_i64);
        let records = rows
            .iter()
            .filter_map(|row| {
                let id = row.get("id").and_then(Value::as_i64)?;
                let key = self.key_of(meta, row)?;
                let mut fields = Map::new();
                for (canonical, how) in &plan {
                    let value = match how {
                        ReadBack::Key => Value::String(key.clone()),
                        ReadBack::Field(f) => {
                            as_typed(pick(row, f), meta.fields.get(f).map(|m| m.ty.as_str()))
                        }
                        ReadBack::Code(path) => match pick(row, path) {
                            Value::Array(items) => {
                                items.into_iter().find(|v| !v.is_null()).unwrap_or_default()
                            }
                            other => other,
                        },
                        ReadBack::Child { index, field } => {
                            let child = &self.opts().children[*index];
                            children_of(row, &child.field)
                                .find(|item| matches(item, &child.values))
                                .map_or(Value::Null, |item| pick(item, field))
                        }
                    };
                    fields.insert(canonical.clone(), value);
                }
                Some(TargetRecord {
                    target_id: id.to_string(),
                    key: Some(key),
                    fields,
                })
            })
            .collect();
        let next = Keyset::<i64, i64> {
            id: last.or(cursor.id),
            ..Keyset::start()
        };
        Ok(TargetPage {
            records,
            cursor: next.encode(),
            more,
            fields: plan.into_iter().map(|(c, _)| c).collect(),
        })
    }
}

/// A value as its field's type says: Tryton on SQLite answers a boolean as 0 or 1.
fn as_typed(value: Value, ty: Option<&str>) -> Value {
    match (ty, &value) {
        (Some("boolean"), Value::Number(n)) => Value::Bool(n.as_i64() != Some(0)),
        _ => value,
    }
}

/// The items of a one2many read with dotted paths (`contact_mechanisms.` in the row).
fn children_of<'a>(
    row: &'a Map<String, Value>,
    field: &str,
) -> impl Iterator<Item = &'a Map<String, Value>> {
    row.get(&format!("{field}."))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

/// Whether a child holds every one of `values` (`{type: email}`).
fn matches(item: &Map<String, Value>, values: &Map<String, Value>) -> bool {
    values
        .iter()
        .all(|(k, v)| item.get(k).is_some_and(|have| same(have, v)))
}

/// The first code of a value that may be a list (a path through a one2many).
fn first_code(value: Value) -> Option<String> {
    match value {
        Value::Array(items) => items.iter().find_map(key_text),
        other => key_text(&other),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::sink::FieldMeta;

    fn meta(fields: &[(&str, &str)], key: KeyWrite) -> Meta {
        Meta {
            fields: fields
                .iter()
                .map(|(name, ty)| {
                    let m = FieldMeta {
                        ty: (*ty).to_owned(),
                        relation: None,
                        required: false,
                    };
                    ((*name).to_owned(), m)
                })
                .collect::<HashMap<_, _>>(),
            children: Vec::new(),
            key,
        }
    }

    #[test]
    fn each_field_is_read_back_from_where_it_is_written() {
        let opts: TrytonTargetOptions = serde_json::from_value(json!({
            "model": "sale.sale",
            "key": "reference",
            "fields": {"order_date": "sale_date", "total": null, "lines": null},
            "lookup": {"party": {"model": "party.party", "by": "identifiers.code", "from": "customer_code"}},
            "children": [
                {"field": "contact_mechanisms", "values": {"type": "email"}, "fields": {"email": "value"}},
                {"field": "lines", "from": "lines"}
            ]
        }))
        .unwrap();
        let meta = meta(
            &[
                ("reference", "char"),
                ("sale_date", "date"),
                ("party", "many2one"),
                ("description", "char"),
                ("invoices", "many2many"),
            ],
            KeyWrite::Field("reference".into(), "char".into()),
        );
        let fields: Vec<String> = [
            "number",
            "order_date",
            "total",
            "customer_code",
            "email",
            "lines",
            "description",
            "invoices",
            "unknown",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let got = plan(&opts, &meta, "number", &fields);
        assert_eq!(
            got,
            vec![
                ("number".to_owned(), ReadBack::Key),
                ("order_date".to_owned(), ReadBack::Field("sale_date".into())),
                (
                    "customer_code".to_owned(),
                    ReadBack::Code("party.identifiers.code".into())
                ),
                (
                    "email".to_owned(),
                    ReadBack::Child {
                        index: 0,
                        field: "value".into()
                    }
                ),
                (
                    "description".to_owned(),
                    ReadBack::Field("description".into())
                ),
            ],
            "skipped (`total: ~`), lists, many2many and unknown fields are not read back"
        );
    }

    #[test]
    fn children_are_told_apart_by_their_values() {
        let item = |t: &str, v: &str| json!({"type": t, "value": v}).as_object().cloned().unwrap();
        let email = json!({"type": "email"}).as_object().cloned().unwrap();
        assert!(matches(&item("email", "a@b.c"), &email));
        assert!(!matches(&item("phone", "123"), &email));
        assert!(matches(&item("phone", "123"), &Map::new()));
        assert_eq!(
            first_code(json!([null, "", "K-1", "K-2"])),
            Some("K-1".to_owned())
        );
        assert_eq!(first_code(json!(42)), Some("42".to_owned()));
        assert_eq!(first_code(Value::Null), None);
        assert_eq!(as_typed(json!(1), Some("boolean")), json!(true));
        assert_eq!(as_typed(json!(0), Some("boolean")), json!(false));
        assert_eq!(as_typed(json!(1), Some("integer")), json!(1));
    }
}
