//! Values as a form's widgets take them. Canonical records carry decimals as text and dates
//! as `YYYY-MM-DD`; Jiandaoyun refuses a number widget given text and a datetime widget
//! given a bare day. So the sink reads the form's widgets once (`widget/list`, sub-form
//! items included) and turns each value into its widget's shape: numbers as JSON numbers,
//! days as Beijing midnight (the platform shows times in China's zone), members and
//! departments by their user name and number (as read back: `{username, name}`,
//! `{dept_no, name}`). A value that cannot take the widget's shape is sent as it is, and the
//! platform's refusal names the widget.

use std::collections::HashMap;

use serde_json::{Value, json};

/// Widget types by widget name, for the form and its sub-forms' items.
#[derive(Debug, Clone, Default)]
pub struct Widgets(HashMap<String, String>);

impl Widgets {
    /// From `widget/list`'s `widgets` (sub-forms carry their `items`).
    pub fn from_list(list: &[Value]) -> Self {
        let mut types = HashMap::new();
        let mut add = |w: &Value| {
            if let (Some(name), Some(kind)) = (
                w.get("name").and_then(Value::as_str),
                w.get("type").and_then(Value::as_str),
            ) {
                types.insert(name.to_owned(), kind.to_owned());
            }
        };
        for widget in list {
            add(widget);
            for item in widget
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                add(item);
            }
        }
        Self(types)
    }

    /// `value` in the shape widget `name` takes.
    pub fn shape(&self, name: &str, value: &Value) -> Value {
        match self.0.get(name).map(String::as_str) {
            Some("number") => number(value),
            Some("datetime") => datetime(value),
            Some("text" | "textarea" | "radiogroup" | "combo") => text(value),
            Some("user") => by_key(value, "username"),
            Some("dept") => by_key(value, "dept_no"),
            Some("usergroup") => each(value, |v| by_key(v, "username")),
            Some("deptgroup") => each(value, |v| by_key(v, "dept_no")),
            _ => value.clone(),
        }
    }
}

fn number(value: &Value) -> Value {
    match value {
        Value::String(s) if s.trim().is_empty() => Value::Null,
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .map_or_else(|| value.clone(), |n| json!(n)),
        _ => value.clone(),
    }
}

fn datetime(value: &Value) -> Value {
    match value {
        Value::String(s) if s.trim().is_empty() => Value::Null,
        // A calendar day: its start in China's time zone.
        Value::String(s)
            if s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() =>
        {
            json!(format!("{s}T00:00:00+08:00"))
        }
        _ => value.clone(),
    }
}

fn text(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.to_string()),
        Value::Bool(b) => json!(b.to_string()),
        Value::Null => json!(""),
        _ => value.clone(),
    }
}

fn by_key(value: &Value, key: &str) -> Value {
    match value {
        Value::Object(map) => map.get(key).cloned().unwrap_or(Value::Null),
        _ => value.clone(),
    }
}

fn each(value: &Value, f: impl Fn(&Value) -> Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(f).collect()),
        Value::Null => json!([]),
        other => Value::Array(vec![f(other)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_values_take_their_widgets_shapes() {
        let widgets = Widgets::from_list(&[
            json!({"name": "credit", "type": "number"}),
            json!({"name": "signed", "type": "datetime"}),
            json!({"name": "code", "type": "text"}),
            json!({"name": "owner", "type": "user"}),
            json!({"name": "lines", "type": "subform", "items": [{"name": "qty", "type": "number"}]}),
        ]);
        assert_eq!(widgets.shape("credit", &json!("50000.50")), json!(50000.5));
        assert_eq!(widgets.shape("credit", &json!("")), Value::Null);
        assert_eq!(widgets.shape("qty", &json!("3")), json!(3.0));
        assert_eq!(
            widgets.shape("signed", &json!("2024-05-01")),
            json!("2024-05-01T00:00:00+08:00")
        );
        assert_eq!(
            widgets.shape("signed", &json!("2024-05-01T02:00:00Z")),
            json!("2024-05-01T02:00:00Z")
        );
        assert_eq!(widgets.shape("code", &json!(42)), json!("42"));
        assert_eq!(
            widgets.shape("owner", &json!({"username": "lisi", "name": "李四"})),
            json!("lisi")
        );
        assert_eq!(widgets.shape("unknown", &json!("x")), json!("x"));
    }
}
