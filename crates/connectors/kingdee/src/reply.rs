//! K/3 Cloud's replies: HTTP 200 whatever happened, with a `ResponseStatus` saying what did.
//!
//! A write answers `{"Result": {"ResponseStatus": {…}, "Id": …}}`; a query answers its rows,
//! or the same status wrapped as `[[{"Result": {"ResponseStatus": {…}}}]]`. Servers differ
//! in what they include (corrections 4 and 7 of the dossier): `IsSuccess` may be a boolean
//! or the text `"true"`/`"false"`, `MsgCode`, `DIndex` and `SuccessEntitys` may be missing,
//! `Id` may be `""`. Everything here reads both shapes and missing parts.
//!
//! [`SessionCheck`] is the client's [`ReplyCheck`]: it turns the codes that concern the call
//! rather than a record into the kinds the client acts on — 1 (context lost: log in again
//! and send once more), 13 (网控, a record locked by another user: retry) and 14 (调用限制:
//! back off). Every other refusal is left to the caller, which knows which record it is
//! about.

use ferry_kit::http::{ReplyCheck, Response};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::Value;

/// `MsgCode` 1: the session is gone (会话信息已丢失).
pub const CONTEXT_LOST: i64 = 1;
/// `MsgCode` 13: network control, a record is locked by another user.
pub const NETWORK_CONTROL: i64 = 13;
/// `MsgCode` 14: the tenant's call limit.
pub const CALL_LIMIT: i64 = 14;

/// The `ResponseStatus` of a reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub ok: bool,
    /// `MsgCode`, when the server sent one.
    pub code: Option<i64>,
    pub errors: Vec<ItemError>,
    pub successes: Vec<Success>,
}

/// One refusal in `Errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    /// The field it is about (`FCustId`), if any.
    pub field: Option<String>,
    pub message: String,
    /// The index of the model or number it is about (`DIndex`), if given.
    pub index: Option<usize>,
}

/// One saved or processed record in `SuccessEntitys`.
#[derive(Debug, Clone, PartialEq)]
pub struct Success {
    pub id: String,
    pub number: String,
    pub index: Option<usize>,
}

impl Status {
    /// The status of `reply`, if it has one (a query's rows have none).
    pub fn of(reply: &Value) -> Option<Self> {
        let status = reply
            .pointer("/Result/ResponseStatus")
            .or_else(|| reply.pointer("/0/0/Result/ResponseStatus"))?;
        Some(Self {
            ok: truthy(status.get("IsSuccess")),
            code: status.get("MsgCode").and_then(integer),
            errors: list(status, "Errors")
                .map(|e| ItemError {
                    field: text(e.get("FieldName")).filter(|f| !f.is_empty()),
                    message: text(e.get("Message")).unwrap_or_default(),
                    index: e.get("DIndex").and_then(integer).map(|i| i as usize),
                })
                .collect(),
            successes: list(status, "SuccessEntitys")
                .map(|s| Success {
                    id: text(s.get("Id")).unwrap_or_default(),
                    number: text(s.get("Number")).unwrap_or_default(),
                    index: s.get("DIndex").and_then(integer).map(|i| i as usize),
                })
                .collect(),
        })
    }

    /// Every error's message, with its field, joined (for a refusal of a whole call).
    pub fn message(&self) -> String {
        let parts: Vec<String> = self.errors.iter().map(ItemError::describe).collect();
        if parts.is_empty() {
            format!(
                "Kingdee refused the call (MsgCode {})",
                self.code.unwrap_or(0)
            )
        } else {
            parts.join("; ")
        }
    }

    /// The errors about the item at `index`; an error without `DIndex` is about every item
    /// when the call had one item, and about none otherwise.
    pub fn errors_at(&self, index: usize, items: usize) -> Vec<&ItemError> {
        self.errors
            .iter()
            .filter(|e| e.index == Some(index) || (e.index.is_none() && items == 1))
            .collect()
    }
}

impl ItemError {
    /// `FieldName: Message`, or the message alone.
    pub fn describe(&self) -> String {
        match &self.field {
            Some(field) if !self.message.contains(field.as_str()) => {
                format!("{field}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }
}

/// The kind of a call-level code, if the code is one (see the module docs).
pub fn call_kind(code: Option<i64>) -> Option<ErrorKind> {
    match code? {
        CONTEXT_LOST => Some(ErrorKind::Auth),
        NETWORK_CONTROL => Some(ErrorKind::Retryable),
        CALL_LIMIT => Some(ErrorKind::RateLimited { retry_after: None }),
        _ => None,
    }
}

/// The client's check of every reply (see the module docs).
#[derive(Debug, Default)]
pub struct SessionCheck;

impl ReplyCheck for SessionCheck {
    fn check(&self, reply: &Response) -> Result<(), ConnectorError> {
        let Ok(body) = serde_json::from_slice::<Value>(reply.bytes()) else {
            return Ok(());
        };
        match Status::of(&body) {
            Some(status) if !status.ok => match call_kind(status.code) {
                Some(kind) => Err(ConnectorError::new(kind, status.message())),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// `true`, `"true"` (any case) or `1`.
fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// A number or numeric text (`MsgCode` comes both ways); `""` is none.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Text, or a number as text (ids come both ways).
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn list<'a>(status: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    status
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_shapes_and_missing_parts_are_read() {
        let query = json!([[{"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": false,
            "Errors": [{"FieldName": null, "Message": "元数据中标识为FXXX的字段不存在", "DIndex": 0}], "MsgCode": 9}}}]]);
        let status = Status::of(&query).unwrap();
        assert!(!status.ok);
        assert_eq!(status.code, Some(9));
        assert_eq!(status.message(), "元数据中标识为FXXX的字段不存在");

        // An older server: text flags, no MsgCode, no DIndex, no SuccessEntitys, Id "".
        let old = json!({"Result": {"ResponseStatus": {"IsSuccess": "false", "MsgCode": "",
            "Errors": [{"FieldName": "FCustId", "Message": "字段[客户]是必录字段"}]}, "Id": ""}});
        let status = Status::of(&old).unwrap();
        assert_eq!((status.ok, status.code), (false, None));
        assert_eq!(
            status.errors_at(0, 1).len(),
            1,
            "no DIndex, one item: it is that item's"
        );
        assert!(
            status.errors_at(0, 2).is_empty(),
            "no DIndex, two items: nobody's"
        );
        assert_eq!(status.message(), "FCustId: 字段[客户]是必录字段");

        let saved = json!({"Result": {"ResponseStatus": {"IsSuccess": true, "Errors": [],
            "SuccessEntitys": [{"Id": 100123, "Number": "C001", "DIndex": 0}], "MsgCode": 0}}});
        let status = Status::of(&saved).unwrap();
        assert!(status.ok);
        assert_eq!(status.successes[0].id, "100123");
        assert_eq!(
            Status::of(&json!([[1, "C001"]])),
            None,
            "rows have no status"
        );
    }

    #[test]
    fn call_level_codes_have_their_kinds() {
        assert_eq!(call_kind(Some(1)), Some(ErrorKind::Auth));
        assert_eq!(call_kind(Some(13)), Some(ErrorKind::Retryable));
        assert!(matches!(
            call_kind(Some(14)),
            Some(ErrorKind::RateLimited { .. })
        ));
        assert_eq!(
            call_kind(Some(11)),
            None,
            "a refusal of the data is the caller's"
        );
        assert_eq!(call_kind(None), None);
    }
}
