//! Retrying transient failures with exponential backoff and jitter (backon), abandoned at
//! once on shutdown.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
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
    let backoff = backoff(settings).with_total_delay(Some(settings.give_up_after.0));
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
        .when(|e: &E| {
            e.kind().is_transient() && !cancel.is_cancelled() && !pauses(e.kind(), settings)
        })
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

/// A system that asks to be left alone for longer than the retry budget (a daily quota spent,
/// a long `Retry-After`) is not waited for inside a run: the run stops where it is, and the
/// flow resumes at the same cursor once the time has passed.
pub(crate) fn pauses(kind: ErrorKind, settings: &RetrySettings) -> bool {
    matches!(kind, ErrorKind::RateLimited { retry_after: Some(wait) } if wait > settings.give_up_after.0)
}

/// The wait before queued attempt number `attempt` (1-based): the same exponential backoff
/// with jitter as [`retry`], taken at that step.
pub(crate) fn queue_backoff(settings: &RetrySettings, attempt: u32) -> Duration {
    backoff(settings)
        .build()
        .nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(settings.max_backoff.0)
}

fn backoff(settings: &RetrySettings) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(settings.initial_backoff.0)
        .with_max_delay(settings.max_backoff.0)
        .without_max_times()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_retries_back_off_exponentially_up_to_the_cap() {
        let settings = RetrySettings::default(); // 200 ms doubling, capped at 30 s
        let first = queue_backoff(&settings, 1);
        let fifth = queue_backoff(&settings, 5);
        let late = queue_backoff(&settings, 40);
        assert!(
            first >= Duration::from_millis(200) && first <= Duration::from_millis(400),
            "{first:?}"
        );
        assert!(fifth >= Duration::from_millis(3_200), "{fifth:?}");
        assert!(
            late >= Duration::from_secs(30) && late <= Duration::from_secs(60),
            "{late:?}"
        );
    }
}
