//! [`HttpClient`]: one per configured system. It sends [`Call`]s with the system's
//! credentials, within its rate and daily quota, retries transient failures, and turns every
//! failure into a classified [`ConnectorError`] that names the system and request.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use ferry_model::secret::mask_url;
use ferry_model::{ConnectorError, ErrorKind};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::auth::{Auth, Outgoing};
use super::config::HttpOptions;
use super::limits::{DailyQuota, Pacer};
use super::reply::ReplyCheck;

/// The longest wait between two attempts. A `Retry-After` longer than this is not waited
/// out inside one request: the request fails as rate-limited with that `retry_after`, so the
/// engine pauses the flow instead of holding a batch.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Longest server message quoted in an error.
const MAX_MESSAGE: usize = 500;

/// The HTTP client of one system. Cheap to clone: clones share the connection pool, the
/// credentials, the rate limit and the daily quota, so give every source and sink of the
/// system a clone of the one client built with the connector.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
    check: Option<Arc<dyn ReplyCheck>>,
}

struct Inner {
    system: String,
    options: HttpOptions,
    client: reqwest::Client,
    auth: Arc<dyn Auth>,
    pacer: Option<Pacer>,
    quota: Option<DailyQuota>,
    secrets: Vec<String>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("system", &self.inner.system)
            .field("base", &mask_url(self.inner.options.base.as_str()))
            .field("auth", &self.inner.auth)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// The client of system `system` (its name under `systems:`, used in every message).
    /// Does no I/O. Installs the ring TLS provider for the process if none is installed yet.
    pub fn new(
        system: &str,
        options: HttpOptions,
        auth: Arc<dyn Auth>,
    ) -> Result<Self, ConnectorError> {
        // reqwest is built without a crypto provider so that the whole binary uses one (ring).
        // `Err` means one is installed already, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| {
                ConnectorError::fatal(format!("{system}: cannot set up HTTP: {}", describe(&e)))
            })?;
        let secrets = options
            .base
            .password()
            .map(str::to_owned)
            .into_iter()
            .collect();
        Ok(Self {
            check: None,
            inner: Arc::new(Inner {
                system: system.to_owned(),
                pacer: options.rate.map(Pacer::new),
                quota: options.daily_quota.map(DailyQuota::new),
                options,
                client,
                auth,
                secrets,
            }),
        })
    }

    /// The same client (same pool, credentials, rate and quota) that reads every 2xx reply
    /// with `check` first, for APIs that report errors inside HTTP 200 bodies
    /// (`{"code": 40001, "msg": "token expired"}`): see [`ReplyCheck`]. A call can bring its
    /// own with [`Call::check`].
    #[must_use]
    pub fn with_reply_check(mut self, check: Arc<dyn ReplyCheck>) -> Self {
        self.check = Some(check);
        self
    }

    /// The system's name.
    pub fn system(&self) -> &str {
        &self.inner.system
    }

    /// The configured base URL (`url`).
    pub fn base(&self) -> &Url {
        &self.inner.options.base
    }

    /// The base URL calls with credentials are joined to: the one the credentials named
    /// ([`Auth::api_base`], Salesforce's `instance_url`) once they are obtained, else
    /// [`HttpClient::base`].
    pub fn api_base(&self) -> Url {
        self.inner
            .auth
            .api_base()
            .unwrap_or_else(|| self.inner.options.base.clone())
    }

    /// `text` with every known secret replaced by `****`. Connectors run their own messages
    /// built from server replies through it.
    pub fn scrub(&self, text: &str) -> String {
        // Asked each time: a scheme learns new secrets (issued tokens) as it goes.
        let mut secrets = self.inner.auth.secrets();
        secrets.extend(self.inner.secrets.iter().cloned());
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a secret containing another is scrubbed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_owned();
        for secret in &secrets {
            out = out.replace(secret.as_str(), "****");
        }
        out
    }

    /// Sends `call` and returns the 2xx response, or the response with a status the call
    /// [accepts](Call::accept).
    ///
    /// Every attempt (retries and logins included) first takes a request from the daily
    /// quota (none left: fails at once, [`ErrorKind::RateLimited`] with the time until
    /// 00:00 UTC) and then waits for the rate limit. Transient failures are retried up to
    /// `retries` times with exponential backoff and jitter, or after the server's
    /// `Retry-After` (429, 503). Requests that may not be repeated (see [`Call::new`]) are
    /// retried only when the server cannot have acted on them: connection refused, 429.
    /// A 401 or 403 (a status classified as [`ErrorKind::Auth`]), or a 2xx that the
    /// [`ReplyCheck`] reads as refused credentials, asks [`Auth::refresh`] for new credentials
    /// once.
    pub async fn send(&self, call: Call) -> Result<Response, ConnectorError> {
        let mut url = self.url_for(&call)?;
        let mut what = self.what(&call, &url);
        if let Some(problem) = &call.invalid {
            return Err(ConnectorError::fatal(format!("{what}: {problem}")));
        }
        let mut delays = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.inner.options.backoff)
            .with_max_delay(MAX_WAIT)
            .with_max_times(self.inner.options.retries as usize)
            .build();
        let mut refreshed = false;
        loop {
            self.admit(&what).await?;
            let mut request = Outgoing::new(
                call.method.clone(),
                url.clone(),
                call.headers.clone(),
                call.body.clone(),
            );
            if call.auth {
                self.inner.auth.apply(self, &mut request).await?;
                // The credentials may just have named the API's base (`instance_url`).
                let moved = self.url_for(&call)?;
                if moved != url {
                    what = self.what(&call, &moved);
                    request.url = moved.clone();
                    url = moved;
                }
            }
            let failure = match self.attempt(&request, &what).await {
                Ok(response) => match self.judge(&call, &what, response) {
                    Ok(response) => return Ok(response),
                    Err(failure) => failure,
                },
                Err(e) => self.transport_failure(&what, &e),
            };
            if failure.error.kind() == ErrorKind::Auth && call.auth && !refreshed {
                refreshed = true;
                // The server refused the credentials, so it did not act on the request:
                // sending it again is safe whatever its method.
                if self.inner.auth.refresh(self, &request).await? {
                    tracing::debug!(request = %what, "Credentials renewed; sending again.");
                    continue;
                }
            }
            let may_repeat = failure.transient && (call.repeatable || failure.unsent);
            if may_repeat && let Some(planned) = delays.next() {
                let wait = failure.retry_after.unwrap_or(planned);
                if wait <= MAX_WAIT {
                    tracing::warn!(
                        request = %what,
                        error = %failure.error,
                        wait_ms = wait.as_millis() as u64,
                        "Transient failure; retrying."
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return Err(failure.error);
        }
    }

    /// Sends `call` and decodes the JSON reply.
    pub async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, ConnectorError> {
        self.send(call).await?.json()
    }

    /// The quota, then the rate limit.
    async fn admit(&self, what: &str) -> Result<(), ConnectorError> {
        if let Some(quota) = &self.inner.quota
            && let Err(wait) = quota.take(chrono::Utc::now())
        {
            return Err(ConnectorError::new(
                ErrorKind::RateLimited {
                    retry_after: Some(wait),
                },
                format!(
                    "{what}: the daily quota of {} requests is spent; it resets at 00:00 UTC, in {}",
                    self.inner.options.daily_quota.unwrap_or_default(),
                    humantime::format_duration(Duration::from_secs(wait.as_secs()))
                ),
            ));
        }
        if let Some(pacer) = &self.inner.pacer {
            pacer.ready().await;
        }
        Ok(())
    }

    /// A reply as an answer, or as a failure: its status, else what the reply check reads
    /// in its body.
    fn judge(&self, call: &Call, what: &str, response: Response) -> Result<Response, Failure> {
        if call.accepted.contains(&response.status) {
            return Ok(response);
        }
        if !response.status.is_success() {
            return Err(self.status_failure(call, what, &response));
        }
        let check = call.check.as_ref().or(self.check.as_ref());
        match check.map(|c| c.check(&response)) {
            Some(Err(e)) => Err(self.refusal_failure(what, &e)),
            _ => Ok(response),
        }
    }

    async fn attempt(&self, out: &Outgoing, what: &str) -> Result<Response, reqwest::Error> {
        let started = Instant::now();
        let mut request = self
            .inner
            .client
            .request(out.method.clone(), out.url.clone())
            .headers(out.headers.clone());
        if let Some(body) = out.take_body() {
            request = request.body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        tracing::debug!(
            request = %what,
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "HTTP request."
        );
        Ok(Response {
            status,
            headers,
            body,
            what: what.to_owned(),
        })
    }

    /// The URL of a call: a path joined to the base URL, or an absolute URL on the same
    /// origin (a next-page link). Credentials are never sent to another origin; a call
    /// [without them](Call::without_auth) may go anywhere (a token endpoint on an identity
    /// provider's host).
    fn url_for(&self, call: &Call) -> Result<Url, ConnectorError> {
        let configured = &self.inner.options.base;
        let named = call.auth.then(|| self.inner.auth.api_base()).flatten();
        let base = named.as_ref().unwrap_or(configured);
        let target = call.target.as_str();
        let mut url = if target.starts_with("http://") || target.starts_with("https://") {
            let url = Url::parse(target).map_err(|e| {
                ConnectorError::fatal(format!(
                    "{}: `{}` is not a URL ({e})",
                    self.inner.system,
                    mask_url(target)
                ))
            })?;
            if call.auth && url.origin() != base.origin() && url.origin() != configured.origin() {
                return Err(ConnectorError::fatal(format!(
                    "{}: refusing to follow `{}`, which is not on {}",
                    self.inner.system,
                    mask_url(target),
                    mask_url(base.origin().ascii_serialization().as_str())
                )));
            }
            url
        } else {
            let mut base = base.clone();
            if !base.path().ends_with('/') {
                let path = format!("{}/", base.path());
                base.set_path(&path);
            }
            base.join(target.trim_start_matches('/')).map_err(|e| {
                ConnectorError::fatal(format!(
                    "{}: bad request path `{target}` ({e})",
                    self.inner.system
                ))
            })?
        };
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        Ok(url)
    }

    /// `erp: POST http://host/erp/rpc/ (model.party.party.read)`: no query string (it may hold
    /// keys), user info masked.
    fn what(&self, call: &Call, url: &Url) -> String {
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        let label = call
            .label
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        format!(
            "{}: {} {}{label}",
            self.inner.system,
            call.method,
            mask_url(shown.as_str())
        )
    }

    fn status_failure(&self, call: &Call, what: &str, response: &Response) -> Failure {
        let status = response.status;
        let retry_after = retry_after(&response.headers);
        let server = self.scrub(&server_message(&response.body));
        let message = if server.is_empty() {
            format!("{what}: HTTP {status}")
        } else {
            format!("{what}: HTTP {status}: {server}")
        };
        let (kind, transient) = match status.as_u16() {
            429 => (ErrorKind::RateLimited { retry_after }, true),
            408 | 502 | 503 | 504 => (ErrorKind::Retryable, true),
            501 => (ErrorKind::Fatal, false),
            500..=599 => (ErrorKind::Retryable, false),
            401 | 403 => (ErrorKind::Auth, false),
            404 | 410 => (ErrorKind::NotFound, false),
            409 => (ErrorKind::Conflict, false),
            405 | 406 | 415 => (ErrorKind::Fatal, false),
            400..=499 => (ErrorKind::Validation, false),
            _ => (ErrorKind::Fatal, false),
        };
        let kind = call
            .kinds
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(kind, |(_, k)| *k);
        // The body's own error code, where the API has one, says more than the status
        // (NetSuite's CONCURRENCY_LIMIT_EXCEEDED comes as a 429 or a 400).
        let check = call.check.as_ref().or(self.check.as_ref());
        let (kind, transient) = match check.and_then(|c| c.classify(response)) {
            Some(k) => (k, k.is_transient()),
            None => (kind, transient),
        };
        let turned_away = matches!(kind, ErrorKind::RateLimited { .. });
        Failure {
            error: ConnectorError::new(kind, message),
            transient,
            // A 429 says the server turned the request away without acting on it.
            unsent: status == StatusCode::TOO_MANY_REQUESTS || turned_away,
            retry_after: retry_after.filter(|_| matches!(status.as_u16(), 429 | 503)),
        }
    }

    /// A 2xx whose body reports an error, as the reply check classified it.
    fn refusal_failure(&self, what: &str, e: &ConnectorError) -> Failure {
        let kind = e.kind();
        let retry_after = match kind {
            ErrorKind::RateLimited { retry_after } => retry_after,
            _ => None,
        };
        Failure {
            error: ConnectorError::new(kind, format!("{what}: {}", self.scrub(e.message()))),
            transient: kind.is_transient(),
            // A server that says "slow down" in the body turned the request away.
            unsent: matches!(kind, ErrorKind::RateLimited { .. }),
            retry_after,
        }
    }

    fn transport_failure(&self, what: &str, e: &reqwest::Error) -> Failure {
        let reason = self.scrub(&describe(e));
        let (transient, unsent) = if e.is_connect() {
            (true, true)
        } else if e.is_builder() {
            (false, true)
        } else {
            // Timeouts and broken connections: the server may have acted on the request.
            (true, false)
        };
        let kind = if transient {
            ErrorKind::Retryable
        } else {
            ErrorKind::Fatal
        };
        Failure {
            error: ConnectorError::new(kind, format!("{what}: {reason}")),
            transient,
            unsent,
            retry_after: None,
        }
    }
}

/// A failed attempt and whether another may help.
struct Failure {
    error: ConnectorError,
    /// Another attempt may succeed.
    transient: bool,
    /// The server cannot have acted on the request, so it is safe to repeat any request.
    unsent: bool,
    /// The wait the server asked for.
    retry_after: Option<Duration>,
}

/// One request to send: method, path, query, headers and body, plus whether it may be
/// repeated and whether it carries the system's credentials.
#[derive(Debug, Clone)]
pub struct Call {
    method: Method,
    target: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    invalid: Option<String>,
    repeatable: bool,
    auth: bool,
    label: Option<String>,
    kinds: Vec<(StatusCode, ErrorKind)>,
    accepted: Vec<StatusCode>,
    check: Option<Arc<dyn ReplyCheck>>,
}

impl Call {
    /// A request to `target`: a path relative to the system's base URL (a leading `/` is
    /// ignored, so `api/x` and `/api/x` are both under the base), or an absolute URL on the
    /// same origin (a next-page link).
    ///
    /// GET, HEAD, PUT, DELETE and OPTIONS are idempotent, so they are retried after any
    /// transient failure; POST and PATCH only when the server cannot have acted on them,
    /// unless [`Call::safe_to_repeat`] says otherwise.
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Self {
            repeatable: method.is_idempotent(),
            method,
            target: target.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            invalid: None,
            auth: true,
            label: None,
            kinds: Vec::new(),
            accepted: Vec::new(),
            check: None,
        }
    }
    /// `GET target`.
    pub fn get(target: impl Into<String>) -> Self {
        Self::new(Method::GET, target)
    }
    /// `POST target`.
    pub fn post(target: impl Into<String>) -> Self {
        Self::new(Method::POST, target)
    }
    /// `PUT target`.
    pub fn put(target: impl Into<String>) -> Self {
        Self::new(Method::PUT, target)
    }
    /// `PATCH target`.
    pub fn patch(target: impl Into<String>) -> Self {
        Self::new(Method::PATCH, target)
    }
    /// `DELETE target`.
    pub fn delete(target: impl Into<String>) -> Self {
        Self::new(Method::DELETE, target)
    }

    /// Adds a query parameter (URL-encoded when sent; never shown in messages).
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.query.push((name.into(), value.to_string()));
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// A JSON body.
    #[must_use]
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(bytes);
                self.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Err(e) => self.invalid = Some(format!("the request body is not JSON ({e})")),
        }
        self
    }

    /// A body of the given content type.
    #[must_use]
    pub fn body(mut self, bytes: Vec<u8>, content_type: HeaderValue) -> Self {
        self.body = Some(bytes);
        self.headers.insert(CONTENT_TYPE, content_type);
        self
    }

    /// The request may be sent again after a timeout or a 5xx even though its method is not
    /// idempotent (a read over POST, such as a JSON-RPC search).
    #[must_use]
    pub fn safe_to_repeat(mut self) -> Self {
        self.repeatable = true;
        self
    }

    /// Sends the request without credentials (a login request, a public endpoint).
    #[must_use]
    pub fn without_auth(mut self) -> Self {
        self.auth = false;
        self
    }

    /// Returns a reply with this (non-2xx) status as an answer to read rather than a
    /// failure, without retrying it: for APIs that explain a refusal in the body (the field
    /// errors of a 400) or a 404 the caller expects ("no such record").
    #[must_use]
    pub fn accept(mut self, status: StatusCode) -> Self {
        self.accepted.push(status);
        self
    }

    /// Classifies `status` as `kind` for this request instead of the default (see the module
    /// docs), e.g. an API's 403 for an unknown method as [`ErrorKind::Fatal`]. Credentials
    /// are renewed only for statuses classified as [`ErrorKind::Auth`].
    #[must_use]
    pub fn classify(mut self, status: StatusCode, kind: ErrorKind) -> Self {
        self.kinds.push((status, kind));
        self
    }

    /// Reads the 2xx reply with `check` (instead of the client's, if it has one): a body
    /// that reports an error becomes a failure of the kind `check` gives.
    #[must_use]
    pub fn check(mut self, check: Arc<dyn ReplyCheck>) -> Self {
        self.check = Some(check);
        self
    }

    /// The same request sent to `target` instead, without the query parameters (a next-page
    /// URL carries its own).
    #[must_use]
    pub(crate) fn retarget(mut self, target: &str) -> Self {
        self.target = target.to_owned();
        self.query.clear();
        self
    }

    /// What to call the request in messages besides method and path, e.g. the RPC method
    /// of a JSON-RPC call whose path is always the same.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

/// A response with its whole body.
#[derive(Debug, Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    what: String,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// The body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body decoded from JSON. A body of another shape is a [`ErrorKind::Fatal`] error:
    /// the system is not the one configured, or its API changed.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::fatal(format!(
                "{}: unexpected reply ({e}): {}",
                self.what,
                clip(&String::from_utf8_lossy(&self.body), 200)
            ))
        })
    }
    /// How the request was named in messages (`erp: POST http://h/erp/rpc/ (…)`).
    pub fn what(&self) -> &str {
        &self.what
    }
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The server's own explanation in an error body: the usual message fields of a JSON error
/// (`message`, `detail`, `error`, `errors`, …), else the text with HTML tags removed;
/// clipped to a few hundred characters.
pub fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
        return clip(&json_message(&json), MAX_MESSAGE);
    }
    let text = if text.trim_start().starts_with('<') {
        strip_tags(&text)
    } else {
        text.into_owned()
    };
    clip(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
        MAX_MESSAGE,
    )
}

fn json_message(json: &serde_json::Value) -> String {
    use serde_json::Value;
    if let Some(details) = problem_details(json) {
        return details;
    }
    if let Value::Object(map) = json {
        for key in [
            "message",
            "msg",
            "errmsg",
            "detail",
            "error_description",
            "error",
            "errors",
            "title",
        ] {
            match map.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => return s.trim().to_owned(),
                Some(v @ Value::Object(_)) if key == "error" => return json_message(v),
                Some(v @ (Value::Object(_) | Value::Array(_))) if key == "errors" => {
                    return v.to_string();
                }
                _ => {}
            }
        }
    }
    json.to_string()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// NetSuite's RFC 9457 problem details: each `o:errorDetails` entry's `detail`, with its
/// `o:errorCode` and `o:errorPath` (the field) when given, joined by `; `. The `title` alone
/// ("Bad Request") says nothing a user can act on.
fn problem_details(json: &serde_json::Value) -> Option<String> {
    let details = json.get("o:errorDetails")?.as_array()?;
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let parts: Vec<String> = details
        .iter()
        .filter_map(|d| {
            let detail = text(d, "detail")?;
            let code = text(d, "o:errorCode");
            let path = text(d, "o:errorPath");
            Some(match (code, path) {
                (Some(c), Some(p)) => format!("{detail} ({c} at `{p}`)"),
                (Some(c), None) => format!("{detail} ({c})"),
                (None, Some(p)) => format!("{detail} (at `{p}`)"),
                (None, None) => detail,
            })
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A reqwest error as a sentence without its URL (which we show masked ourselves): what
/// failed, and the innermost cause (`connection refused`).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the reply broke off"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    match last {
        Some(c) if !c.is_empty() => format!("{what} ({c})"),
        _ => what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_found_in_json_html_and_text() {
        assert_eq!(
            server_message(br#"{"error":true,"errors":{"name":["required"]}}"#),
            r#"{"name":["required"]}"#
        );
        assert_eq!(
            server_message(br#"{"detail":"Organization context is required."}"#),
            "Organization context is required."
        );
        assert_eq!(
            server_message(br#"{"error":{"code":5,"message":"nope"}}"#),
            "nope"
        );
        let netsuite = br#"{"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
            "title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Please enter value(s) for: Company Name",
            "o:errorCode":"USER_ERROR","o:errorPath":"companyName"}]}"#;
        assert_eq!(
            server_message(netsuite),
            "Please enter value(s) for: Company Name (USER_ERROR at `companyName`)"
        );
        assert_eq!(
            server_message(b"<html><title>401 Unauthorized</title></html>"),
            "401 Unauthorized"
        );
        assert_eq!(
            server_message(&[b'x'; 2000]).chars().count(),
            MAX_MESSAGE + 1
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let wait = retry_after(&h).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
