//! Retrying transient failures with exponential backoff and jitter (backon), abandoned at
//! once on shutdown.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use ferry_model::config::RetrySettings;
use ferry_model::{ConnectorError, ErrorKind};
use ferry_store::StoreError;
use tokio_util::sync::CancellationToken;

/// Errors that say whether trying again may help.
pub(crate) trait Classified: std::fmt::Display {
    fn kind(&self) -> ErrorKind;
}

impl Classified for ConnectorError {
    fn kind(&self) -> ErrorKind {
        ConnectorError::kind(self)
    }
}

impl Classified for StoreError {
    fn kind(&self) -> ErrorKind {
        StoreError::kind(self)
    }
}

/// The outcome of a retried call.
pub(crate) enum Retried<E> {
    /// The last error (permanent, or transient past the time budget).
    Failed(E),
    /// Shutdown was requested while waiting.
    Cancelled,
}

/// Calls `op` until it succeeds, fails permanently, or transient failures have gone on for
/// `give_up_after`. Waits double from `initial_backoff` up to `max_backoff`, with jitter, and
/// honour a `Retry-After` the system sent.
///
/// Shutdown never interrupts an attempt in flight (a write that is under way finishes, so the
/// batch in hand can still commit); it only cuts the wait before the next attempt.
pub(crate) async fn retry<T, E, F, Fut>(
    settings: &RetrySettings,
    cancel: &CancellationToken,
    what: &str,
    op: F,
) -> Result<T, Retried<E>>
where
    E: Classified,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let backoff = ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(settings.initial_backoff.0)
        .with_max_delay(settings.max_backoff.0)
        .without_max_times()
        .with_total_delay(Some(settings.give_up_after.0));
    let token = cancel.clone();
    let sleeper = move |wait: Duration| {
        let token = token.clone();
        async move {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = token.cancelled() => {}
            }
        }
    };
    let result = op
        .retry(backoff)
        .sleep(sleeper)
        .when(|e: &E| e.kind().is_transient() && !cancel.is_cancelled())
        .adjust(|e: &E, planned: Option<Duration>| match (e.kind(), planned) {
            (ErrorKind::RateLimited { retry_after: Some(wait) }, Some(_)) => Some(wait),
            _ => planned,
        })
        .notify(|e: &E, wait: Duration| {
            tracing::warn!(what, error = %e, wait_ms = wait.as_millis() as u64, "Transient failure; retrying.");
        })
        .await;
    match result {
        Ok(value) => Ok(value),
        Err(e) if e.kind().is_transient() && cancel.is_cancelled() => Err(Retried::Cancelled),
        Err(e) => Err(Retried::Failed(e)),
    }
}

/// The wait before queued attempt number `attempt` (1-based): exponential with full jitter.
pub(crate) fn queue_backoff(settings: &RetrySettings, attempt: u32) -> Duration {
    let base = settings.initial_backoff.0.as_millis() as u64;
    let cap = settings.max_backoff.0.as_millis() as u64;
    let exp = base.saturating_mul(1u64 << attempt.min(20)).min(cap).max(1);
    let jittered = exp / 2 + rand::random_range(0..=exp / 2);
    Duration::from_millis(jittered)
}
