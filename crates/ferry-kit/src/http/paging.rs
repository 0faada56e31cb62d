//! Reading list endpoints page by page: offset/limit parameters, or a next-page URL in the
//! body. A [`PagePos`] is serializable so a source can keep it inside its own cursor and
//! read one page per [`Source::read`](crate::Source::read).

use ferry_model::ConnectorError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Call, HttpClient};

/// How a list endpoint pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// `?offset=N&limit=M` with these parameter names. The next page starts after the items
    /// read; a page shorter than the page size is the last.
    Offset {
        /// Name of the offset parameter (`offset`).
        offset: String,
        /// Name of the page size parameter (`limit`).
        limit: String,
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
#[derive(Debug, Clone)]
pub struct Lister {
    call: Call,
    paging: Paging,
    items: String,
    page_size: usize,
}

impl Lister {
    /// Lists with `call` (the request of the first page, without paging parameters), paging
    /// as `paging`, the items being the array at JSON pointer `items` of each body (`""`: the
    /// body itself is the array; `/results`, `/active_accounts/open_accounts`). Page size 100.
    pub fn new(call: Call, paging: Paging, items: impl Into<String>) -> Self {
        Self {
            call,
            paging,
            items: items.into(),
            page_size: 100,
        }
    }

    /// Items per page (at least 1).
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// The page at `at` (`None`: the first).
    pub async fn page(
        &self,
        http: &HttpClient,
        at: Option<&PagePos>,
    ) -> Result<ListPage, ConnectorError> {
        let call = match (&self.paging, at) {
            (Paging::Offset { offset, limit }, at) => {
                let start = match at {
                    None => 0,
                    Some(PagePos::Offset(n)) => *n,
                    Some(PagePos::Url(_)) => return Err(self.wrong_position(http)),
                };
                self.call
                    .clone()
                    .query(offset.clone(), start)
                    .query(limit.clone(), self.page_size)
            }
            (Paging::NextUrl { limit, .. }, None) => match limit {
                Some(name) => self.call.clone().query(name.clone(), self.page_size),
                None => self.call.clone(),
            },
            (Paging::NextUrl { .. }, Some(PagePos::Url(url))) => self.call.clone().retarget(url),
            (Paging::NextUrl { .. }, Some(PagePos::Offset(_))) => {
                return Err(self.wrong_position(http));
            }
        };
        let response = http.send(call).await?;
        let body: Value = response.json()?;
        let items = match body.pointer(&self.items) {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Null) | None if !self.items.is_empty() => Vec::new(),
            _ => {
                return Err(ConnectorError::fatal(format!(
                    "{}: the reply has no list at `{}`",
                    response.what(),
                    self.items
                )));
            }
        };
        let next = match &self.paging {
            Paging::Offset { .. } => {
                let start = match at {
                    Some(PagePos::Offset(n)) => *n,
                    _ => 0,
                };
                (items.len() >= self.page_size).then(|| PagePos::Offset(start + items.len() as u64))
            }
            Paging::NextUrl { pointer, .. } => match body.pointer(pointer) {
                Some(Value::String(url)) if !url.trim().is_empty() => {
                    Some(PagePos::Url(url.clone()))
                }
                _ => None,
            },
        };
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

    fn wrong_position(&self, http: &HttpClient) -> ConnectorError {
        ConnectorError::fatal(format!(
            "{}: a saved list position does not match the list's paging ({:?}); reset the flow's cursor",
            http.system(),
            self.paging
        ))
    }
}
