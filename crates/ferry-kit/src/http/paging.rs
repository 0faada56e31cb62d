//! Reading list endpoints page by page, in the five ways APIs page: offset/limit, page
//! number, a cursor token in the body, a next-page URL in the body, or an RFC 8288 `Link`
//! header. A [`PagePos`] is serializable so a source can keep it inside its own cursor and
//! read one page per [`Source::read`](crate::Source::read).

use ferry_model::ConnectorError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Call, HttpClient, RecordPath, Response};

/// How a list endpoint pages. Parameter names are the API's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// `?offset=N&limit=M`. The next page starts after the items read.
    Offset {
        /// Name of the offset parameter (`offset`).
        offset: String,
        /// Name of the page size parameter (`limit`).
        limit: String,
    },
    /// `?page=N&per_page=M`, pages numbered from `first` (usually 1).
    Page {
        /// Name of the page number parameter (`page`).
        page: String,
        /// Name of the page size parameter (`per_page`).
        size: String,
        /// The first page's number.
        first: u64,
    },
    /// The body holds an opaque token for the next page at a JSON pointer (`/next_cursor`),
    /// sent back as the parameter `param`; `null`, `""` or absent means this page is the last.
    Cursor {
        /// Name of the parameter the token is sent in (`cursor`).
        param: String,
        /// JSON pointer to the token in the body.
        pointer: String,
        /// Name of the page size parameter, if the API takes one.
        size: Option<String>,
    },
    /// The body holds the next page's URL (absolute, on the same origin, or a path) at a JSON
    /// pointer (`/next`); `null` or absent means this page is the last.
    NextUrl {
        /// JSON pointer to the next URL.
        pointer: String,
        /// Name of a page size parameter to put on the first request, if the API takes one
        /// (later pages keep whatever the next URL says).
        limit: Option<String>,
    },
    /// A `Link: <url>; rel="next"` header (RFC 8288) names the next page; no such link
    /// means this page is the last.
    Link {
        /// Name of a page size parameter to put on the first request, if the API takes one.
        size: Option<String>,
    },
}

impl Paging {
    /// `?offset=&limit=`.
    pub fn offset_limit() -> Self {
        Paging::Offset {
            offset: "offset".to_owned(),
            limit: "limit".to_owned(),
        }
    }
}

/// Where a list read stands: the position of the page to read next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagePos {
    /// The offset of the next item.
    Offset(u64),
    /// The URL of the next page.
    Url(String),
    /// The number of the next page.
    Page(u64),
    /// The token of the next page.
    Token(String),
}

/// One page of items.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// The items, as the API returned them.
    pub items: Vec<Value>,
    /// The next page, or `None` when this was the last.
    pub next: Option<PagePos>,
}

/// A paged list: the first page's request, how it pages, and where the items are in a body.
///
/// With offset and page-number paging a page shorter than the page size is the last, so the
/// page size must not exceed what the API serves per page; when the body says how many
/// items there are in all ([`Lister::total`]), that decides instead.
#[derive(Debug, Clone)]
pub struct Lister {
    call: Call,
    paging: Paging,
    records: RecordPath,
    total: Option<String>,
    page_size: usize,
}

impl Lister {
    /// Lists with `call` (the request of the first page, without paging parameters), paging
    /// as `paging`, the items being at `records` in each body (a JSON pointer such as
    /// `/results`, `""` for a body that is the array, or a [`RecordPath`] query). Page size
    /// 100.
    pub fn new(call: Call, paging: Paging, records: impl Into<RecordPath>) -> Self {
        Self {
            call,
            paging,
            records: records.into(),
            total: None,
            page_size: 100,
        }
    }

    /// Items per page (at least 1).
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// The JSON pointer to the number of items in all (`/total`), for offset and page-number
    /// paging.
    #[must_use]
    pub fn total(mut self, pointer: impl Into<String>) -> Self {
        self.total = Some(pointer.into());
        self
    }

    /// The page at `at` (`None`: the first).
    pub async fn page(
        &self,
        http: &HttpClient,
        at: Option<&PagePos>,
    ) -> Result<ListPage, ConnectorError> {
        let call = self.request(http, at)?;
        let response = http.send(call).await?;
        let body: Value = if response.bytes().is_empty() {
            Value::Null
        } else {
            response.json()?
        };
        let items = self.records.records(&body).ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: the reply has no list at `{}`: {}",
                response.what(),
                self.records,
                http.scrub(&super::server_message(response.bytes()))
            ))
        })?;
        let next = self.next(at, &items, &body, &response);
        if next.is_some() && next.as_ref() == at {
            return Err(ConnectorError::fatal(format!(
                "{}: the next page is this page again",
                response.what()
            )));
        }
        Ok(ListPage { items, next })
    }

    /// Every item of every page, in order.
    pub async fn all(&self, http: &HttpClient) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        let mut at = None;
        loop {
            let page = self.page(http, at.as_ref()).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => at = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// The request of the page at `at`.
    fn request(&self, http: &HttpClient, at: Option<&PagePos>) -> Result<Call, ConnectorError> {
        let call = self.call.clone();
        let size = self.page_size;
        let sized = |call: Call, name: &Option<String>| match name {
            Some(name) => call.query(name.clone(), size),
            None => call,
        };
        Ok(match (&self.paging, at) {
            (Paging::Offset { offset, limit }, None | Some(PagePos::Offset(_))) => {
                let start = match at {
                    Some(PagePos::Offset(n)) => *n,
                    _ => 0,
                };
                call.query(offset.clone(), start).query(limit.clone(), size)
            }
            (
                Paging::Page {
                    page,
                    size: name,
                    first,
                },
                None | Some(PagePos::Page(_)),
            ) => {
                let n = match at {
                    Some(PagePos::Page(n)) => *n,
                    _ => *first,
                };
                call.query(page.clone(), n).query(name.clone(), size)
            }
            (Paging::Cursor { size: name, .. }, None) => sized(call, name),
            (
                Paging::Cursor {
                    param, size: name, ..
                },
                Some(PagePos::Token(token)),
            ) => sized(call, name).query(param.clone(), token),
            (Paging::NextUrl { limit, .. }, None) => sized(call, limit),
            (Paging::Link { size: name }, None) => sized(call, name),
            (Paging::NextUrl { .. } | Paging::Link { .. }, Some(PagePos::Url(url))) => {
                call.retarget(url)
            }
            (_, Some(_)) => return Err(self.wrong_position(http)),
        })
    }

    /// The position after this page, or `None` when it was the last.
    fn next(
        &self,
        at: Option<&PagePos>,
        items: &[Value],
        body: &Value,
        response: &Response,
    ) -> Option<PagePos> {
        let read = items.len() as u64;
        let more = |seen_before: u64| match self.total.as_deref().and_then(|p| body.pointer(p)) {
            Some(total) => total.as_u64().is_some_and(|t| seen_before + read < t) && read > 0,
            None => items.len() >= self.page_size,
        };
        let text_at = |pointer: &str| match body.pointer(pointer) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match &self.paging {
            Paging::Offset { .. } => {
                let start = match at {
                    Some(PagePos::Offset(n)) => *n,
                    _ => 0,
                };
                more(start).then(|| PagePos::Offset(start + read))
            }
            Paging::Page { first, .. } => {
                let n = match at {
                    Some(PagePos::Page(n)) => *n,
                    _ => *first,
                };
                let before = (n - (*first).min(n)) * self.page_size as u64;
                more(before).then(|| PagePos::Page(n + 1))
            }
            Paging::Cursor { pointer, .. } => text_at(pointer).map(PagePos::Token),
            Paging::NextUrl { pointer, .. } => text_at(pointer).map(PagePos::Url),
            Paging::Link { .. } => next_link(response).map(PagePos::Url),
        }
    }

    fn wrong_position(&self, http: &HttpClient) -> ConnectorError {
        ConnectorError::fatal(format!(
            "{}: a saved list position does not match the list's paging ({:?}); reset the flow's cursor",
            http.system(),
            self.paging
        ))
    }
}

/// The target of the `rel="next"` link in the reply's `Link` headers (RFC 8288:
/// `<https://h/x?page=2>; rel="next", <…>; rel="last"`).
fn next_link(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let is_next =
                params
                    .split(';')
                    .filter_map(|p| p.split_once('='))
                    .any(|(name, value)| {
                        name.trim().eq_ignore_ascii_case("rel")
                            && value
                                .trim()
                                .trim_matches('"')
                                .split_ascii_whitespace()
                                .any(|r| r.eq_ignore_ascii_case("next"))
                    });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_owned())
        })
}
