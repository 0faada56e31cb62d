//! Masking of payload fields shown by the API (`server.mask`: field name → rule).
//!
//! A dead letter's payload is the source record as read; the API shows it with every field
//! named in the rules masked, at any depth (a phone inside `fields`, or inside each of
//! `lines`). When an operator edits a masked payload and sends it back, [`MaskRules::restore`]
//! puts the original value back wherever the masked text came back unchanged, so an edit never
//! writes `138****5678` into a target system.

use ferry_model::config::MaskRule;
use indexmap::IndexMap;
use serde_json::Value;

/// The masking rules, by field name.
#[derive(Debug, Clone, Default)]
pub struct MaskRules(IndexMap<String, MaskRule>);

impl MaskRules {
    /// Rules by field name.
    pub fn new(rules: IndexMap<String, MaskRule>) -> Self {
        Self(rules)
    }

    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy of `value` with every ruled field masked.
    pub fn apply(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let shown = match self.0.get(k) {
                            Some(rule) => mask_value(*rule, v),
                            None => self.apply(v),
                        };
                        (k.clone(), shown)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.apply(v)).collect()),
            other => other.clone(),
        }
    }

    /// The value of the field `name` as shown: masked when a rule names the field (a
    /// reconciliation report's field differences carry the field's name beside its values).
    pub fn field(&self, name: &str, value: &Value) -> Value {
        match self.0.get(name) {
            Some(rule) => mask_value(*rule, value),
            None => self.apply(value),
        }
    }

    /// `edited` with each ruled field whose value is still the masked form of the same
    /// field in `original` (same path) put back to the original value.
    pub fn restore(&self, edited: Value, original: &Value) -> Value {
        match (edited, original) {
            (Value::Object(map), Value::Object(orig)) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let restored = match (self.0.get(&k), orig.get(&k)) {
                            (Some(rule), Some(o)) if mask_value(*rule, o) == v => o.clone(),
                            (None, Some(o)) => self.restore(v, o),
                            _ => v,
                        };
                        (k, restored)
                    })
                    .collect(),
            ),
            (Value::Array(items), Value::Array(orig)) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| match orig.get(i) {
                        Some(o) => self.restore(v, o),
                        None => v,
                    })
                    .collect(),
            ),
            (edited, _) => edited,
        }
    }
}

/// One value under a rule: strings and numbers become masked text; null stays null.
fn mask_value(rule: MaskRule, value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(mask_text(rule, s)),
        Value::Number(n) => Value::String(mask_text(rule, &n.to_string())),
        // A structure under a masked name: hide it whole rather than guess.
        _ => Value::String(STARS.into()),
    }
}

const STARS: &str = "****";

/// Masks one text by rule (by characters, so Chinese text is cut at character boundaries).
pub fn mask_text(rule: MaskRule, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let keep = |head: usize, tail: usize| -> String {
        if n <= head + tail {
            return STARS.into();
        }
        let mut out: String = chars[..head].iter().collect();
        out.push_str(&"*".repeat(n - head - tail));
        out.extend(&chars[n - tail..]);
        out
    };
    match rule {
        MaskRule::Phone => keep(3, 4),
        MaskRule::TaxId => keep(4, 3),
        MaskRule::Last4 => {
            if n <= 4 {
                STARS.into()
            } else {
                format!("{STARS}{}", chars[n - 4..].iter().collect::<String>())
            }
        }
        MaskRule::Email => match text.split_once('@') {
            Some((local, domain)) if !local.is_empty() => {
                let first: String = local.chars().take(1).collect();
                format!("{first}{STARS}@{domain}")
            }
            _ => STARS.into(),
        },
        MaskRule::Full => STARS.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> MaskRules {
        MaskRules::new(IndexMap::from([
            ("phone".to_owned(), MaskRule::Phone),
            ("tax_id".to_owned(), MaskRule::TaxId),
            ("email".to_owned(), MaskRule::Email),
            ("iban".to_owned(), MaskRule::Last4),
            ("note".to_owned(), MaskRule::Full),
        ]))
    }

    #[test]
    fn texts_are_masked_by_rule() {
        assert_eq!(mask_text(MaskRule::Phone, "13812345678"), "138****5678");
        assert_eq!(
            mask_text(MaskRule::TaxId, "91350100M000100Y43"),
            "9135***********Y43"
        );
        assert_eq!(
            mask_text(MaskRule::Email, "ada@example.com"),
            "a****@example.com"
        );
        assert_eq!(
            mask_text(MaskRule::Last4, "DE89370400440532013000"),
            "****3000"
        );
        assert_eq!(mask_text(MaskRule::Full, "secret"), "****");
        // Too short to show anything.
        assert_eq!(mask_text(MaskRule::Phone, "1234567"), "****");
        // Characters, not bytes.
        assert_eq!(
            mask_text(MaskRule::Phone, "电话一二三四五六七八"),
            "电话一***五六七八"
        );
    }

    #[test]
    fn fields_are_masked_at_any_depth() {
        let record = json!({
            "id": "42",
            "fields": {"name": "Ada", "phone": "13812345678", "tax_id": null,
                       "lines": [{"phone": 13900001111_i64, "note": {"a": 1}}]}
        });
        let shown = rules().apply(&record);
        assert_eq!(
            shown,
            json!({
                "id": "42",
                "fields": {"name": "Ada", "phone": "138****5678", "tax_id": null,
                           "lines": [{"phone": "139****1111", "note": "****"}]}
            })
        );
    }

    #[test]
    fn an_edit_keeps_masked_values_it_did_not_change() {
        let original = json!({"fields": {"name": "Ada", "phone": "13812345678",
                                          "email": "ada@example.com"}});
        let mut edited = rules().apply(&original);
        edited["fields"]["name"] = json!("Ada Lovelace");
        edited["fields"]["email"] = json!("ada@lovelace.org");
        let restored = rules().restore(edited, &original);
        assert_eq!(
            restored,
            json!({"fields": {"name": "Ada Lovelace", "phone": "13812345678",
                              "email": "ada@lovelace.org"}})
        );
    }
}
