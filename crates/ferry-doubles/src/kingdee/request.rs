//! Reading a call: which service the path names, and the body in either convention —
//! positional `{"parameters": [formId, data]}` or named `{"formid": …, "data": …}` — with
//! `data` an object or a JSON string.

use serde_json::{Map, Value};

use super::answer::KdError;

/// The services the double serves, by the last part of their name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    ValidateUser,
    LoginByAppSecret,
    LoginBySign,
    GetDataCenterList,
    ExecuteBillQuery,
    BillQuery,
    View,
    Save,
    BatchSave,
    Draft,
    Submit,
    Audit,
    UnAudit,
    Delete,
    Push,
    ExcuteOperation,
    Allocate,
    CancelAllocate,
}

const AUTH: &str = "Kingdee.BOS.WebApi.ServicesStub.AuthService.";
const FORM: &str = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.";
const ACCOUNT: &str = "Kingdee.BOS.ServiceFacade.ServicesStub.Account.AccountService.";
const SUFFIX: &str = ".common.kdsvc";

impl Service {
    /// The service a request path (`/k3cloud/<name>.common.kdsvc`) names; `None` for a
    /// path the server does not serve. Names compare without case, as IIS does.
    pub fn from_path(path: &str) -> Option<Self> {
        let name = path.strip_prefix("/k3cloud/")?;
        let lower = name.to_ascii_lowercase();
        let name = &name[..lower.strip_suffix(SUFFIX)?.len()];
        let (prefix, op) = name.split_at(name.rfind('.')? + 1);
        let known: &[(&str, Self)] = if prefix.eq_ignore_ascii_case(AUTH) {
            &[
                ("ValidateUser", Self::ValidateUser),
                ("LoginByAppSecret", Self::LoginByAppSecret),
                ("LoginBySign", Self::LoginBySign),
            ]
        } else if prefix.eq_ignore_ascii_case(ACCOUNT) {
            &[("GetDataCenterList", Self::GetDataCenterList)]
        } else if prefix.eq_ignore_ascii_case(FORM) {
            &Self::FORM_SERVICES
        } else {
            return None;
        };
        known
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(op))
            .map(|(_, s)| *s)
    }

    const FORM_SERVICES: [(&'static str, Self); 14] = [
        ("ExecuteBillQuery", Self::ExecuteBillQuery),
        ("BillQuery", Self::BillQuery),
        ("View", Self::View),
        ("Save", Self::Save),
        ("BatchSave", Self::BatchSave),
        ("Draft", Self::Draft),
        ("Submit", Self::Submit),
        ("Audit", Self::Audit),
        ("UnAudit", Self::UnAudit),
        ("Delete", Self::Delete),
        ("Push", Self::Push),
        ("ExcuteOperation", Self::ExcuteOperation),
        ("Allocate", Self::Allocate),
        ("CancelAllocate", Self::CancelAllocate),
    ];

    /// Logins and the data-centre list need no session.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::ValidateUser
                | Self::LoginByAppSecret
                | Self::LoginBySign
                | Self::GetDataCenterList
        )
    }

    /// Whether the answer to this service is rows (errors wrapped in `[[…]]`).
    pub fn is_query(self) -> bool {
        matches!(self, Self::ExecuteBillQuery | Self::BillQuery)
    }

    /// The names of the positional parameters of a service taking no form id.
    fn positional_names(self) -> &'static [&'static str] {
        match self {
            Self::ValidateUser => &["acctid", "username", "password", "lcid"],
            Self::LoginByAppSecret => &["acctid", "username", "appid", "appsecret", "lcid"],
            Self::LoginBySign => &["acctid", "username", "appid", "timestamp", "sign", "lcid"],
            _ => &[],
        }
    }
}

/// A call's arguments in one shape whichever convention the client used.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Call {
    /// The form the call is about (for queries: `data.FormId`).
    pub form_id: Option<String>,
    /// `ExcuteOperation`'s operation (`Forbid`, `Enable`).
    pub op_number: Option<String>,
    /// The `data` object; for logins, the login fields by name.
    pub data: Map<String, Value>,
}

/// Reads the body of a call to `service`.
pub fn read_call(service: Service, body: &[u8]) -> Result<Call, KdError> {
    if service == Service::GetDataCenterList && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Call::default());
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(KdError::BadParameter("请求内容不是JSON对象".into()));
    };
    match get_ci(&body, "parameters") {
        Some(Value::Array(params)) => positional(service, params),
        Some(_) => Err(KdError::BadParameter("parameters必须是数组".into())),
        None => named(service, &body),
    }
}

fn positional(service: Service, params: &[Value]) -> Result<Call, KdError> {
    let names = service.positional_names();
    if !names.is_empty() {
        let data = names
            .iter()
            .zip(params)
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        return Ok(Call {
            data,
            ..Call::default()
        });
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let mut call = Call::default();
    let data = if service.is_query() {
        params.first()
    } else if service == Service::ExcuteOperation {
        call.form_id = text(params.first());
        call.op_number = text(params.get(1));
        params.get(2)
    } else {
        call.form_id = text(params.first());
        params.get(1)
    };
    call.data = data_object(data)?;
    query_form(service, &mut call);
    Ok(call)
}

fn named(service: Service, body: &Map<String, Value>) -> Result<Call, KdError> {
    if !service.positional_names().is_empty() {
        let mut data = body.clone();
        if let Some(sign) = get_ci(body, "signeddata").cloned() {
            data.insert("sign".into(), sign);
        }
        return Ok(Call {
            data: lower_keys(data),
            ..Call::default()
        });
    }
    let text = |key| get_ci(body, key).and_then(Value::as_str).map(str::to_owned);
    let mut call = Call {
        form_id: text("formid"),
        op_number: text("opNumber"),
        data: data_object(get_ci(body, "data"))?,
    };
    query_form(service, &mut call);
    Ok(call)
}

/// A query names its form inside `data` (`FormId`), which wins over a top-level `formid`.
fn query_form(service: Service, call: &mut Call) {
    if service.is_query()
        && let Some(id) = get_ci(&call.data, "FormId").and_then(Value::as_str)
    {
        call.form_id = Some(id.to_owned());
    }
}

/// `data` as an object: given as one, or as a string holding one.
fn data_object(data: Option<&Value>) -> Result<Map<String, Value>, KdError> {
    match data {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(KdError::BadParameter("data不是有效的JSON对象".into())),
        },
        Some(_) => Err(KdError::BadParameter("data必须是JSON对象".into())),
    }
}

fn lower_keys(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// The value under `key`, compared without case.
pub fn get_ci<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A flag sent as a boolean or as the strings `"true"`/`"false"` (the official templates
/// type every option as a string); `default` when absent.
pub fn flag(map: &Map<String, Value>, key: &str, default: bool) -> bool {
    match get_ci(map, key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        _ => default,
    }
}

/// A whole number sent as a number or a string; `None` when absent or empty.
pub fn whole(map: &Map<String, Value>, key: &str) -> Option<i64> {
    match get_ci(map, key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A text option; `""` when absent.
pub fn text<'m>(map: &'m Map<String, Value>, key: &str) -> &'m str {
    get_ci(map, key).and_then(Value::as_str).unwrap_or("")
}

/// A list of strings sent as an array (`["FNumber"]`) or as one comma-separated string.
pub fn list(map: &Map<String, Value>, key: &str) -> Vec<String> {
    match get_ci(map, key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn services_are_named_by_their_full_names() {
        let path = |name: &str| format!("/k3cloud/{name}.common.kdsvc");
        assert_eq!(
            Service::from_path(&path(&format!("{FORM}ExecuteBillQuery"))),
            Some(Service::ExecuteBillQuery)
        );
        assert_eq!(
            Service::from_path(&path(&format!("{AUTH}validateuser"))),
            Some(Service::ValidateUser)
        );
        assert_eq!(Service::from_path(&path(&format!("{AUTH}Save"))), None);
        assert_eq!(Service::from_path("/k3cloud/Save"), None);
    }

    #[test]
    fn both_conventions_read_the_same() {
        let data = json!({"Numbers": ["XSDD000001"]});
        let named = json!({"formid": "SAL_SaleOrder", "data": data.to_string()});
        let positional = json!({"parameters": ["SAL_SaleOrder", data]});
        let a = read_call(Service::Audit, named.to_string().as_bytes()).unwrap();
        let b = read_call(Service::Audit, positional.to_string().as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.form_id.as_deref(), Some("SAL_SaleOrder"));
        let query = json!({"parameters": [json!({"FormId": "BD_Customer"}).to_string()]});
        let q = read_call(Service::ExecuteBillQuery, query.to_string().as_bytes()).unwrap();
        assert_eq!(q.form_id.as_deref(), Some("BD_Customer"));
    }
}
