//! NetSuite's REST web services as the connector uses them: SuiteQL queries (one page, or
//! every page) and record upserts by external id. Errors come from the kit's client, with
//! NetSuite's `o:errorDetails` as the message and `CONCURRENCY_LIMIT_EXCEEDED` retried
//! whatever status it comes with.

use std::sync::Arc;

use ferry_kit::http::{
    Call, ErrorCodes, HeaderValue, HttpClient, Method, StatusCode, percent_encode,
};
use ferry_model::ConnectorError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// SuiteQL's path under the host.
pub const SUITEQL: &str = "services/rest/query/v1/suiteql";
/// The record API's path under the host.
pub const RECORDS: &str = "services/rest/record/v1/";
/// Most rows one SuiteQL page holds.
pub const MAX_LIMIT: usize = 1000;
/// Most pages one look-up reads (100,000 rows: SuiteQL's cap on one query).
const MAX_PAGES: usize = 100;
/// Values in one `IN (…)` list.
pub const IN_CHUNK: usize = 500;

/// One page of a SuiteQL answer.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    items: Vec<Map<String, Value>>,
    #[serde(default, rename = "hasMore")]
    has_more: bool,
}

/// The account's REST web services.
#[derive(Debug, Clone)]
pub struct Api {
    http: HttpClient,
}

impl Api {
    /// Classifies refusals by NetSuite's error codes: a concurrency refusal is retried as
    /// a 429 even when it comes as a 400, a login refusal is an `auth` error.
    pub fn new(http: HttpClient) -> Self {
        let codes = ErrorCodes {
            list: "/o:errorDetails".into(),
            code: "o:errorCode".into(),
            rate_codes: vec!["CONCURRENCY_LIMIT_EXCEEDED".into()],
            auth_codes: vec!["INVALID_LOGIN_ATTEMPT".into()],
        };
        Self {
            http: http.with_reply_check(Arc::new(codes)),
        }
    }

    /// One page of `q`: its rows and whether more follow.
    pub async fn query(
        &self,
        q: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Map<String, Value>>, bool), ConnectorError> {
        let call = Call::post(SUITEQL)
            .query("limit", limit.clamp(1, MAX_LIMIT))
            .query("offset", offset)
            .header(
                "prefer".try_into().expect("a header name"),
                HeaderValue::from_static("transient"),
            )
            .json(&json!({ "q": q }))
            // A query changes nothing: sending it again after a timeout is safe.
            .safe_to_repeat()
            .label("SuiteQL");
        let answer: Answer = self.http.json(call).await?;
        let rows = answer
            .items
            .into_iter()
            .map(|mut row| {
                row.remove("links");
                row
            })
            .collect();
        Ok((rows, answer.has_more))
    }

    /// Every row of `q`, page after page.
    pub async fn query_all(&self, q: &str) -> Result<Vec<Map<String, Value>>, ConnectorError> {
        let mut out = Vec::new();
        for page in 0..MAX_PAGES {
            let (rows, more) = self.query(q, MAX_LIMIT, page * MAX_LIMIT).await?;
            out.extend(rows);
            if !more {
                return Ok(out);
            }
        }
        Err(ConnectorError::fatal(format!(
            "{}: a look-up returned more than {} rows: narrow it",
            self.http.system(),
            MAX_PAGES * MAX_LIMIT
        )))
    }

    /// `PUT record/v1/<record>/eid:<eid>`: creates or updates the record with external id
    /// `eid`; its internal id, from the `Location` of the 204. With `replace`, the sublist
    /// of that name is replaced rather than merged.
    pub async fn upsert(
        &self,
        record: &str,
        eid: &str,
        body: &Value,
        replace: Option<&str>,
    ) -> Result<String, ConnectorError> {
        let mut call = Call::new(
            Method::PUT,
            format!("{RECORDS}{record}/eid:{}", percent_encode(eid)),
        )
        .json(body)
        .label(format!("{record} eid:{eid}"));
        if let Some(sublist) = replace {
            call = call.query("replace", sublist);
        }
        located(&self.http.send(call).await?)
    }

    /// The internal id of the `record` with external id `eid`, if there is one.
    pub async fn find(&self, record: &str, eid: &str) -> Result<Option<String>, ConnectorError> {
        let call = Call::get(format!("{RECORDS}{record}/eid:{}", percent_encode(eid)))
            .accept(StatusCode::NOT_FOUND)
            .label(format!("{record} eid:{eid}"));
        let reply = self.http.send(call).await?;
        if reply.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let found: Value = reply.json()?;
        Ok(found.get("id").and_then(Value::as_str).map(str::to_owned))
    }

    /// `PATCH record/v1/<record>/<id>`: the fields of `body` changed.
    pub async fn patch(
        &self,
        record: &str,
        id: &str,
        body: &Value,
    ) -> Result<String, ConnectorError> {
        let call = Call::patch(format!("{RECORDS}{record}/{}", percent_encode(id)))
            .json(body)
            .label(format!("{record} {id}"));
        located(&self.http.send(call).await?)
    }

    /// `POST record/v1/salesOrder/eid:<order>/!transform/<record>`: a new record made from
    /// the sales order, with `body`'s fields; its internal id.
    pub async fn transform(
        &self,
        order: &str,
        record: &str,
        body: &Value,
    ) -> Result<String, ConnectorError> {
        let call = Call::post(format!(
            "{RECORDS}salesOrder/eid:{}/!transform/{record}",
            percent_encode(order)
        ))
        .json(body)
        .label(format!("salesOrder eid:{order} to {record}"));
        located(&self.http.send(call).await?)
    }
    /// `DELETE record/v1/<record>/<id>` (or `eid:<key>` without an id); a record already
    /// gone counts as deleted.
    pub async fn delete(
        &self,
        record: &str,
        id: Option<&str>,
        eid: &str,
    ) -> Result<(), ConnectorError> {
        let which = match id {
            Some(id) => percent_encode(id),
            None => format!("eid:{}", percent_encode(eid)),
        };
        let call = Call::delete(format!("{RECORDS}{record}/{which}"))
            .accept(StatusCode::NOT_FOUND)
            .label(format!("{record} eid:{eid}"));
        self.http.send(call).await.map(|_| ())
    }
}

/// The internal id a write's `204` names in `Location`.
fn located(reply: &ferry_kit::http::Response) -> Result<String, ConnectorError> {
    let location = reply
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let id = location.rsplit('/').next().unwrap_or_default();
    if reply.status() != StatusCode::NO_CONTENT || id.is_empty() {
        return Err(ConnectorError::fatal(format!(
            "{}: HTTP {} without the record's Location: not NetSuite's answer to a write",
            reply.what(),
            reply.status()
        )));
    }
    Ok(id.to_owned())
}

/// A SuiteQL text literal: `'O''Brien'`.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SuiteQL number literal from an id, or a text literal if it is not a number.
pub fn id_literal(id: &str) -> String {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
        id.to_owned()
    } else {
        literal(id)
    }
}

/// A row's text value.
pub fn text<'a>(row: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str)
}

/// `{value → row}` of `SELECT id, <column> FROM <table> WHERE <column> IN (values)`, in
/// chunks; `extra` are more columns to read.
pub async fn lookup(
    api: &Api,
    table: &str,
    column: &str,
    values: &[String],
    extra: &[&str],
) -> Result<Map<String, Value>, ConnectorError> {
    let mut out = Map::new();
    let mut columns = vec!["id", column];
    columns.extend(extra.iter().filter(|c| !["id", column].contains(c)));
    for chunk in values.chunks(IN_CHUNK) {
        let list: Vec<String> = chunk
            .iter()
            .map(|v| {
                if column == "id" || column == "item" || column == "transaction" {
                    id_literal(v)
                } else {
                    literal(v)
                }
            })
            .collect();
        let q = format!(
            "SELECT {} FROM {table} WHERE {column} IN ({}) ORDER BY id",
            columns.join(", "),
            list.join(", ")
        );
        for row in api.query_all(&q).await? {
            if let Some(key) = text(&row, column) {
                out.entry(key.to_owned())
                    .or_insert(Value::Object(row.clone()));
            }
        }
    }
    Ok(out)
}
