//! Masking of payload fields shown by the API (`server.mask`: field name → rule).
//!
//! A dead letter's payload is the source record as read; the API shows it with every field
//! named in the rules masked, at any depth (a phone inside `fields`, or inside each of
//! `lines`). When an operator edits a masked payload and sends it back, [`MaskRules::restore`]
//! puts the original value back wherever the masked text came back unchanged, so an edit never
//! writes `138****5678` into a target system.
//!
//! Texts are masked too: a business key whose field is ruled ([`MaskRules::key`]) and the
//! values an error message shows for a ruled field ([`MaskRules::message`]): Ferry's messages
//! name the field (``field `phone`: does not match `…`: "13812345678"``) and show values as
//! JSON, so every JSON string after a ruled field's name, and a bare value ending the
//! message, is masked. With the record at hand (a dead letter), every value of a ruled field
//! of the record is also masked wherever the message repeats it ([`MaskRules::message_with`]),
//! so a target system's own wording is covered too.
//!
//! The rules name canonical fields; [`Masks`] carries them through each flow's mapping to the
//! source fields and target columns behind them, so a source record shows `contact_email`
//! masked when `email` is ruled and computed from it.

use ferry_model::config::MaskRule;
use indexmap::IndexMap;
use serde_json::Value;

mod flows;

pub use flows::Masks;

/// The masking rules, by field name.
#[derive(Debug, Clone, Default)]
pub struct MaskRules {
    named: IndexMap<String, MaskRule>,
    /// Every field of a source record (its `fields`, at any depth) is masked by this rule:
    /// a masked field is computed from the record in a way that cannot be told.
    every: Option<MaskRule>,
}

impl MaskRules {
    /// Rules by field name.
    pub fn new(rules: IndexMap<String, MaskRule>) -> Self {
        Self {
            named: rules,
            every: None,
        }
    }

    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.named.is_empty() && self.every.is_none()
    }

    /// The rule of a field (the last part of a path such as `lines[2].phone`), if any.
    pub fn rule(&self, field: &str) -> Option<MaskRule> {
        let last = field.rsplit('.').next().unwrap_or(field);
        let name = last.split('[').next().unwrap_or(last);
        self.named.get(name).copied().or(self.every)
    }

    /// A business key as shown: masked when the flow's key field (`key_field`) is ruled.
    pub fn key(&self, key_field: Option<&str>, key: String) -> String {
        match key_field.and_then(|f| self.rule(f)) {
            Some(rule) => mask_text(rule, &key),
            None => key,
        }
    }

    /// An error message with the values it shows of ruled fields masked: in each part that
    /// follows ``field `NAME`…`` for a ruled NAME, every JSON string, and a bare value (a
    /// number) ending the part after `: `. When a rule masks e-mail addresses, every e-mail
    /// address in the text is masked too, however the message words it (a target system's
    /// own error, shown where the record is not at hand).
    pub fn message(&self, text: &str) -> String {
        let out = self.mentions(text);
        let email = Some(MaskRule::Email);
        if self.every == email || self.named.values().any(|r| Some(*r) == email) {
            mask_emails(&out)
        } else {
            out
        }
    }

    /// The values of ruled fields after ``field `NAME`…`` mentions masked (see
    /// [`message`](Self::message)).
    fn mentions(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_owned();
        }
        const MARK: &str = "field `";
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        // Up to the first field mention, nothing is masked.
        match rest.find(MARK) {
            Some(at) => {
                out.push_str(&rest[..at]);
                rest = &rest[at..];
            }
            None => return text.to_owned(),
        }
        while !rest.is_empty() {
            // `rest` starts at a mention: its name, then the part up to the next mention.
            let name_start = MARK.len();
            let Some(name_len) = rest[name_start..].find('`') else {
                out.push_str(rest);
                break;
            };
            let head_end = name_start + name_len + 1;
            let name = &rest[name_start..head_end - 1];
            let part_end = rest[head_end..]
                .find(MARK)
                .map_or(rest.len(), |n| head_end + n);
            out.push_str(&rest[..head_end]);
            let part = &rest[head_end..part_end];
            match self.rule(name) {
                Some(rule) => out.push_str(&mask_values_in(rule, part)),
                None => out.push_str(part),
            }
            rest = &rest[part_end..];
        }
        out
    }

    /// [`message`](Self::message), and every text or number a ruled field of `record` holds
    /// (at any depth, at least 4 characters) masked wherever the message repeats it.
    pub fn message_with(&self, text: &str, record: &Value) -> String {
        let mut out = self.message(text);
        let mut clear = Vec::new();
        self.collect(record, None, &mut clear);
        if let Some(rule) = self.every {
            self.collect(fields_of(record), Some(rule), &mut clear);
        }
        // Longest first, so a value containing another is replaced whole.
        clear.sort_by_key(|c| std::cmp::Reverse(c.0.len()));
        for (value, rule) in clear {
            if value.chars().count() >= 4 && out.contains(&value) {
                out = out.replace(&value, &mask_text(rule, &value));
            }
        }
        out
    }

    /// Clear texts of ruled fields in `value` with their rule.
    fn collect(&self, value: &Value, rule: Option<MaskRule>, out: &mut Vec<(String, MaskRule)>) {
        match (value, rule) {
            (Value::String(s), Some(rule)) => out.push((s.clone(), rule)),
            (Value::Number(n), Some(rule)) => out.push((n.to_string(), rule)),
            (Value::Object(map), _) => {
                for (k, v) in map {
                    self.collect(v, self.named.get(k).copied().or(rule), out);
                }
            }
            (Value::Array(items), _) => {
                for v in items {
                    self.collect(v, rule, out);
                }
            }
            _ => {}
        }
    }

    /// A copy of `value` with every ruled field masked.
    pub fn apply(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let shown = match self.named.get(k) {
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
        match self.named.get(name) {
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
                        let restored = match (self.named.get(&k), orig.get(&k)) {
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

impl MaskRules {
    /// A source record (`{"id", "fields": {…}}`, as a dead letter keeps it) as shown: every
    /// ruled field masked ([`apply`](Self::apply)), and when every field is ruled, each value
    /// of its `fields`.
    pub fn payload(&self, record: &Value) -> Value {
        let mut shown = self.apply(record);
        if let Some(rule) = self.every
            && let Some(fields) = shown.get_mut("fields")
        {
            *fields = mask_leaves(rule, fields);
        }
        shown
    }

    /// [`restore`](Self::restore) for a record shown by [`payload`](Self::payload).
    pub fn restore_payload(&self, edited: Value, original: &Value) -> Value {
        let mut restored = self.restore(edited, original);
        if let (Some(rule), Some(fields), Some(orig)) = (
            self.every,
            restored.get_mut("fields"),
            original.get("fields"),
        ) {
            *fields = restore_leaves(rule, fields.take(), orig);
        }
        restored
    }

    /// Also mask these fields (source fields and target columns of a flow's masked fields);
    /// a name already ruled keeps its rule.
    fn with_names(mut self, names: impl IntoIterator<Item = (String, MaskRule)>) -> Self {
        for (name, rule) in names {
            self.named.entry(name).or_insert(rule);
        }
        self
    }
}

/// A record's `fields` (or the value itself when it is not a record).
fn fields_of(record: &Value) -> &Value {
    record.get("fields").unwrap_or(record)
}

/// Every text and number in `value`, at any depth, masked by `rule`.
fn mask_leaves(rule: MaskRule, value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask_leaves(rule, v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| mask_leaves(rule, v)).collect()),
        leaf => mask_value(rule, leaf),
    }
}

/// `edited` with every leaf still the masked form of the same leaf of `original` put back.
fn restore_leaves(rule: MaskRule, edited: Value, original: &Value) -> Value {
    match (edited, original) {
        (Value::Object(map), Value::Object(orig)) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let restored = match orig.get(&k) {
                        Some(o) => restore_leaves(rule, v, o),
                        None => v,
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
                    Some(o) => restore_leaves(rule, v, o),
                    None => v,
                })
                .collect(),
        ),
        (edited, original) if !original.is_null() && mask_value(rule, original) == edited => {
            original.clone()
        }
        (edited, _) => edited,
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

/// `part` of a message about a ruled field with its values masked: JSON strings (a string cut
/// short by `…` runs to the end) and a bare value after the last `: ` that ends the part.
fn mask_values_in(rule: MaskRule, part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut chars = part.char_indices().peekable();
    let mut last_copied = 0;
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            continue;
        }
        // A JSON string literal from `i`: find its closing quote, honouring escapes.
        let mut end = None;
        let mut escaped = false;
        for (j, d) in chars.by_ref() {
            if escaped {
                escaped = false;
            } else if d == '\\' {
                escaped = true;
            } else if d == '"' {
                end = Some(j);
                break;
            }
        }
        out.push_str(&part[last_copied..i]);
        let (inner, after) = match end {
            Some(j) => (&part[i + 1..j], j + 1),
            None => (part[i + 1..].trim_end_matches('…'), part.len()),
        };
        let clear: String =
            serde_json::from_str(&format!("\"{inner}\"")).unwrap_or_else(|_| inner.to_owned());
        let shown = Value::String(mask_text(rule, &clear)).to_string();
        out.push_str(&shown);
        last_copied = after;
    }
    out.push_str(&part[last_copied..]);
    // A bare value (a number) ending the part: `…: 13812345678`.
    if let Some(at) = out.rfind(": ") {
        let tail = out[at + 2..].trim_end();
        if !tail.is_empty()
            && !tail.contains(char::is_whitespace)
            && !tail.starts_with('"')
            && !tail.starts_with('`')
            && tail != "null"
        {
            let masked = mask_text(rule, tail);
            out.replace_range(at + 2..at + 2 + tail.len(), &masked);
        }
    }
    out
}

/// Every e-mail address in `text` (ASCII, `local@domain.tld`) masked by the e-mail rule.
fn mask_emails(text: &str) -> String {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let start = text[copied..at]
            .char_indices()
            .rev()
            .find(|(_, c)| !local(*c))
            .map_or(copied, |(i, c)| copied + i + c.len_utf8());
        let after = &text[at + 1..];
        let len = after.find(|c: char| !domain(c)).unwrap_or(after.len());
        let host = after[..len].trim_end_matches(['.', '-']);
        if start == at || !host.contains('.') {
            continue;
        }
        let end = at + 1 + host.len();
        out.push_str(&text[copied..start]);
        out.push_str(&mask_text(MaskRule::Email, &text[start..end]));
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

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
    fn messages_mask_the_values_of_ruled_fields() {
        let r = rules();
        // Validation and conversion errors, as the mapping words them.
        assert_eq!(
            r.message(
                "flow `customers`, record `7`, field `phone`: does not match `^1\\d{10}$`: \
                 \"1381234567x\""
            ),
            "flow `customers`, record `7`, field `phone`: does not match `^1\\d{10}$`: \
             \"138****567x\""
        );
        assert_eq!(
            r.message("flow `f`, record `7`, field `lines[2].phone`: less than 5: 13812345678"),
            "flow `f`, record `7`, field `lines[2].phone`: less than 5: 138****5678"
        );
        // A string cut short, escapes, and a field without a rule left alone.
        assert_eq!(
            r.message("field `email`: not a valid e-mail address: \"ada\\\"x@example.com…"),
            "field `email`: not a valid e-mail address: \"a****@example.com\""
        );
        assert_eq!(
            r.message("field `name`: longer than 3 characters (5): \"Grace\""),
            "field `name`: longer than 3 characters (5): \"Grace\""
        );
        // Only the part about the ruled field.
        assert_eq!(
            r.message("field `name`: \"Ada\"; field `tax_id`: \"91350100M000100Y43\""),
            "field `name`: \"Ada\"; field `tax_id`: \"9135***********Y43\""
        );
        assert_eq!(r.message("required but missing"), "required but missing");
        assert_eq!(
            r.message("field `phone`: required but missing"),
            "field `phone`: required but missing"
        );
    }

    #[test]
    fn messages_with_the_record_mask_repeated_values() {
        let record = json!({"id": "7", "fields": {"phone": "13812345678", "name": "Ada",
                                                  "lines": [{"iban": "DE89370400440532013000"}]}});
        let shown = rules().message_with(
            "erp: HTTP 400: value 13812345678 is not allowed for DE89370400440532013000 (Ada)",
            &record,
        );
        assert_eq!(
            shown,
            "erp: HTTP 400: value 138****5678 is not allowed for ****3000 (Ada)"
        );
    }

    #[test]
    fn messages_mask_every_e_mail_address_under_an_e_mail_rule() {
        let shown = rules().message(
            "erp: HTTP 400: \"ada.l+x@example.com\" is taken (see a****@example.com, \
             bob@mail.example.org.); no@host, @example.com",
        );
        assert_eq!(
            shown,
            "erp: HTTP 400: \"a****@example.com\" is taken (see a****@example.com, \
             b****@mail.example.org.); no@host, @example.com"
        );
        assert_eq!(
            rules().message("邮箱ada@example.com无效"),
            "邮箱a****@example.com无效"
        );
        // Without an e-mail rule, addresses are left alone.
        let phone = MaskRules::new(IndexMap::from([("phone".to_owned(), MaskRule::Phone)]));
        assert_eq!(phone.message("to ada@example.com"), "to ada@example.com");
    }

    #[test]
    fn keys_are_masked_when_their_field_is_ruled() {
        let r = rules();
        assert_eq!(
            r.key(Some("email"), "ada@example.com".into()),
            "a****@example.com"
        );
        assert_eq!(r.key(Some("code"), "C001".into()), "C001");
        assert_eq!(r.key(None, "C001".into()), "C001");
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
