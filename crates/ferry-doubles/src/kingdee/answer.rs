//! The Kingdee answer shapes: `Result.ResponseStatus` with `IsSuccess`, `Errors[]`,
//! `SuccessEntitys[]` and `MsgCode`, always with HTTP 200; query errors wrapped in
//! `[[…]]`; and the errors the double refuses with, each with its MsgCode.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// `ResponseStatus.MsgCode` values (dossier §5).
pub mod msg_code {
    pub const SESSION_LOST: i64 = 1;
    pub const FORM_ID_EMPTY: i64 = 5;
    pub const PARAMETER: i64 = 8;
    pub const NOT_EXISTS: i64 = 9;
    pub const NOT_FOUND: i64 = 10;
    pub const VALIDATION: i64 = 11;
    pub const NOT_ALLOWED: i64 = 12;
    pub const NETWORK_CONTROL: i64 = 13;
    pub const CALL_LIMIT: i64 = 14;
}

/// A refusal the double answers with. The messages are the server's Chinese texts, as
/// close as the documentation lets us (the README lists which are approximate).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KdError {
    #[error("会话信息已丢失，请重新登录")]
    SessionLost,
    #[error("参数FormId不能为空")]
    FormIdMissing,
    #[error("业务对象[{0}]不存在")]
    UnknownForm(String),
    #[error("元数据中标识为{0}的字段不存在")]
    UnknownField(String),
    #[error("参数错误：{0}")]
    BadParameter(String),
    #[error("过滤条件错误：{0}")]
    BadFilter(String),
    #[error("Limit参数不能大于10000，当前值为{0}")]
    LimitTooLarge(u64),
    #[error("字段[{caption}]是必录字段")]
    Required { key: String, caption: String },
    #[error("第{line}行字段[{caption}]是必录字段")]
    RequiredInLine {
        key: String,
        caption: String,
        line: usize,
    },
    #[error("字段[{caption}]的值[{value}]不存在")]
    NoSuchReference {
        key: String,
        caption: String,
        value: String,
    },
    #[error("字段[{caption}]的值[{value}]格式不正确")]
    BadValue {
        key: String,
        caption: String,
        value: String,
    },
    #[error("违反字段唯一性要求：编码唯一。[{0}]在当前系统中已经被使用。")]
    DuplicateNumber(String),
    #[error("单据已审核，不允许修改")]
    AuditedNotEditable,
    #[error("单据已提交，不允许修改")]
    SubmittedNotEditable,
    #[error("{0}的数据不存在")]
    NotFound(String),
    #[error("分录[{entry}]中内码为[{id}]的行不存在")]
    EntryNotFound { entry: String, id: u64 },
    #[error("单据已提交，不允许重复提交")]
    AlreadySubmitted,
    #[error("单据已经审核！")]
    AlreadyAudited,
    #[error("单据未提交，不允许审核")]
    NotSubmitted,
    #[error("单据未审核，不允许反审核")]
    NotAudited,
    #[error("已经存在下游单据，不允许反审核")]
    HasDownstream,
    #[error("单据状态为[{0}]，只有暂存、创建、重新审核状态的单据才允许删除")]
    NotDeletable(String),
    #[error("单据[{0}]未审核，不允许下推")]
    PushNotAudited(String),
    #[error("不存在从[{from}]下推到[{to}]的转换规则")]
    NoPushRule { from: String, to: String },
    #[error("单据[{0}]已全部下推，没有可以下推的数据")]
    AlreadyPushed(String),
    #[error("业务对象[{form}]不支持操作[{operation}]")]
    NotSupported { form: String, operation: String },
    #[error("组织内码[{0}]不存在")]
    UnknownOrg(String),
    #[error("数据包重复提交，请勿重复提交相同的数据")]
    RepeatedJson,
}

impl KdError {
    /// The `MsgCode` the refusal is answered with.
    pub fn msg_code(&self) -> i64 {
        use msg_code::*;
        match self {
            Self::SessionLost => SESSION_LOST,
            Self::FormIdMissing => FORM_ID_EMPTY,
            Self::BadParameter(_)
            | Self::BadFilter(_)
            | Self::LimitTooLarge(_)
            | Self::BadValue { .. }
            | Self::NoPushRule { .. } => PARAMETER,
            Self::UnknownForm(_)
            | Self::UnknownField(_)
            | Self::NoSuchReference { .. }
            | Self::UnknownOrg(_) => NOT_EXISTS,
            Self::NotFound(_) | Self::EntryNotFound { .. } => NOT_FOUND,
            Self::NotSupported { .. } => NOT_ALLOWED,
            _ => VALIDATION,
        }
    }

    /// The `FieldName` of the error: the field key for refused field values.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            Self::Required { key, .. }
            | Self::RequiredInLine { key, .. }
            | Self::NoSuchReference { key, .. }
            | Self::BadValue { key, .. } => Some(key),
            _ => None,
        }
    }

    /// One element of `Errors[]`.
    pub fn entry(&self, index: usize) -> Value {
        error_entry(self.field_name(), &self.to_string(), index)
    }
}

fn error_entry(field: Option<&str>, message: &str, index: usize) -> Value {
    json!({ "FieldName": field, "Message": message, "DIndex": index })
}

/// One element of `SuccessEntitys[]`.
pub fn success_entity(id: u64, number: &str, index: usize) -> Value {
    json!({ "Id": id, "Number": number, "DIndex": index })
}

/// The `ResponseStatus` of an operation on one or more records: successful when nothing
/// was refused. `errors` pair each refusal with the index of its record in the request.
pub fn response_status(successes: Vec<Value>, errors: &[(usize, KdError)]) -> Value {
    if errors.is_empty() {
        return json!({
            "IsSuccess": true, "Errors": [], "SuccessEntitys": successes,
            "SuccessMessages": [], "MsgCode": 0,
        });
    }
    let entries: Vec<Value> = errors.iter().map(|(i, e)| e.entry(*i)).collect();
    json!({
        "ErrorCode": 500, "IsSuccess": false, "Errors": entries, "SuccessEntitys": successes,
        "SuccessMessages": [], "MsgCode": errors[0].1.msg_code(),
    })
}

/// `{"Result": {"ResponseStatus": status, …extra}}`.
pub fn result(status: Value, extra: Map<String, Value>) -> Value {
    let mut result = Map::new();
    result.insert("ResponseStatus".into(), status);
    result.extend(extra);
    json!({ "Result": result })
}

/// The short error shell (no `SuccessEntitys`), as answered for a lost session and for
/// errors raised before an operation starts.
pub fn bare_error(msg_code: Value, field: Option<&str>, message: &str) -> Value {
    json!({ "Result": { "ResponseStatus": {
        "ErrorCode": 500, "IsSuccess": false,
        "Errors": [error_entry(field, message, 0)],
        "MsgCode": msg_code,
    }}})
}

/// A refusal of the whole call in the short shell.
pub fn refusal(error: &KdError) -> Value {
    bare_error(
        error.msg_code().into(),
        error.field_name(),
        &error.to_string(),
    )
}

/// A query error: the shell wrapped in two arrays, as `ExecuteBillQuery` answers.
pub fn wrapped(body: Value) -> Value {
    json!([[body]])
}

/// HTTP 200 with a JSON body, as the server answers business errors too.
pub fn ok(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

/// The answer of an `ErrorInOk` fault on `path`: the short shell with MsgCode `code` (a
/// number when it reads as one), wrapped for the query services.
pub fn error_in_ok(path: &str, code: &str, message: &str) -> Response {
    let msg_code = code
        .parse::<i64>()
        .map_or_else(|_| Value::from(code), Value::from);
    let body = bare_error(msg_code, None, message);
    if is_query_path(path) {
        ok(wrapped(body))
    } else {
        ok(body)
    }
}

/// Whether a request path is one of the query services, whose errors are wrapped.
pub fn is_query_path(path: &str) -> bool {
    path.contains("ExecuteBillQuery") || path.contains(".BillQuery.")
}
