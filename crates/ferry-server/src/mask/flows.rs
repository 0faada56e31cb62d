//! [`Masks`]: `server.mask` carried through each flow's mapping.
//!
//! The rules name canonical fields (`email`), but what Ferry shows is often a source record
//! as read (a dead letter's payload, the errors about it), where the value sits under the
//! source's own name (`email: { from: contact_email }`). So each flow gets the rules plus,
//! for every masked canonical field, the source fields its mapping computes it from
//! ([`ferry_mapping::lineage`]) and the target columns it is written to (a target's
//! `columns:` renames, which a target system's own errors may name). When a mapping reads
//! the record in a way that cannot be told, every field of that flow's records is masked.

use std::collections::HashMap;

use ferry_mapping::lineage::{Feeds, source_fields};
use ferry_model::config::{Endpoint, FlowConfig, MaskRule};
use indexmap::IndexMap;
use serde_json::Value;

use super::MaskRules;

/// The masking rules: canonical, and by flow.
#[derive(Debug, Clone, Default)]
pub struct Masks {
    canonical: MaskRules,
    flows: HashMap<String, MaskRules>,
}

impl Masks {
    /// `rules` (canonical field → rule) as they apply to each of `flows`.
    pub fn new(rules: IndexMap<String, MaskRule>, flows: &IndexMap<String, FlowConfig>) -> Self {
        let canonical = MaskRules::new(rules);
        let flows = if canonical.is_empty() {
            HashMap::new()
        } else {
            flows
                .iter()
                .map(|(name, flow)| (name.clone(), flow_rules(&canonical, name, flow)))
                .collect()
        };
        Self { canonical, flows }
    }

    /// The rules for canonical values (conflicts, reconciliation field values, mapped
    /// records): by canonical field name only.
    pub fn canonical(&self) -> &MaskRules {
        &self.canonical
    }

    /// The rules for what a flow shows of its records (payloads, keys, errors): the canonical
    /// names and the flow's source fields and target columns behind them.
    pub fn flow(&self, flow: &str) -> &MaskRules {
        self.flows.get(flow).unwrap_or(&self.canonical)
    }
}

/// One flow's rules.
fn flow_rules(canonical: &MaskRules, flow_name: &str, flow: &FlowConfig) -> MaskRules {
    let mut rules = canonical.clone();
    let mut names = Vec::new();
    for (field, rule) in &canonical.named {
        match source_fields(&flow.mapping, field) {
            Feeds::Fields(paths) => {
                names.extend(paths.iter().flat_map(|p| path_names(p)).map(|n| (n, *rule)));
            }
            Feeds::Whole => {
                tracing::warn!(
                    flow = flow_name,
                    field = field.as_str(),
                    "`server.mask` names a field whose source fields cannot be told from the \
                     mapping (it reads the whole record): every field of the flow's records \
                     is shown masked."
                );
                rules.every = rules.every.or(Some(*rule));
            }
        }
        names.extend(target_columns(&flow.target, field).map(|c| (c, *rule)));
    }
    rules.with_names(names)
}

/// The names a source path is masked by: the path as a key (`contact.mobile` may be one key)
/// and its last part (the field at any depth).
fn path_names(path: &str) -> Vec<String> {
    let mut names = vec![path.to_owned()];
    if let Some((_, last)) = path.rsplit_once('.') {
        names.push(last.to_owned());
    }
    names
}

/// The columns a target renames `field` to: `columns: { email: mail_addr }` (tables, and
/// their `lines:`) or `columns: [name, { email: mail_addr }]` (files).
fn target_columns<'a>(target: &'a Endpoint, field: &'a str) -> impl Iterator<Item = String> + 'a {
    let lines = target.options.get("lines").and_then(|l| l.get("columns"));
    [target.options.get("columns"), lines]
        .into_iter()
        .flatten()
        .flat_map(move |columns| renamed(columns, field))
}

fn renamed(columns: &Value, field: &str) -> Vec<String> {
    let of = |map: &serde_json::Map<String, Value>| {
        map.get(field).and_then(Value::as_str).map(str::to_owned)
    };
    match columns {
        Value::Object(map) => of(map).into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(of)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn masks(flow_yaml: &str) -> Masks {
        let text = format!(
            "systems:\n  crm: {{ kind: sql, url: \"sqlite://crm.db\" }}\n  \
             erp: {{ kind: sql, url: \"sqlite://erp.db\" }}\nflows:\n  f:\n    \
             entity: customer\n    source: {{ system: crm, table: a }}\n{flow_yaml}"
        );
        let loaded = ferry_model::config::load_str(Path::new("ferry.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        let rules = IndexMap::from([("email".to_owned(), MaskRule::Email)]);
        Masks::new(rules, &loaded.config.flows)
    }

    #[test]
    fn a_flow_masks_the_source_field_and_target_column_behind_a_masked_field() {
        let m = masks(
            "    target: { system: erp, table: b, columns: { email: mail_addr } }\n    \
             mapping: { code: cust_no, email: contact_email }\n",
        );
        let record = json!({"id": "7", "fields": {"no": "C7", "contact_email": "ada@example.com"}});
        assert_eq!(
            m.flow("f").payload(&record),
            json!({"id": "7", "fields": {"no": "C7", "contact_email": "a****@example.com"}})
        );
        assert_eq!(
            m.flow("f")
                .message("field `mail_addr`: too long: \"ada@example.com\""),
            "field `mail_addr`: too long: \"a****@example.com\""
        );
        // Canonical values go by canonical names only; an unknown flow too.
        assert_eq!(m.canonical().rule("contact_email"), None);
        assert_eq!(m.flow("other").rule("contact_email"), None);
        assert_eq!(m.flow("f").rule("contact_email"), Some(MaskRule::Email));
    }

    #[test]
    fn a_mapping_that_cannot_be_read_masks_every_field_and_an_edit_keeps_them() {
        let m = masks(
            "    target: { system: erp, table: b }\n    \
             mapping: { code: cust_no, email: { expr: 'encode_json(.)' } }\n",
        );
        let record = json!({"id": "7", "fields": {"no": "C7", "mail": "ada@example.com",
                                                  "n": 12345, "tags": ["a"], "x": null}});
        let shown = m.flow("f").payload(&record);
        assert_eq!(
            shown,
            json!({"id": "7", "fields": {"no": "****", "mail": "a****@example.com",
                                         "n": "****", "tags": ["****"], "x": null}})
        );
        let mut edited = shown.clone();
        edited["fields"]["no"] = json!("C8");
        assert_eq!(
            m.flow("f").restore_payload(edited, &record),
            json!({"id": "7", "fields": {"no": "C8", "mail": "ada@example.com",
                                         "n": 12345, "tags": ["a"], "x": null}})
        );
        assert_eq!(
            m.flow("f")
                .message_with("erp refused ada@example.com", &record),
            "erp refused a****@example.com"
        );
    }
}
