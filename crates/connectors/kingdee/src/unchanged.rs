//! Whether audited records already hold what a batch would write.
//!
//! An audited document sent again unchanged (a retry, a replay, a first sync over records
//! the ERP already has) is left alone: un-auditing, saving and auditing it again would
//! change nothing but its history, and Kingdee refuses the un-audit where a downstream bill
//! exists. One query per batch reads the current values of all of them, header fields and
//! lines (references by their number), and compares them as values (`11.30` = `11.3`).

use std::collections::{BTreeMap, HashMap, HashSet};

use ferry_kit::sink::same_value;
use ferry_model::ConnectorError;
use serde_json::{Map, Value};

use crate::api::{Api, Query};
use crate::config::TargetOptions;
use crate::source::id_text;

/// Ids in one query at most.
const CHUNK: usize = 200;

/// An audited record and what would be written to it (its save model).
pub struct Wanted<'a> {
    /// Its position in the batch.
    pub index: usize,
    /// Its internal id.
    pub id: &'a str,
    pub model: Map<String, Value>,
}

/// The form being written and how.
pub struct Form<'a> {
    pub api: &'a Api,
    pub form: &'a str,
    /// The primary key (`FCUSTID`, `FID`).
    pub id_key: &'a str,
    pub options: &'a TargetOptions,
}

/// The batch positions of the records that hold what they would be written as already.
pub async fn unchanged(
    form: &Form<'_>,
    wanted: Vec<Wanted<'_>>,
) -> Result<HashSet<usize>, ConnectorError> {
    // Records whose models name the same fields are read by one query (usually all).
    let mut groups: BTreeMap<Vec<String>, Vec<Compared<'_>>> = BTreeMap::new();
    for w in wanted {
        let compared = Compared::of(form, w);
        groups
            .entry(compared.keys(form.options))
            .or_default()
            .push(compared);
    }
    let entry = form.options.lines.as_ref().map(|l| l.entry.as_str());
    let order = match entry {
        Some(e) => format!("{} ASC,{e}_FEntryId ASC", form.id_key),
        None => format!("{} ASC", form.id_key),
    };
    let mut same = HashSet::new();
    for (keys, group) in groups {
        let mut query_keys = vec![form.id_key.to_owned()];
        query_keys.extend(keys);
        for chunk in group.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|c| c.id).collect();
            let query = Query {
                form: form.form,
                keys: &query_keys,
                filter: format!("{} in ({})", form.id_key, ids.join(",")),
                order: order.clone(),
                start: 0,
                limit: 0,
            };
            let mut held: HashMap<String, Vec<Vec<Value>>> = HashMap::new();
            for mut row in form.api.query_all(query).await? {
                if let Some(id) = row.first().and_then(id_text) {
                    row.remove(0);
                    held.entry(id).or_default().push(row);
                }
            }
            same.extend(
                chunk
                    .iter()
                    .filter(|c| held.get(c.id).is_some_and(|rows| c.matches(rows)))
                    .map(|c| c.index),
            );
        }
    }
    Ok(same)
}

/// A record's model, split into what the query reads and compares.
struct Compared<'a> {
    index: usize,
    id: &'a str,
    /// Header field key → the value that would be written.
    header: Vec<(String, Value)>,
    /// The entry's lines that would be written.
    lines: Vec<Map<String, Value>>,
    /// The entry field keys of the lines (the first line's).
    line_keys: Vec<String>,
    has_entry: bool,
}

impl<'a> Compared<'a> {
    fn of(form: &Form<'_>, wanted: Wanted<'a>) -> Self {
        let entry = form.options.lines.as_ref().map(|l| l.entry.as_str());
        let lines: Vec<Map<String, Value>> = entry
            .and_then(|e| wanted.model.get(e))
            .and_then(Value::as_array)
            .map(|rows| rows.iter().filter_map(|r| r.as_object().cloned()).collect())
            .unwrap_or_default();
        let line_keys = lines
            .first()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default();
        let header = wanted
            .model
            .into_iter()
            .filter(|(k, _)| k != form.id_key && Some(k.as_str()) != entry)
            .collect();
        Self {
            index: wanted.index,
            id: wanted.id,
            header,
            lines,
            line_keys,
            has_entry: entry.is_some(),
        }
    }

    /// The field keys to read: the header's, then the entry id and the lines', references
    /// read by their number.
    fn keys(&self, options: &TargetOptions) -> Vec<String> {
        let read_as = |refs: &[String], key: &str| {
            if refs.iter().any(|r| r == key) {
                format!("{key}.FNumber")
            } else {
                key.to_owned()
            }
        };
        let mut keys: Vec<String> = self
            .header
            .iter()
            .map(|(k, _)| read_as(&options.refs, k))
            .collect();
        if let Some(target) = &options.lines {
            keys.push(format!("{}_FEntryId", target.entry));
            keys.extend(self.line_keys.iter().map(|k| read_as(&target.refs, k)));
        }
        keys
    }

    /// Whether the rows read (one per line, the header repeated) hold the model.
    fn matches(&self, rows: &[Vec<Value>]) -> bool {
        let Some(first) = rows.first() else {
            return false;
        };
        let same_header = self
            .header
            .iter()
            .zip(first)
            .all(|((_, want), has)| same_value(&by_number(want), has));
        if !same_header || !self.has_entry {
            return same_header;
        }
        let at = self.header.len();
        let held: Vec<&Vec<Value>> = rows
            .iter()
            .filter(|r| r.get(at).and_then(id_text).is_some())
            .collect();
        held.len() == self.lines.len()
            && self.lines.iter().zip(&held).all(|(line, row)| {
                line.len() == self.line_keys.len()
                    && self.line_keys.iter().enumerate().all(|(n, k)| {
                        match (line.get(k), row.get(at + 1 + n)) {
                            (Some(want), Some(has)) => same_value(&by_number(want), has),
                            _ => false,
                        }
                    })
            })
    }
}

/// A reference is written as `{"FNumber": …}` and read as its number.
fn by_number(value: &Value) -> Value {
    value
        .get("FNumber")
        .cloned()
        .unwrap_or_else(|| value.clone())
}
