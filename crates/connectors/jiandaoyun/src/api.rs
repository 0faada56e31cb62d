//! The open API v5 calls the connector makes, on the account's one HTTP client. Every call
//! is a `POST` with a JSON body. A refusal is an HTTP status with `{"code", "msg"}`; the
//! kit classifies the status (400 refuses the record with the message, 401 is `auth`, 429 is
//! waited out). An error reported inside an HTTP 200 (`{"code", "msg"}` where an answer
//! was expected) is read by [`Replies`] the same way.

use ferry_kit::http::{Call, HttpClient, ReplyCheck, Response, StatusCode};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Largest page and batch the API takes.
pub const MAX_PAGE: usize = 100;

/// The code of "no such record" (`4001` at the double; the message says 数据不存在).
const NOT_FOUND_CODE: i64 = 4001;

/// The account's API.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: HttpClient,
}

/// A form: its app and entry ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub app: String,
    pub entry: String,
}

impl Form {
    fn body(&self, rest: Value) -> Value {
        let mut body = json!({"app_id": self.app, "entry_id": self.entry});
        if let (Some(body), Value::Object(rest)) = (body.as_object_mut(), rest) {
            body.extend(rest);
        }
        body
    }
}

impl Api {
    async fn post(&self, path: &str, body: &Value, safe: bool) -> Result<Value, ConnectorError> {
        let mut call = Call::post(format!("v5/{path}"))
            .json(body)
            .label(path.to_owned());
        if safe {
            call = call.safe_to_repeat();
        }
        self.http.json(call).await
    }

    /// One page of a form's records after `after` (ascending `_id`).
    pub async fn list(
        &self,
        form: &Form,
        after: Option<&str>,
        limit: usize,
        fields: &[String],
        filter: Option<&Value>,
    ) -> Result<Vec<Map<String, Value>>, ConnectorError> {
        let mut body = form.body(json!({"limit": limit.clamp(1, MAX_PAGE)}));
        if let Some(after) = after {
            body["data_id"] = json!(after);
        }
        if !fields.is_empty() {
            body["fields"] = json!(fields);
        }
        if let Some(filter) = filter {
            body["filter"] = filter.clone();
        }
        let reply = self.post("app/entry/data/list", &body, true).await?;
        records(&reply, "data")
    }

    /// One record, or `None` when the form has no such record.
    pub async fn get(
        &self,
        form: &Form,
        id: &str,
    ) -> Result<Option<Map<String, Value>>, ConnectorError> {
        let body = form.body(json!({"data_id": id}));
        let call = Call::post("v5/app/entry/data/get")
            .json(&body)
            .label("app/entry/data/get")
            .safe_to_repeat()
            .accept(StatusCode::BAD_REQUEST)
            .accept(StatusCode::NOT_FOUND);
        let reply = self.http.send(call).await?;
        let value: Value = reply.json()?;
        if !reply.status().is_success() {
            return if is_not_found(&value) {
                Ok(None)
            } else {
                Err(refusal(&value, reply.status()))
            };
        }
        Ok(value.get("data").and_then(Value::as_object).cloned())
    }

    /// Creates one record; its `_id`.
    pub async fn create(
        &self,
        form: &Form,
        data: Value,
        flags: &Flags,
    ) -> Result<String, ConnectorError> {
        let body = form.body(json!({
            "data": data, "transaction_id": transaction(form, "create", &data),
            "is_start_workflow": flags.workflow, "is_start_trigger": flags.trigger,
        }));
        // The transaction id makes a repeat after a timeout answer the first create.
        let reply = self.post("app/entry/data/create", &body, true).await?;
        id_in(&reply)
    }

    /// Creates records in one call (all or none); their `_id`s in order.
    pub async fn batch_create(
        &self,
        form: &Form,
        data: Vec<Value>,
        flags: &Flags,
    ) -> Result<Vec<String>, ConnectorError> {
        let list = Value::Array(data);
        let body = form.body(json!({
            "data_list": list, "transaction_id": transaction(form, "batch_create", &list),
            "is_start_workflow": flags.workflow,
        }));
        let reply = self
            .post("app/entry/data/batch_create", &body, true)
            .await?;
        let ids: Vec<String> = reply
            .get("success_ids")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let wanted = list.as_array().map_or(0, Vec::len);
        if ids.len() != wanted {
            return Err(ConnectorError::new(
                ErrorKind::Retryable,
                format!(
                    "batch_create answered {} ids for {wanted} records",
                    ids.len()
                ),
            ));
        }
        Ok(ids)
    }

    /// Updates one record (the widgets sent; the others are kept). `version` is the
    /// record's `updateTime` as last read: it goes into the transaction id, so a repeat of
    /// this update is recognised, but a change back to an earlier content (A → B → A) is a
    /// new transaction, not a replay of the first that writes nothing.
    pub async fn update(
        &self,
        form: &Form,
        id: &str,
        version: &str,
        data: Value,
        flags: &Flags,
    ) -> Result<(), ConnectorError> {
        let txn = transaction(form, &format!("{id}@{version}"), &data);
        let body = form.body(json!({
            "data_id": id, "data": data, "transaction_id": txn,
            "is_start_trigger": flags.trigger,
        }));
        self.post("app/entry/data/update", &body, true)
            .await
            .map(|_| ())
    }

    /// Deletes one record; `false` when it was gone already.
    pub async fn delete(&self, form: &Form, id: &str) -> Result<bool, ConnectorError> {
        let body = form.body(json!({"data_id": id}));
        let call = Call::post("v5/app/entry/data/delete")
            .json(&body)
            .label("app/entry/data/delete")
            .safe_to_repeat()
            .accept(StatusCode::BAD_REQUEST)
            .accept(StatusCode::NOT_FOUND);
        let reply = self.http.send(call).await?;
        if reply.status().is_success() {
            return Ok(true);
        }
        let value: Value = reply.json()?;
        if is_not_found(&value) {
            Ok(false)
        } else {
            Err(refusal(&value, reply.status()))
        }
    }

    /// The apps the key may use: `(app_id, name)`.
    pub async fn apps(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        let reply = self
            .post("app/list", &json!({"limit": 100, "skip": 0}), true)
            .await?;
        Ok(pairs(&reply, "apps", "app_id"))
    }

    /// The forms of an app: `(entry_id, name)`.
    pub async fn forms(&self, app: &str) -> Result<Vec<(String, String)>, ConnectorError> {
        let body = json!({"app_id": app, "limit": 100, "skip": 0});
        let reply = self.post("app/entry/list", &body, true).await?;
        Ok(pairs(&reply, "forms", "entry_id"))
    }

    /// A form's widgets as the API lists them.
    pub async fn widgets(&self, form: &Form) -> Result<Vec<Value>, ConnectorError> {
        let reply = self
            .post("app/entry/widget/list", &form.body(json!({})), true)
            .await?;
        Ok(reply
            .get("widgets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }
}

/// What writes ask of the platform.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub workflow: bool,
    pub trigger: bool,
}

/// A transaction id made from what is sent, so the same write sent again (a retry after a
/// timeout, a restart mid-batch) is recognised by Jiandaoyun and not written twice.
fn transaction(form: &Form, what: &str, data: &Value) -> String {
    let mut hash = Sha256::new();
    for part in [
        form.app.as_str(),
        form.entry.as_str(),
        what,
        &data.to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hex::encode(hash.finalize());
    // A UUID's shape, which the API documents.
    format!(
        "{}-{}-{}-{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    )
}

fn records(reply: &Value, key: &str) -> Result<Vec<Map<String, Value>>, ConnectorError> {
    match reply.get(key) {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|i| i.as_object().cloned())
            .collect()),
        _ => Err(ConnectorError::new(
            ErrorKind::Fatal,
            format!("the answer has no `{key}` list: {}", short(reply)),
        )),
    }
}

fn id_in(reply: &Value) -> Result<String, ConnectorError> {
    reply
        .pointer("/data/_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Retryable,
                format!("the answer has no `_id`: {}", short(reply)),
            )
        })
}

fn pairs(reply: &Value, list: &str, id: &str) -> Vec<(String, String)> {
    reply
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i.get(id)?.as_str()?.to_owned(),
                i.get("name")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn is_not_found(value: &Value) -> bool {
    value.get("code").and_then(Value::as_i64) == Some(NOT_FOUND_CODE)
        || value
            .get("msg")
            .and_then(Value::as_str)
            .is_some_and(|m| m.contains("数据不存在"))
}

fn refusal(value: &Value, status: StatusCode) -> ConnectorError {
    let message = value
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or("refused");
    let kind = if status == StatusCode::UNAUTHORIZED {
        ErrorKind::Auth
    } else {
        ErrorKind::Validation
    };
    ConnectorError::new(kind, format!("HTTP {status}: {message}"))
}

/// Errors inside an HTTP 200: a body with a numeric `code` and a `msg` and nothing an
/// answer carries. The company-wide and per-API rate codes (8303, 8302) are waited out.
#[derive(Debug, Default)]
pub struct Replies;

impl ReplyCheck for Replies {
    fn check(&self, reply: &Response) -> Result<(), ConnectorError> {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(reply.bytes()) else {
            return Ok(());
        };
        let (Some(code), Some(msg)) = (body.get("code").and_then(Value::as_i64), body.get("msg"))
        else {
            return Ok(());
        };
        if body.contains_key("data") || body.contains_key("status") {
            return Ok(());
        }
        let kind = match code {
            8302 | 8303 => ErrorKind::RateLimited { retry_after: None },
            1004 => ErrorKind::Auth,
            _ => ErrorKind::Validation,
        };
        Err(ConnectorError::new(
            kind,
            format!("code {code}: {}", msg.as_str().unwrap_or_default()),
        ))
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
