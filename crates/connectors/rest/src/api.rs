//! The requests of the `rest` connector: one list page, one record, one write, with replies
//! decoded by the object's format and refusals carrying the API's own message.

use ferry_kit::http::{
    Call, HeaderValue, HttpClient, ListPage, Lister, PagePos, Paging, StatusCode,
};
use ferry_model::{ConnectorError, ErrorKind};
use minijinja::Value as Ctx;
use serde_json::Value;

use crate::config::Format;
use crate::object::{Endpoint, List, Object, Records};
use crate::xml::{self, Namespaces};

/// Statuses a write reads the body of to report the API's own message.
const REFUSALS: [(StatusCode, ErrorKind); 4] = [
    (StatusCode::BAD_REQUEST, ErrorKind::Validation),
    (StatusCode::CONFLICT, ErrorKind::Conflict),
    (StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::Validation),
    // SOAP services answer a fault with 500: read it, then decide (a `Client` fault is the
    // data's; a `Server` fault is transient).
    (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Retryable),
];

/// One configured API.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: HttpClient,
    pub namespaces: Namespaces,
    /// Where a refusal's message is in an error reply.
    pub error_message: Option<String>,
}

/// What a list page is asked for with: where it starts, how many, and since when.
#[derive(Debug, Clone, Copy)]
pub struct PageAsk<'a> {
    pub at: Option<&'a PagePos>,
    pub size: usize,
    pub since: Option<&'a str>,
}

impl Api {
    /// One page of the object's list.
    pub async fn list(
        &self,
        object: &Object,
        ask: PageAsk<'_>,
    ) -> Result<ListPage, ConnectorError> {
        let list = &object.list;
        match (&list.records, &list.body) {
            (Records::Json(_), None) if list.paging.is_none() => self.unpaged(object, ask).await,
            (Records::Json(records), None) => {
                let mut call = list_call(list);
                if let (Some(since), Some(s)) = (ask.since, &object.since) {
                    call = call.query(s.param.clone(), since);
                }
                let paging = list.paging.clone().unwrap_or_else(Paging::offset_limit);
                let mut lister = Lister::new(call, paging, records.clone()).page_size(ask.size);
                if let Some(total) = &list.total {
                    lister = lister.total(total.clone());
                }
                lister.page(&self.http, ask.at).await
            }
            _ => self.body_paged(object, ask).await,
        }
    }

    /// A list that returns everything in one reply.
    async fn unpaged(&self, object: &Object, ask: PageAsk<'_>) -> Result<ListPage, ConnectorError> {
        let mut call = list_call(&object.list);
        if let (Some(since), Some(s)) = (ask.since, &object.since) {
            call = call.query(s.param.clone(), since);
        }
        let response = self.http.send(call).await?;
        let items = self.records_of(&object.list.records, &response)?;
        Ok(ListPage { items, next: None })
    }

    /// A list paged by page number or offset, where the paging goes in the request body (a
    /// SOAP operation's parameters) or in the query.
    async fn body_paged(
        &self,
        object: &Object,
        ask: PageAsk<'_>,
    ) -> Result<ListPage, ConnectorError> {
        let list = &object.list;
        let (page, offset) = match (&list.paging, ask.at) {
            (Some(Paging::Page { first, .. }), None) => (*first, 0),
            (Some(Paging::Page { first, .. }), Some(PagePos::Page(n))) => {
                (*n, (n - first.min(n)) * ask.size as u64)
            }
            (Some(Paging::Offset { .. }) | None, None) => (1, 0),
            (Some(Paging::Offset { .. }), Some(PagePos::Offset(n))) => (1, *n),
            _ => {
                return Err(ConnectorError::fatal(format!(
                    "{}: a saved list position does not match the list's paging; reset the flow's cursor",
                    self.http.system()
                )));
            }
        };
        let mut call = list_call(list);
        match &list.body {
            Some(template) => {
                let vars =
                    minijinja::context! { page, offset, page_size => ask.size, since => ask.since };
                let body = template.render(&vars).map_err(|m| {
                    ConnectorError::fatal(format!("{} list_body: {m}", object.name))
                })?;
                call = call.body(body.into_bytes(), content_type(list.format));
            }
            None => {
                call = match &list.paging {
                    Some(Paging::Page { page: p, size, .. }) => {
                        call.query(p.clone(), page).query(size.clone(), ask.size)
                    }
                    Some(Paging::Offset {
                        offset: o, limit, ..
                    }) => call.query(o.clone(), offset).query(limit.clone(), ask.size),
                    _ => call,
                };
                if let (Some(since), Some(s)) = (ask.since, &object.since) {
                    call = call.query(s.param.clone(), since);
                }
            }
        }
        let response = self.http.send(call).await?;
        let items = self.records_of(&list.records, &response)?;
        let more = match &list.more {
            Some(more) => xml::truth(&response.text(), more, &self.namespaces)
                .map_err(|m| self.bad_reply(&response, &m))?,
            None => !items.is_empty() && items.len() >= ask.size,
        };
        let next = match (&list.paging, more) {
            (Some(Paging::Page { .. }), true) => Some(PagePos::Page(page + 1)),
            (Some(Paging::Offset { .. }), true) => {
                Some(PagePos::Offset(offset + items.len() as u64))
            }
            _ => None,
        };
        Ok(ListPage { items, next })
    }

    /// The records the list returns filtered by `param=key` (the business key lookup).
    pub async fn find(
        &self,
        object: &Object,
        param: &str,
        key: &str,
    ) -> Result<Vec<Value>, ConnectorError> {
        let call = list_call(&object.list).query(param.to_owned(), key);
        let response = self.http.send(call).await?;
        self.records_of(&object.list.records, &response)
    }

    /// One record by id; `None` when the API answers 404 or 410.
    pub async fn get(&self, object: &Object, id: &str) -> Result<Option<Value>, ConnectorError> {
        let path = object
            .read
            .render(&minijinja::context! { id })
            .map_err(|m| ConnectorError::fatal(format!("{} read: {m}", object.name)))?;
        let call = Call::get(path)
            .accept(StatusCode::NOT_FOUND)
            .accept(StatusCode::GONE);
        let response = self.http.send(call).await?;
        if !response.status().is_success() {
            return Ok(None);
        }
        match object.list.format {
            Format::Json => response.json().map(Some),
            Format::Xml => {
                let found = xml::records(&response.text(), &object_xpath(object), &self.namespaces)
                    .map_err(|m| self.bad_reply(&response, &m))?;
                Ok(found.into_iter().next())
            }
        }
    }

    /// Sends one write and returns its reply (JSON, or XML as text), or the API's refusal.
    /// 404 is returned as `NotFound`, which callers may expect.
    pub async fn write(
        &self,
        object: &Object,
        endpoint: &Endpoint,
        vars: &Ctx,
        record: &Value,
    ) -> Result<Reply, ConnectorError> {
        let what = |m: String| ConnectorError::fatal(format!("{}: {m}", object.name));
        let path = endpoint.path.render(vars).map_err(what)?;
        let mut call = Call::new(endpoint.method.clone(), path);
        for (status, _) in REFUSALS {
            call = call.accept(status);
        }
        call = match &endpoint.body {
            Some(template) => {
                let body = template.render(vars).map_err(what)?;
                call.body(body.into_bytes(), content_type(object.list.format))
            }
            None if endpoint.method == ferry_kit::http::Method::DELETE => call,
            None => call.json(record),
        };
        let response = self.http.send(call).await?;
        let status = response.status();
        if let Some((_, kind)) = REFUSALS.iter().find(|(s, _)| *s == status) {
            let message = self.refusal_message(object.list.format, &response);
            let kind = match (status, object.list.format) {
                (StatusCode::INTERNAL_SERVER_ERROR, Format::Xml)
                    if is_client_fault(&response.text()) =>
                {
                    ErrorKind::Validation
                }
                _ => *kind,
            };
            return Err(ConnectorError::new(
                kind,
                self.http.scrub(&format!(
                    "{}: HTTP {}: {message}",
                    response.what(),
                    status.as_u16()
                )),
            ));
        }
        Ok(Reply {
            format: object.list.format,
            text: response.text(),
        })
    }

    /// The records of a list reply.
    fn records_of(
        &self,
        records: &Records,
        response: &ferry_kit::http::Response,
    ) -> Result<Vec<Value>, ConnectorError> {
        match records {
            Records::Json(path) => {
                let body: Value = if response.bytes().is_empty() {
                    Value::Null
                } else {
                    response.json()?
                };
                path.records(&body).ok_or_else(|| {
                    let says = ferry_kit::http::server_message(response.bytes());
                    self.bad_reply(
                        response,
                        &format!("no list at `{path}`: {}", self.http.scrub(&says)),
                    )
                })
            }
            Records::Xml(xpath) => xml::records(&response.text(), xpath, &self.namespaces)
                .map_err(|m| self.bad_reply(response, &m)),
        }
    }

    /// The API's message in a refusal: at `error_message` if set, else where APIs usually
    /// put it.
    fn refusal_message(&self, format: Format, response: &ferry_kit::http::Response) -> String {
        let text = response.text();
        let configured = self.error_message.as_deref().and_then(|at| match format {
            Format::Json => serde_json::from_str::<Value>(&text).ok().and_then(|v| {
                v.pointer(at).map(|m| match m {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            }),
            Format::Xml => xml::text(&text, at, &self.namespaces).ok().flatten(),
        });
        configured.unwrap_or_else(|| match format {
            Format::Xml => xml::text(&text, "//*[local-name()='faultstring']", &self.namespaces)
                .ok()
                .flatten()
                .unwrap_or_else(|| ferry_kit::http::server_message(response.bytes())),
            Format::Json => ferry_kit::http::server_message(response.bytes()),
        })
    }

    fn bad_reply(&self, response: &ferry_kit::http::Response, problem: &str) -> ConnectorError {
        ConnectorError::fatal(format!("{}: unexpected reply: {problem}", response.what()))
    }
}

/// A write's reply.
#[derive(Debug, Clone)]
pub struct Reply {
    format: Format,
    text: String,
}

impl Reply {
    /// The written record's id, from `written_id` (a JSON pointer or an XPath), else the id
    /// field of the record at `written` (default: the reply).
    pub fn id(&self, object: &Object, namespaces: &Namespaces) -> Option<String> {
        match self.format {
            Format::Json => {
                let body: Value = serde_json::from_str(&self.text).ok()?;
                if let Some(pointer) = &object.written_id {
                    return ferry_kit::sink::key_text(body.pointer(pointer)?);
                }
                let record = match &object.written {
                    Some(pointer) => body.pointer(pointer)?,
                    None => &body,
                };
                ferry_kit::sink::key_text(record.get(&object.id)?)
            }
            Format::Xml => {
                let at = object
                    .written_id
                    .clone()
                    .unwrap_or_else(|| format!("//*[local-name()='{}']", object.id));
                xml::text(&self.text, &at, namespaces).ok().flatten()
            }
        }
    }
}

fn list_call(list: &List) -> Call {
    let mut call = Call::new(list.method.clone(), list.path.clone());
    for (name, value) in &list.query {
        call = call.query(name.clone(), value);
    }
    if list.method == ferry_kit::http::Method::POST {
        // A list request changes nothing, whatever its method.
        call = call.safe_to_repeat();
    }
    call
}

fn content_type(format: Format) -> HeaderValue {
    HeaderValue::from_static(match format {
        Format::Json => "application/json",
        Format::Xml => "text/xml; charset=utf-8",
    })
}

/// A SOAP 1.1 `Client` fault (`soap:Client`) or SOAP 1.2 `Sender`: the request's fault.
fn is_client_fault(text: &str) -> bool {
    xml::text(
        text,
        "//*[local-name()='faultcode' or local-name()='Value']",
        &Namespaces::new(),
    )
    .ok()
    .flatten()
    .is_some_and(|code| code.ends_with("Client") || code.ends_with("Sender"))
}

/// The XPath of the record in a single-record XML reply: the list's record path.
fn object_xpath(object: &Object) -> String {
    match &object.list.records {
        Records::Xml(x) => x.clone(),
        Records::Json(_) => String::new(),
    }
}
