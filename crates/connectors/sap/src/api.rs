//! The OData v2 calls the connector makes, on the system's one HTTP client: reads (JSON,
//! `__next` links followed), the CSRF token and its session cookie for every modifying
//! request (fetched on first use, fetched again once after `403` with `x-csrf-token:
//! Required`), single writes, `$batch` change sets, and SAP Gateway's error body read into
//! the record's refusal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, SecondsFormat};
use ferry_kit::http::multipart::{self, PartRequest};
use ferry_kit::http::{Call, HeaderName, HeaderValue, HttpClient, Response, StatusCode};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value};

use crate::schema::Schema;

/// Where the OData v2 services live under the host.
pub const ODATA_PREFIX: &str = "sap/opu/odata/sap/";

/// One system's API.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: HttpClient,
    /// `sap-client`, if configured.
    pub client: Option<String>,
    /// Records per `$batch`.
    pub batch_size: usize,
    csrf: Arc<Mutex<Option<Csrf>>>,
    /// Each service's `$metadata`, read once (`None`: not readable, values go untyped).
    schemas: Arc<Mutex<HashMap<String, Option<Arc<Schema>>>>>,
}

/// A CSRF token and the session cookies it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csrf {
    pub token: String,
    pub cookies: String,
}

/// One modifying request, alone or inside a change set: path relative to the service root.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: String,
    pub if_match: Option<String>,
    pub body: Option<Value>,
}

/// An answer to one request (or to one operation inside `$batch`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    fn of(response: &Response) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: response.text(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `d` of a JSON body.
    pub fn entity(&self) -> Option<Map<String, Value>> {
        let v: Value = serde_json::from_str(&self.body).ok()?;
        v.get("d")?.as_object().cloned()
    }
}

/// Statuses a write reads itself rather than letting the client classify them.
const WRITE_ANSWERS: [u16; 8] = [400, 403, 404, 409, 412, 422, 428, 500];

fn header(name: &'static str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_static(name),
        HeaderValue::from_str(value).ok()?,
    ))
}

impl Api {
    pub fn new(http: HttpClient, client: Option<String>, batch_size: usize) -> Self {
        Self {
            http,
            client,
            batch_size,
            csrf: Arc::default(),
            schemas: Arc::default(),
        }
    }

    /// The `$metadata` document (EDMX) of `service`.
    pub async fn metadata(&self, service: &str) -> Result<String, ConnectorError> {
        let mut call = Call::get(Self::path(service, "$metadata")).header(
            HeaderName::from_static("accept"),
            HeaderValue::from_static("application/xml"),
        );
        if let Some(c) = &self.client {
            call = call.query("sap-client", c);
        }
        Ok(self.http.send(call).await?.text())
    }

    /// What `service`'s `$metadata` says about its values, read on first use. A service
    /// whose document the communication user may not read (403, 404) is typed by the
    /// untyped rules, with a warning once; any other failure is the caller's error.
    pub async fn schema(&self, service: &str) -> Result<Option<Arc<Schema>>, ConnectorError> {
        if let Some(known) = self
            .schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
        {
            return Ok(known.clone());
        }
        let unreadable = |error: &dyn std::fmt::Display| {
            tracing::warn!(service, error = %error, "SAP's $metadata of the service is not readable: \
                values are read and written untyped (days as midnight UTC, numbers as text).");
            None
        };
        let schema = match self.metadata(service).await {
            Ok(edmx) => match Schema::parse(&edmx) {
                Ok(schema) => Some(Arc::new(schema)),
                Err(e) => unreadable(&e),
            },
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Auth) => unreadable(&e),
            Err(e) => return Err(e),
        };
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service.to_owned(), schema.clone());
        Ok(schema)
    }

    /// `sap/opu/odata/sap/<service>/<resource>`.
    pub fn path(service: &str, resource: &str) -> String {
        format!("{ODATA_PREFIX}{service}/{resource}")
    }

    fn call(&self, mut call: Call, relative: bool) -> Call {
        call = call.header(
            HeaderName::from_static("accept"),
            HeaderValue::from_static("application/json"),
        );
        if relative && let Some(c) = &self.client {
            call = call.query("sap-client", c);
        }
        call
    }

    /// A GET of `target` (a path, or an absolute `__next` link) with `query`: the JSON
    /// answer. A refusal of the query (400: an unknown property, a bad `$filter`) is
    /// `Fatal` with SAP's message: the flow's configuration is wrong, not a record.
    pub async fn get(
        &self,
        target: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ConnectorError> {
        let relative = !target.starts_with("http");
        let mut call = self.call(Call::get(target), relative);
        for (k, v) in query {
            call = call.query(*k, v);
        }
        let call = call
            .accept(StatusCode::BAD_REQUEST)
            .classify(StatusCode::FORBIDDEN, ErrorKind::Auth);
        let response = self.http.send(call).await?;
        if response.status() == StatusCode::BAD_REQUEST {
            let e = sap_error(&Answer::of(&response));
            return Err(ConnectorError::fatal(format!(
                "{}: SAP refused the query: {}",
                response.what(),
                self.http.scrub(e.message())
            )));
        }
        response.json()
    }

    /// A GET that answers `None` for 404 (a record gone).
    pub async fn get_one(&self, target: &str) -> Result<Option<Answer>, ConnectorError> {
        let call = self
            .call(Call::get(target), true)
            .accept(StatusCode::NOT_FOUND);
        let response = self.http.send(call).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(Answer::of(&response)))
    }

    /// The CSRF token, fetched with `x-csrf-token: Fetch` on the service root if none is
    /// held (or `stale` is the one held).
    pub async fn csrf(&self, service: &str, stale: Option<&Csrf>) -> Result<Csrf, ConnectorError> {
        {
            let held = self.csrf.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = held.as_ref()
                && Some(c) != stale
            {
                return Ok(c.clone());
            }
        }
        let call = self.call(Call::get(Self::path(service, "")), true).header(
            HeaderName::from_static("x-csrf-token"),
            HeaderValue::from_static("Fetch"),
        );
        let response = self.http.send(call).await?;
        let token = response
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("required"))
            .ok_or_else(|| {
                ConnectorError::fatal(format!(
                    "{}: no x-csrf-token in the answer to `x-csrf-token: Fetch`",
                    response.what()
                ))
            })?
            .to_owned();
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|c| c.split(';').next())
            .map(|c| c.trim().to_owned())
            .collect();
        let fresh = Csrf {
            token,
            cookies: cookies.join("; "),
        };
        *self.csrf.lock().unwrap_or_else(PoisonError::into_inner) = Some(fresh.clone());
        Ok(fresh)
    }

    /// Sends a modifying request built by `build` with the CSRF token and its cookies;
    /// after `403` with `x-csrf-token: Required` the token is fetched again and the request
    /// sent once more. Statuses of [`WRITE_ANSWERS`] come back as answers.
    async fn modify(
        &self,
        service: &str,
        build: impl Fn() -> Call,
    ) -> Result<Answer, ConnectorError> {
        let mut csrf = self.csrf(service, None).await?;
        for attempt in 0..2 {
            let mut call = build();
            for (name, value) in [
                header("x-csrf-token", &csrf.token),
                header("cookie", &csrf.cookies),
            ]
            .into_iter()
            .flatten()
            {
                call = call.header(name, value);
            }
            for s in WRITE_ANSWERS {
                call = call.accept(StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST));
            }
            let response = self.http.send(call).await?;
            let answer = Answer::of(&response);
            let required = answer
                .header("x-csrf-token")
                .is_some_and(|v| v.eq_ignore_ascii_case("required"));
            if answer.status == 403 && required && attempt == 0 {
                tracing::debug!(request = %response.what(), "CSRF token refused; fetching a new one.");
                csrf = self.csrf(service, Some(&csrf)).await?;
                continue;
            }
            if answer.status == 403 {
                return Err(ConnectorError::new(
                    ErrorKind::Auth,
                    format!(
                        "{}: HTTP 403: {}",
                        response.what(),
                        self.http.scrub(sap_error(&answer).message())
                    ),
                ));
            }
            return Ok(answer);
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// One operation sent on its own.
    pub async fn send(&self, service: &str, op: &Operation) -> Result<Answer, ConnectorError> {
        let target = Self::path(service, &op.path);
        self.modify(service, || {
            let method = ferry_kit::http::Method::from_bytes(op.method.as_bytes())
                .unwrap_or(ferry_kit::http::Method::POST);
            let mut call = self.call(Call::new(method, target.clone()), true);
            if let Some(body) = &op.body {
                call = call.json(body);
            }
            if let Some((n, v)) = op.if_match.as_deref().and_then(|e| header("if-match", e)) {
                call = call.header(n, v);
            }
            call
        })
        .await
    }

    /// Operations in one `$batch`, each in its own change set (so one refusal rolls back
    /// only its own record): one answer per operation, in order. A change set that failed
    /// answers with its one error.
    pub async fn batch(
        &self,
        service: &str,
        ops: &[Operation],
    ) -> Result<Vec<Answer>, ConnectorError> {
        let boundary = multipart::unique_boundary("batch");
        let body = batch_body(&boundary, ops);
        let target = Self::path(service, "$batch");
        let content_type = format!("multipart/mixed; boundary={boundary}");
        let answer = self
            .modify(service, || {
                self.call(Call::post(target.clone()), true)
                    .body(
                        body.clone().into_bytes(),
                        HeaderValue::from_str(&content_type)
                            .unwrap_or(HeaderValue::from_static("multipart/mixed")),
                    )
                    .label("$batch")
            })
            .await?;
        if !answer.ok() {
            let e = sap_error(&answer);
            return Err(ConnectorError::new(
                e.kind(),
                format!("{service} $batch: {}", self.http.scrub(e.message())),
            ));
        }
        let answers = parse_batch(&answer)?;
        if answers.len() != ops.len() {
            return Err(ConnectorError::fatal(format!(
                "{service} $batch: {} change sets sent, {} answered",
                ops.len(),
                answers.len()
            )));
        }
        Ok(answers)
    }
}

/// The multipart body of a `$batch`: one change set per operation (the kit's).
pub fn batch_body(boundary: &str, ops: &[Operation]) -> String {
    let requests: Vec<PartRequest> = ops
        .iter()
        .map(|op| {
            let mut headers = vec![("Accept".to_owned(), "application/json".to_owned())];
            if let Some(tag) = &op.if_match {
                headers.push(("If-Match".to_owned(), tag.clone()));
            }
            PartRequest {
                method: op.method.to_owned(),
                path: op.path.clone(),
                headers,
                body: op.body.as_ref().map(Value::to_string),
            }
        })
        .collect();
    multipart::change_sets(boundary, &requests)
}

/// One answer per change set of a `$batch` reply, in order: its (only) operation's
/// answer, or the error that rolled it back.
pub fn parse_batch(reply: &Answer) -> Result<Vec<Answer>, ConnectorError> {
    let content_type = reply.header("content-type").unwrap_or("");
    let sets = multipart::answers(content_type, &reply.body).map_err(|why| {
        ConnectorError::fatal(format!("the $batch answer is not readable: {why}"))
    })?;
    Ok(sets
        .into_iter()
        .filter_map(|set| set.into_iter().next())
        .map(|a| Answer {
            status: a.status,
            headers: a.headers,
            body: a.body,
        })
        .collect())
}

/// SAP Gateway's error body as an error: `error.code`, `error.message.value` (or a plain
/// `message`), and the other messages of `innererror.errordetails`; the kind from the
/// status (400, 404, 409, 422: the record's refusal; 5xx: retryable).
pub fn sap_error(answer: &Answer) -> ConnectorError {
    let kind = match answer.status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited { retry_after: None },
        500..=599 => ErrorKind::Retryable,
        _ => ErrorKind::Validation,
    };
    let body: Option<Value> = serde_json::from_str(&answer.body).ok();
    let error = body.as_ref().and_then(|b| b.get("error"));
    let Some(error) = error else {
        let text = answer.body.split_whitespace().collect::<Vec<_>>().join(" ");
        return ConnectorError::new(kind, format!("HTTP {}: {}", answer.status, clip(&text)));
    };
    let code = error.get("code").and_then(Value::as_str).unwrap_or("");
    let message = match error.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(m) => m
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        None => String::new(),
    };
    let mut text = if code.is_empty() {
        message.clone()
    } else {
        format!("{message} ({code})")
    };
    let details = error
        .pointer("/innererror/errordetails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for d in details {
        let m = d.get("message").and_then(Value::as_str).unwrap_or("");
        let severity = d.get("severity").and_then(Value::as_str).unwrap_or("error");
        if !m.is_empty() && m != message && severity == "error" {
            let c = d.get("code").and_then(Value::as_str).unwrap_or("");
            text.push_str(&format!("; {m} ({c})"));
        }
    }
    ConnectorError::new(kind, format!("HTTP {}: {}", answer.status, clip(&text)))
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(500) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// An OData v2 value as Ferry reads it: `/Date(ms)/` and `/Date(ms+0000)/` as RFC 3339
/// UTC, expanded navigations as arrays (`{"results": […]}`) or objects, `__metadata` and
/// unexpanded (`__deferred`) navigations left out. Decimals stay the strings SAP sends.
pub fn plain(value: Value) -> Option<Value> {
    match value {
        Value::String(s) => Some(Value::String(match date_millis(&s) {
            Some(ms) => rfc3339(ms).unwrap_or(s),
            None => s,
        })),
        Value::Object(mut map) => {
            if map.contains_key("__deferred") {
                return None;
            }
            if let Some(Value::Array(results)) = map.remove("results") {
                return Some(Value::Array(
                    results.into_iter().filter_map(plain).collect(),
                ));
            }
            map.remove("__metadata");
            Some(Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| plain(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(plain).collect())),
        other => Some(other),
    }
}

/// Milliseconds of `/Date(ms)/` or `/Date(ms+0000)/` (the offset says how the time was
/// entered; the milliseconds are UTC).
pub fn date_millis(text: &str) -> Option<i64> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let cut = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner.len(), |(i, _)| i);
    inner[..cut].parse().ok()
}

/// Epoch milliseconds as RFC 3339 UTC (`2024-05-01T08:00:00Z`).
pub fn rfc3339(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Seconds since midnight of an `Edm.Time` value (`PT10H30M00S`).
pub fn time_seconds(text: &str) -> Option<i64> {
    let rest = text.strip_prefix("PT")?;
    let (h, rest) = rest.split_once('H').unwrap_or(("0", rest));
    let (m, rest) = rest.split_once('M').unwrap_or(("0", rest));
    let s = rest
        .strip_suffix('S')
        .unwrap_or(if rest.is_empty() { "0" } else { rest });
    let s: f64 = s.parse().ok()?;
    Some(h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60 + s as i64)
}

/// A text literal: single-quoted, quotes doubled.
pub fn text_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The key predicate of an entity: `('4000001')`, or `(A='1',B='2')` for a composite key.
pub fn predicate(key: &[String], values: &[String]) -> String {
    if let [one] = values {
        return format!("({})", text_literal(one));
    }
    let parts: Vec<String> = key
        .iter()
        .zip(values)
        .map(|(k, v)| format!("{k}={}", text_literal(v)))
        .collect();
    format!("({})", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn odata_values_read_as_plain_json() {
        let v = plain(json!({"__metadata": {"etag": "x"}, "SalesOrder": "1",
            "LastChangeDateTime": "/Date(1714550400000+0000)/", "CreationDate": "/Date(1714521600000)/",
            "TotalNetAmount": "12.50", "to_Partner": {"__deferred": {"uri": "u"}},
            "to_Item": {"results": [{"__metadata": {}, "NetAmount": "1.00"}]}}))
        .unwrap();
        assert_eq!(
            v,
            json!({"SalesOrder": "1", "LastChangeDateTime": "2024-05-01T08:00:00Z",
                   "CreationDate": "2024-05-01T00:00:00Z", "TotalNetAmount": "12.50",
                   "to_Item": [{"NetAmount": "1.00"}]})
        );
        assert_eq!(date_millis("/Date(-1000)/"), Some(-1000));
        assert_eq!(time_seconds("PT15H36M52S"), Some(56212));
        assert_eq!(
            predicate(&["A".into(), "B".into()], &["1".into(), "O'N".into()]),
            "(A='1',B='O''N')"
        );
    }

    #[test]
    fn a_batch_answer_gives_one_answer_per_change_set() {
        let body = "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_a\r\n\r\n--changesetresponse_a\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{\"d\":{\"SalesOrder\":\"7\"}}\r\n--changesetresponse_a--\r\n--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"V1/384\",\"message\":{\"lang\":\"en\",\"value\":\"Sold-to party 1 not maintained\"}}}\r\n--batchresponse_1--\r\n";
        let reply = Answer {
            status: 202,
            headers: vec![(
                "content-type".into(),
                "multipart/mixed; boundary=batchresponse_1".into(),
            )],
            body: body.into(),
        };
        let answers = parse_batch(&reply).unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].status, 201);
        assert_eq!(answers[0].entity().unwrap()["SalesOrder"], "7");
        let e = sap_error(&answers[1]);
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(
            e.message()
                .contains("Sold-to party 1 not maintained (V1/384)"),
            "{e}"
        );
    }
}
