//! Serving a double on 127.0.0.1, and applying faults to its requests.

use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::stream;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::control;
use crate::error::DoubleError;
use crate::faults::{FaultAction, RetryAfter};
use crate::harness::{Double, Harness};

/// A double serving on 127.0.0.1. Dropping it stops the server and closes its connections.
/// It dereferences to its [`Harness`] (store, clock, sessions, faults, request log).
pub struct RunningDouble {
    harness: Harness,
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl RunningDouble {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared parts of the double.
    pub fn harness(&self) -> &Harness {
        &self.harness
    }

    /// Serves until Ctrl-C (for the `ferry-double` binary).
    pub async fn serve_until_interrupted(self) -> io::Result<()> {
        tokio::signal::ctrl_c().await
    }
}

impl Deref for RunningDouble {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.harness
    }
}

impl Drop for RunningDouble {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts `double` on 127.0.0.1:`port` (0 for any free port), seeded and without faults.
/// Must be called inside a Tokio runtime; the server runs on it until the returned handle
/// is dropped.
pub async fn start(double: impl Double, port: u16) -> Result<RunningDouble, DoubleError> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| DoubleError::Bind { port, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| DoubleError::Bind { port, source })?;
    let harness = Harness::new(&format!("http://{addr}"), Arc::new(double));
    let app = harness
        .double()
        .routes(&harness)
        .merge(control::routes(harness.clone()))
        .layer(middleware::from_fn_with_state(
            harness.clone(),
            apply_faults,
        ));
    let shutdown = CancellationToken::new();
    tokio::spawn(accept(listener, app, shutdown.clone()));
    Ok(RunningDouble {
        harness,
        addr,
        shutdown,
    })
}

/// Closes the one connection a request came on; put in every request's extensions.
#[derive(Clone)]
struct ConnectionKill(CancellationToken);

async fn accept(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "A double failed to accept a connection.");
                    // Out of file descriptors, say: let connections close before retrying.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let kill = shutdown.child_token();
        let app = app.clone();
        let on_request = ConnectionKill(kill.clone());
        let service = hyper::service::service_fn(move |mut request: Request<_>| {
            request.extensions_mut().insert(on_request.clone());
            app.clone().oneshot(request.map(Body::new))
        });
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = kill.cancelled() => {}
            }
        });
    }
}

/// The paths of the control endpoints, which faults and the request log leave alone.
pub(crate) const CONTROL_PREFIX: &str = "/_double";

/// The middleware around a double's routes: logs the request, counts it against the
/// faults and applies those due.
async fn apply_faults(State(harness): State<Harness>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with(CONTROL_PREFIX) {
        return next.run(request).await;
    }
    let log = harness.requests();
    let seq = log.begin(request.method(), request.uri(), request.headers());
    let decision = harness
        .faults()
        .decide(request.method().as_str(), request.uri().path());
    log.faults(seq, decision.acted);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if decision.expire_sessions {
        harness.sessions().expire_all();
    }
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let path = request.uri().path().to_owned();
    let response = match decision.answer {
        Some(FaultAction::Status {
            status,
            retry_after,
            headers,
            body,
        }) => status_answer(status, retry_after, &headers, body),
        Some(FaultAction::ErrorInOk { code, message }) => {
            harness.double().error_in_ok(&path, &code, &message)
        }
        Some(FaultAction::DropBeforeResponse) => return close_now(kill).await,
        Some(FaultAction::DropMidBody { after_bytes }) => {
            let whole = next.run(request).await;
            log.answered(seq, whole.status().as_u16());
            return cut(whole, after_bytes, kill).await;
        }
        Some(FaultAction::Latency { .. } | FaultAction::ExpireSessions) | None => {
            next.run(request).await
        }
    };
    log.answered(seq, response.status().as_u16());
    response
}

fn status_answer(
    status: u16,
    retry_after: Option<RetryAfter>,
    headers: &std::collections::BTreeMap<String, String>,
    body: Option<String>,
) -> Response {
    let Ok(status) = StatusCode::from_u16(status) else {
        let text = format!("the fault's status {status} is not an HTTP status");
        return (StatusCode::INTERNAL_SERVER_ERROR, text).into_response();
    };
    let default_body = || {
        let reason = status.canonical_reason().unwrap_or("");
        format!(
            "{} {reason} (fault injected by the double)",
            status.as_u16()
        )
    };
    let mut response = (status, body.unwrap_or_else(default_body)).into_response();
    let out = response.headers_mut();
    out.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            out.insert(name, value);
        }
    }
    if let Some(retry_after) = retry_after {
        let value = match retry_after {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::HttpDate(s) => {
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(s))
            }
        };
        if let Ok(value) = HeaderValue::try_from(value) {
            out.insert(RETRY_AFTER, value);
        }
    }
    response
}

/// Time for hyper to flush what was sent before the connection is closed under it.
const FLUSH_PAUSE: Duration = Duration::from_millis(50);

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by a fault",
    )
}

/// Closes the connection without an answer.
async fn close_now(kill: Option<ConnectionKill>) -> Response {
    match kill {
        Some(ConnectionKill(token)) => {
            token.cancel();
            futures::future::pending().await
        }
        // Not served by `start`: a body that fails at once makes hyper drop the connection,
        // though only after the head is sent.
        None => {
            Body::from_stream(stream::once(async { Err::<Bytes, _>(aborted()) })).into_response()
        }
    }
}

/// Sends the head of `response` and the first `after_bytes` bytes of its body (at most all
/// but one), then closes the connection.
async fn cut(response: Response, after_bytes: usize, kill: Option<ConnectionKill>) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts.headers.insert(CONTENT_LENGTH, bytes.len().into());
    let head = bytes.slice(..after_bytes.min(bytes.len().saturating_sub(1)));
    let sent = stream::once(async move { Ok::<Bytes, io::Error>(head) });
    let closed = stream::once(async move {
        tokio::time::sleep(FLUSH_PAUSE).await;
        if let Some(ConnectionKill(token)) = kill {
            token.cancel();
        }
        Err(aborted())
    });
    Response::from_parts(parts, Body::from_stream(sent.chain(closed)))
}
