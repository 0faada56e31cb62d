//! What a call asks for: which API (by its v5 path) and the parameters of its JSON body.

use serde_json::{Map, Value};

use super::answer::JdyError;
use super::config::JiandaoyunConfig;
use super::forms::{App, Form};

/// The prefix of every v5 path.
pub const V5: &str = "/api/v5/";

/// The APIs the double serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    AppList,
    FormList,
    WidgetList,
    DataGet,
    DataList,
    DataCreate,
    DataUpdate,
    DataDelete,
    BatchCreate,
    BatchUpdate,
    BatchDelete,
}

impl Api {
    const ALL: [Self; 11] = [
        Self::AppList,
        Self::FormList,
        Self::WidgetList,
        Self::DataGet,
        Self::DataList,
        Self::DataCreate,
        Self::DataUpdate,
        Self::DataDelete,
        Self::BatchCreate,
        Self::BatchUpdate,
        Self::BatchDelete,
    ];

    /// The path after `/api/v5/`, which also names the API's rate limit.
    pub fn name(self) -> &'static str {
        match self {
            Self::AppList => "app/list",
            Self::FormList => "app/entry/list",
            Self::WidgetList => "app/entry/widget/list",
            Self::DataGet => "app/entry/data/get",
            Self::DataList => "app/entry/data/list",
            Self::DataCreate => "app/entry/data/create",
            Self::DataUpdate => "app/entry/data/update",
            Self::DataDelete => "app/entry/data/delete",
            Self::BatchCreate => "app/entry/data/batch_create",
            Self::BatchUpdate => "app/entry/data/batch_update",
            Self::BatchDelete => "app/entry/data/batch_delete",
        }
    }

    /// The API of a request path (`/api/v5/app/entry/data/list`).
    pub fn from_path(path: &str) -> Option<Self> {
        let name = path.strip_prefix(V5)?.trim_end_matches('/');
        Self::ALL.into_iter().find(|api| api.name() == name)
    }
}

/// The JSON object of a call.
pub struct Body(Map<String, Value>);

impl Body {
    /// The body as a JSON object; an empty body reads as `{}`.
    pub fn read(bytes: &[u8]) -> Result<Self, JdyError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(JdyError::BadParameter("请求体必须是 JSON 对象".into())),
            Err(e) => Err(JdyError::BadParameter(format!(
                "请求体不是合法的 JSON：{e}"
            ))),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A required string parameter.
    pub fn text(&self, key: &str) -> Result<&str, JdyError> {
        match self.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(_) => Err(JdyError::BadParameter(format!("{key} 必须是非空字符串"))),
            None => Err(JdyError::BadParameter(format!("缺少参数 {key}"))),
        }
    }

    /// An optional string parameter.
    pub fn optional_text(&self, key: &str) -> Result<Option<&str>, JdyError> {
        self.get(key).map(|_| self.text(key)).transpose()
    }

    /// An optional boolean flag (`is_start_workflow`, `is_start_trigger`): accepted, and
    /// refused only when it is not a boolean.
    pub fn flag(&self, key: &str) -> Result<bool, JdyError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(JdyError::BadParameter(format!("{key} 必须是布尔值"))),
        }
    }

    /// An optional integer in `range`, `default` when absent.
    pub fn integer(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, JdyError> {
        let Some(value) = self.get(key) else {
            return Ok(default);
        };
        value.as_u64().filter(|n| range.contains(n)).ok_or_else(|| {
            let (lo, hi) = (range.start(), range.end());
            JdyError::BadParameter(format!("{key} 必须是 {lo} 到 {hi} 之间的整数"))
        })
    }

    /// A required array of strings (`data_ids`) of at most `max` elements.
    pub fn strings(&self, key: &str, max: usize) -> Result<Vec<String>, JdyError> {
        let bad = || JdyError::BadParameter(format!("{key} 必须是 1 到 {max} 个字符串的数组"));
        let items = self.get(key).and_then(Value::as_array).ok_or_else(bad)?;
        if items.is_empty() || items.len() > max {
            return Err(bad());
        }
        items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect()
    }

    /// The app `app_id` names.
    pub fn app<'c>(&self, config: &'c JiandaoyunConfig) -> Result<&'c App, JdyError> {
        let app_id = self.text("app_id")?;
        config
            .app(app_id)
            .ok_or_else(|| JdyError::AppNotFound(app_id.to_owned()))
    }

    /// The form `app_id` and `entry_id` name.
    pub fn form<'c>(&self, config: &'c JiandaoyunConfig) -> Result<(&'c App, &'c Form), JdyError> {
        let app = self.app(config)?;
        let entry_id = self.text("entry_id")?;
        let form = app
            .form(entry_id)
            .ok_or_else(|| JdyError::FormNotFound(entry_id.to_owned()))?;
        Ok((app, form))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apis_are_found_by_their_v5_path_only() {
        assert_eq!(
            Api::from_path("/api/v5/app/entry/data/list"),
            Some(Api::DataList)
        );
        assert_eq!(Api::from_path("/api/v5/app/list/"), Some(Api::AppList));
        assert_eq!(Api::from_path("/api/v4/app/entry/data/list"), None);
        assert_eq!(Api::from_path("/api/v5/app/entry/data"), None);
        assert!(
            Api::ALL
                .iter()
                .all(|api| Api::from_path(&format!("{V5}{}", api.name())) == Some(*api))
        );
    }

    #[test]
    fn an_empty_body_reads_as_an_empty_object_and_other_json_is_refused() {
        assert!(Body::read(b" ").unwrap().get("app_id").is_none());
        assert!(Body::read(b"[1]").is_err());
        assert!(Body::read(b"{").is_err());
        let body = Body::read(br#"{"limit": 0, "flag": "yes"}"#).unwrap();
        assert!(body.integer("limit", 10, 1..=100).is_err());
        assert_eq!(body.integer("absent", 10, 1..=100).unwrap(), 10);
        assert!(body.flag("flag").is_err());
    }
}
