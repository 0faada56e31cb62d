//! The objects the reference double serves and the rules a record of each must pass.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::answer::{ApiError, FieldError};
use crate::store::RecordStore;

/// One object: its name in URLs, its business-key field and its fields.
pub struct ObjectSpec {
    pub name: &'static str,
    pub key: &'static str,
    pub fields: &'static [FieldSpec],
}

pub struct FieldSpec {
    pub name: &'static str,
    pub required: bool,
    pub kind: Kind,
}

/// What a field's value must be.
pub enum Kind {
    /// A string of at most this many characters (not blank when required).
    Text(usize),
    /// `local@domain.tld`.
    Email,
    /// `YYYY-MM-DD`.
    Date,
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// A JSON number ≥ 0.
    Amount,
    /// A JSON number > 0.
    Quantity,
    /// A whole JSON number ≥ 0.
    Count,
    /// true or false.
    Flag,
    /// The business key of an existing record of that object.
    Ref(&'static str),
    /// A non-empty array of order lines.
    Lines,
}

const fn field(name: &'static str, required: bool, kind: Kind) -> FieldSpec {
    FieldSpec {
        name,
        required,
        kind,
    }
}

const CUSTOMER_FIELDS: &[FieldSpec] = &[
    field("code", true, Kind::Text(32)),
    field("name", true, Kind::Text(200)),
    field("email", false, Kind::Email),
    field("phone", false, Kind::Text(40)),
    field("city", false, Kind::Text(100)),
    field("credit_limit", false, Kind::Amount),
    field("active", false, Kind::Flag),
];

const PRODUCT_FIELDS: &[FieldSpec] = &[
    field("sku", true, Kind::Text(32)),
    field("name", true, Kind::Text(200)),
    field("price", true, Kind::Amount),
    field("stock", false, Kind::Count),
    field("unit", false, Kind::Text(10)),
];

const ORDER_FIELDS: &[FieldSpec] = &[
    field("number", true, Kind::Text(32)),
    field("customer_code", true, Kind::Ref("customers")),
    field("order_date", true, Kind::Date),
    field(
        "status",
        false,
        Kind::Choice(&["open", "confirmed", "shipped", "cancelled"]),
    ),
    field("lines", true, Kind::Lines),
];

const LINE_FIELDS: &[FieldSpec] = &[
    field("sku", true, Kind::Ref("products")),
    field("qty", true, Kind::Quantity),
    field("price", true, Kind::Amount),
];

/// Every object, in the order they are listed.
pub static OBJECTS: [ObjectSpec; 3] = [
    ObjectSpec {
        name: "customers",
        key: "code",
        fields: CUSTOMER_FIELDS,
    },
    ObjectSpec {
        name: "products",
        key: "sku",
        fields: PRODUCT_FIELDS,
    },
    ObjectSpec {
        name: "orders",
        key: "number",
        fields: ORDER_FIELDS,
    },
];

/// The object named in a URL.
pub fn spec(object: &str) -> Result<&'static ObjectSpec, ApiError> {
    OBJECTS.iter().find(|o| o.name == object).ok_or_else(|| {
        let names: Vec<&str> = OBJECTS.iter().map(|o| o.name).collect();
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no object `{object}`; objects: {}", names.join(", ")),
        )
    })
}

/// Why `fields` is not a valid record of `spec`: every field in error, in field order.
/// `whole` asks for every required field (a create); otherwise only the given fields are
/// checked (an update). Server fields (`id`, `created_at`, `updated_at`) are not checked:
/// the store drops them.
pub fn refusals(
    store: &RecordStore,
    spec: &ObjectSpec,
    fields: &Map<String, Value>,
    whole: bool,
) -> Vec<FieldError> {
    check_fields(store, spec.fields, fields, whole, "")
}

fn check_fields(
    store: &RecordStore,
    specs: &[FieldSpec],
    fields: &Map<String, Value>,
    whole: bool,
    prefix: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for name in fields.keys() {
        let known = specs.iter().any(|s| s.name == name);
        if !known && !["id", "created_at", "updated_at"].contains(&name.as_str()) {
            errors.push(FieldError::new(format!("{prefix}{name}"), "unknown field"));
        }
    }
    for spec in specs {
        let path = format!("{prefix}{}", spec.name);
        match fields.get(spec.name) {
            None | Some(Value::Null)
                if spec.required && (whole || fields.contains_key(spec.name)) =>
            {
                errors.push(FieldError::new(path, "required"));
            }
            None | Some(Value::Null) => {}
            Some(Value::Array(lines)) if matches!(spec.kind, Kind::Lines) => {
                errors.extend(check_lines(store, lines, &path));
            }
            Some(value) => {
                if let Err(reason) = check_value(store, &spec.kind, value, spec.required) {
                    errors.push(FieldError::new(path, reason));
                }
            }
        }
    }
    errors
}

fn check_lines(store: &RecordStore, lines: &[Value], path: &str) -> Vec<FieldError> {
    if lines.is_empty() {
        return vec![FieldError::new(path, "needs at least one line")];
    }
    let mut errors = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match line.as_object() {
            Some(line) => errors.extend(check_fields(
                store,
                LINE_FIELDS,
                line,
                true,
                &format!("{at}."),
            )),
            None => errors.push(FieldError::new(at, "expected an object")),
        }
    }
    errors
}

fn check_value(
    store: &RecordStore,
    kind: &Kind,
    value: &Value,
    required: bool,
) -> Result<(), String> {
    match kind {
        Kind::Text(max) => {
            let text = value.as_str().ok_or("expected text")?;
            if required && text.trim().is_empty() {
                return Err("must not be blank".into());
            }
            let len = text.chars().count();
            if len > *max {
                return Err(format!("at most {max} characters, found {len}"));
            }
        }
        Kind::Email => {
            let text = value.as_str().ok_or("expected text")?;
            let valid = text.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.contains('@') && domain.contains('.')
            });
            if !valid {
                return Err(format!("`{text}` is not an email address"));
            }
        }
        Kind::Date => {
            let text = value.as_str().ok_or("expected a date (YYYY-MM-DD)")?;
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))?;
        }
        Kind::Choice(allowed) => {
            let text = value.as_str().ok_or("expected text")?;
            if !allowed.contains(&text) {
                return Err(format!("`{text}` is not one of {}", allowed.join(", ")));
            }
        }
        Kind::Amount => {
            let n = value.as_f64().ok_or("expected a number")?;
            if n < 0.0 {
                return Err(format!("must be 0 or more, found {n}"));
            }
        }
        Kind::Quantity => {
            let n = value.as_f64().ok_or("expected a number")?;
            if n <= 0.0 {
                return Err(format!("must be more than 0, found {n}"));
            }
        }
        Kind::Count => {
            value.as_u64().ok_or("expected a whole number, 0 or more")?;
        }
        Kind::Flag => {
            value.as_bool().ok_or("expected true or false")?;
        }
        Kind::Ref(object) => {
            let key = value.as_str().ok_or("expected text")?;
            if !matches!(store.find_by_key(object, key), Ok(Some(_))) {
                return Err(format!("no {object} record `{key}`"));
            }
        }
        Kind::Lines => return Err("expected an array of lines".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::Clock;

    #[test]
    fn every_bad_field_is_named_with_its_reason() {
        let store = RecordStore::new(Clock::system());
        store.define("customers", "code");
        store.define("products", "sku");
        let p1 = json!({"sku": "P1", "name": "Bolt", "price": 1.5});
        store
            .insert("products", p1.as_object().unwrap().clone())
            .unwrap();
        let order = json!({
            "number": "SO1", "customer_code": "C9", "order_date": "2026-02-30", "colour": "red",
            "lines": [{"sku": "P1", "qty": 2, "price": 1.5}, {"sku": "P2", "qty": 0}, 7]
        });
        let errors = refusals(
            &store,
            spec("orders").unwrap(),
            order.as_object().unwrap(),
            true,
        );
        let got: Vec<(String, String)> = errors.into_iter().map(|e| (e.field, e.message)).collect();
        let want = [
            ("colour", "unknown field"),
            ("customer_code", "no customers record `C9`"),
            ("order_date", "`2026-02-30` is not a date (YYYY-MM-DD)"),
            ("lines[1].sku", "no products record `P2`"),
            ("lines[1].qty", "must be more than 0, found 0"),
            ("lines[1].price", "required"),
            ("lines[2]", "expected an object"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_update_checks_only_what_it_sets() {
        let store = RecordStore::new(Clock::system());
        let patch = json!({"email": "nobody"});
        let errors = refusals(
            &store,
            spec("customers").unwrap(),
            patch.as_object().unwrap(),
            false,
        );
        assert_eq!(
            errors,
            [FieldError::new("email", "`nobody` is not an email address")]
        );
        let clear_name = json!({"name": null});
        let errors = refusals(
            &store,
            spec("customers").unwrap(),
            clear_name.as_object().unwrap(),
            false,
        );
        assert_eq!(errors, [FieldError::new("name", "required")]);
    }
}
