//! Reading written values: every widget's value comes wrapped, `{"_widget_1": {"value": …}}`
//! (dossier §3), and is checked against the widget's type and turned into the shape it is
//! stored and read in. Members are written as usernames and read as `{"username", "name"}`;
//! departments written as `dept_no` and read as `{"dept_no", "name"}`; sub-form rows keep
//! their `_id` when it is sent and get a new one otherwise. Keys the form has no widget for
//! are ignored, and so are values for serial numbers (`sn`), which the platform sets.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::answer::JdyError;
use super::config::JiandaoyunConfig;
use super::forms::{Form, Widget, WidgetType};
use super::records::{empty_value, iso};

/// What reading values needs besides the form: the directory of members and departments,
/// and a source of new sub-form row ids.
pub struct Writer<'a> {
    pub config: &'a JiandaoyunConfig,
    pub new_row_id: Box<dyn Fn() -> String + 'a>,
}

/// How a field is named in a refusal: its label and key, with the sub-form row when inside
/// one (`订单明细[第2行].数量（_widget_…）`).
fn field_name(widget: &Widget, row: Option<(&Widget, usize)>) -> String {
    match row {
        Some((sub, index)) => format!(
            "{}[第{}行].{}（{}）",
            sub.label,
            index + 1,
            widget.label,
            widget.name
        ),
        None => format!("{}（{}）", widget.label, widget.name),
    }
}

impl Writer<'_> {
    /// The stored values of the widgets `data` writes, checked. `existing` is the record
    /// being updated (for sub-form rows that keep their `_id`).
    pub fn read(
        &self,
        form: &Form,
        data: &Value,
        existing: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, JdyError> {
        let Value::Object(data) = data else {
            return Err(JdyError::BadParameter("data 必须是对象".into()));
        };
        let mut out = Map::new();
        for (key, wrapped) in data {
            let Some(widget) = form.widget(key).filter(|w| w.kind != WidgetType::Sn) else {
                continue;
            };
            let value = unwrap(wrapped, || field_name(widget, None))?;
            let before = existing.and_then(|e| e.get(key));
            out.insert(key.clone(), self.convert(widget, value, before, None)?);
        }
        Ok(out)
    }

    fn convert(
        &self,
        widget: &Widget,
        value: &Value,
        before: Option<&Value>,
        row: Option<(&Widget, usize)>,
    ) -> Result<Value, JdyError> {
        if value.is_null() {
            return Ok(empty_value(widget));
        }
        let bad = |reason: &str| JdyError::invalid(field_name(widget, row), reason);
        use WidgetType::*;
        match widget.kind {
            Text | Textarea | Radiogroup | Combo | Sn => value
                .as_str()
                .map(Value::from)
                .ok_or_else(|| bad("应为文本")),
            Number => value
                .is_number()
                .then(|| value.clone())
                .ok_or_else(|| bad("应为数字")),
            Datetime => datetime(value)
                .ok_or_else(|| bad("应为 ISO 8601 时间，如 2024-05-01T08:00:00.000Z")),
            Checkboxgroup | Combocheck => strings(value).ok_or_else(|| bad("应为文本数组")),
            User => self
                .member(value)
                .ok_or_else(|| bad("应为成员的用户名 (username)")),
            Usergroup => self
                .each(value, |v| self.member(v))
                .ok_or_else(|| bad("应为成员用户名数组")),
            Dept => self
                .department(value)
                .ok_or_else(|| bad("应为部门编号 (dept_no)")),
            Deptgroup => self
                .each(value, |v| self.department(v))
                .ok_or_else(|| bad("应为部门编号数组")),
            Address => address(value).ok_or_else(|| bad("应为 {province, city, district, detail}")),
            Image | Upload => files(value).ok_or_else(|| bad("应为 [{name, size, mime, url}]")),
            Subform => self.rows(widget, value, before),
        }
    }

    fn member(&self, value: &Value) -> Option<Value> {
        let member = self.config.member(value.as_str()?)?;
        Some(json!({ "username": member.username, "name": member.name }))
    }

    fn department(&self, value: &Value) -> Option<Value> {
        let dept = self.config.department(value.as_i64()?)?;
        Some(json!({ "dept_no": dept.dept_no, "name": dept.name }))
    }

    fn each(&self, value: &Value, one: impl Fn(&Value) -> Option<Value>) -> Option<Value> {
        let items = value.as_array()?;
        items
            .iter()
            .map(one)
            .collect::<Option<Vec<_>>>()
            .map(Value::Array)
    }

    /// Sub-form rows: each an object of wrapped item values, with `_id` (plain or wrapped)
    /// to keep a row the record has (items not sent keep their values); the rows sent
    /// replace the rows stored, and a row without a known `_id` is a new row.
    fn rows(&self, sub: &Widget, value: &Value, before: Option<&Value>) -> Result<Value, JdyError> {
        let Some(rows) = value.as_array() else {
            return Err(JdyError::invalid(field_name(sub, None), "应为子表单行数组"));
        };
        let mut out = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            let Value::Object(row) = row else {
                return Err(JdyError::invalid(field_name(sub, None), "每行应为对象"));
            };
            let sent_id = row.get("_id").map(|id| id.get("value").unwrap_or(id));
            let old = sent_id
                .and_then(Value::as_str)
                .and_then(|id| old_row(before, id));
            out.push(self.row(sub, row, index, old)?);
        }
        Ok(Value::Array(out))
    }

    fn row(
        &self,
        sub: &Widget,
        row: &Map<String, Value>,
        index: usize,
        old: Option<&Map<String, Value>>,
    ) -> Result<Value, JdyError> {
        let mut out = Map::new();
        let row_id = old.and_then(|o| o.get("_id")).and_then(Value::as_str);
        let row_id = row_id.map_or_else(|| (self.new_row_id)(), str::to_owned);
        out.insert("_id".into(), row_id.into());
        for item in &sub.items {
            let value = match row.get(&item.name) {
                Some(wrapped) => {
                    let value = unwrap(wrapped, || field_name(item, Some((sub, index))))?;
                    self.convert(item, value, None, Some((sub, index)))?
                }
                None => old
                    .and_then(|o| o.get(&item.name).cloned())
                    .unwrap_or_else(|| empty_value(item)),
            };
            out.insert(item.name.clone(), value);
        }
        Ok(Value::Object(out))
    }
}

/// The value inside `{"value": …}`.
fn unwrap(wrapped: &Value, field: impl Fn() -> String) -> Result<&Value, JdyError> {
    wrapped
        .as_object()
        .and_then(|o| o.get("value"))
        .ok_or_else(|| JdyError::invalid(field(), "值须写作 {\"value\": …}"))
}

/// The stored row of a sub-form value with this `_id`.
fn old_row<'v>(before: Option<&'v Value>, id: &str) -> Option<&'v Map<String, Value>> {
    let rows = before?.as_array()?;
    rows.iter()
        .filter_map(Value::as_object)
        .find(|r| r.get("_id").and_then(Value::as_str) == Some(id))
}

/// An ISO 8601 time with an offset, answered in UTC with milliseconds.
fn datetime(value: &Value) -> Option<Value> {
    let at = DateTime::parse_from_rfc3339(value.as_str()?).ok()?;
    Some(iso(at.with_timezone(&Utc)).into())
}

fn strings(value: &Value) -> Option<Value> {
    let all = value.as_array()?.iter().all(Value::is_string);
    all.then(|| value.clone())
}

fn address(value: &Value) -> Option<Value> {
    let parts = value.as_object()?;
    let mut out = Map::new();
    for key in ["province", "city", "district", "detail"] {
        let part = match parts.get(key) {
            None | Some(Value::Null) => "",
            Some(v) => v.as_str()?,
        };
        out.insert(key.into(), part.into());
    }
    Some(Value::Object(out))
}

/// Files as `{name, size, mime, url}`: `url` is needed, the rest defaults from it.
fn files(value: &Value) -> Option<Value> {
    let files = value.as_array()?.iter().map(|file| {
        let file = file.as_object()?;
        let url = file.get("url")?.as_str()?;
        let default_name = url.rsplit('/').next().unwrap_or(url);
        let name = file.get("name").and_then(Value::as_str).unwrap_or(default_name);
        let size = file.get("size").and_then(Value::as_u64).unwrap_or(0);
        let mime = file.get("mime").and_then(Value::as_str);
        Some(json!({ "name": name, "size": size, "mime": mime.unwrap_or("application/octet-stream"), "url": url }))
    });
    files.collect::<Option<Vec<_>>>().map(Value::Array)
}

/// Whether a stored value counts as empty (null, `""`, `[]`, `{}`).
pub fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// Refuses a record whose required widgets (or required items of its sub-form rows) are
/// empty, naming the first such field.
pub fn check_required(form: &Form, fields: &Map<String, Value>) -> Result<(), JdyError> {
    for widget in &form.widgets {
        let value = fields.get(&widget.name);
        if widget.required && is_empty(value) {
            return Err(JdyError::Required {
                field: field_name(widget, None),
            });
        }
        let rows = value.and_then(Value::as_array).into_iter().flatten();
        for (index, row) in rows.enumerate() {
            if let Some(item) = widget
                .items
                .iter()
                .find(|item| item.required && is_empty(row.get(&item.name)))
            {
                return Err(JdyError::Required {
                    field: field_name(item, Some((widget, index))),
                });
            }
        }
    }
    Ok(())
}
