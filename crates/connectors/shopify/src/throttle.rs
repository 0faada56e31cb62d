//! Shopify's cost-based throttle, followed from the figures every answer carries.
//!
//! Each app and shop has a leaky bucket of query-cost points (its size and restore rate
//! depend on the plan: 100 to 2,000 points a second). Every answer reports it in
//! `extensions.cost.throttleStatus` (`currentlyAvailable`, `maximumAvailable`,
//! `restoreRate`), and a query asking more than is available is refused whole, inside an
//! HTTP 200 (or 429), with `errors[].extensions.code = THROTTLED`. So:
//!
//! - after each answer the bucket's state is noted, with the time it was read;
//! - before a query, the points available now are estimated from the last state
//!   (`available + elapsed × restoreRate`, at most the maximum); a query whose requested
//!   cost is above that waits `(cost − estimate) / restoreRate` first;
//! - a THROTTLED answer (another app or process drained the bucket) is waited out for
//!   `(requestedQueryCost − currentlyAvailable) / restoreRate`, from that answer's figures,
//!   and the query is sent again.
//!
//! Waits longer than the HTTP client's longest ([`MAX_WAIT`]) are not slept inside a call:
//! the call fails as rate-limited with that wait, and the engine resumes the flow then. The
//! state is one per shop (per connector), shared by every flow on it: they draw on one
//! bucket. Time and sleeping go through [`Pacing`], so tests can run the wait on the
//! double's clock instead of the wall clock.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferry_kit::http::MAX_WAIT;
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::Value;

/// The time the throttle reads and how it waits.
#[async_trait]
pub trait Pacing: Send + Sync + Debug {
    /// A monotonic time.
    fn now(&self) -> Duration;
    /// Waits `wait`.
    async fn sleep(&self, wait: Duration);
}

/// The host's monotonic clock and tokio's sleep.
#[derive(Debug)]
pub struct RealTime(Instant);

impl Default for RealTime {
    fn default() -> Self {
        Self(Instant::now())
    }
}

#[async_trait]
impl Pacing for RealTime {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
    async fn sleep(&self, wait: Duration) {
        tokio::time::sleep(wait).await;
    }
}

/// `extensions.cost.throttleStatus` as last read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    pub available: f64,
    pub maximum: f64,
    pub restore_rate: f64,
    /// When it was read ([`Pacing::now`]).
    pub at: Duration,
}

/// The bucket of one shop.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Mutex<Option<Status>>,
}

impl Throttle {
    fn last(&self) -> Option<Status> {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The wait before a query of `cost` may go, from the last state (none known: none).
    pub fn wait_before(&self, cost: u64, now: Duration) -> Duration {
        let Some(s) = self.last() else {
            return Duration::ZERO;
        };
        if s.restore_rate <= 0.0 {
            return Duration::ZERO;
        }
        let elapsed = now.saturating_sub(s.at).as_secs_f64();
        let estimate = (s.available + elapsed * s.restore_rate).min(s.maximum);
        points_wait(cost as f64 - estimate, s.restore_rate)
    }

    /// Notes the state an answer reports (`extensions`); the figures of the cost if any.
    pub fn observe(&self, extensions: &Value, now: Duration) -> Option<Cost> {
        let cost = Cost::read(extensions)?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Status {
            available: cost.available,
            maximum: cost.maximum,
            restore_rate: cost.restore_rate,
            at: now,
        });
        Some(cost)
    }
}

/// The figures of `extensions.cost`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub requested: f64,
    pub available: f64,
    pub maximum: f64,
    pub restore_rate: f64,
}

impl Cost {
    pub fn read(extensions: &Value) -> Option<Self> {
        let cost = extensions.get("cost")?;
        let status = cost.get("throttleStatus")?;
        Some(Self {
            requested: cost.get("requestedQueryCost")?.as_f64()?,
            available: status.get("currentlyAvailable")?.as_f64()?,
            maximum: status.get("maximumAvailable")?.as_f64()?,
            restore_rate: status.get("restoreRate")?.as_f64()?,
        })
    }

    /// The wait a THROTTLED answer with these figures asks for.
    pub fn throttled_wait(&self) -> Duration {
        points_wait(self.requested - self.available, self.restore_rate)
    }
}

/// The time `missing` points take to restore at `rate` a second, rounded up to the
/// millisecond (never short: a wait a moment too short is refused again).
pub fn points_wait(missing: f64, rate: f64) -> Duration {
    if missing <= 0.0 || rate <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_millis((missing / rate * 1000.0).ceil() as u64)
}

/// Waits `wait` through `pacing`, or, when it is longer than a call may wait, fails as
/// rate-limited with it.
pub async fn wait_out(
    pacing: &dyn Pacing,
    wait: Duration,
    what: &str,
) -> Result<(), ConnectorError> {
    if wait.is_zero() {
        return Ok(());
    }
    if wait > MAX_WAIT {
        return Err(ConnectorError::new(
            ErrorKind::RateLimited {
                retry_after: Some(wait),
            },
            format!(
                "{what}: Shopify's query-cost bucket needs {} s to refill",
                wait.as_secs()
            ),
        ));
    }
    tracing::debug!(
        wait_ms = wait.as_millis() as u64,
        "{what}: waiting for query-cost points."
    );
    pacing.sleep(wait).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_estimate_restores_with_time_and_the_wait_covers_the_rest() {
        let t = Throttle::default();
        assert_eq!(
            t.wait_before(500, Duration::ZERO),
            Duration::ZERO,
            "nothing known"
        );
        let ext = json!({"cost": {"requestedQueryCost": 252, "actualQueryCost": 12,
            "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 100.0, "restoreRate": 50.0}}});
        let cost = t.observe(&ext, Duration::from_secs(10)).unwrap();
        assert_eq!(cost.requested, 252.0);
        // 300 wanted, 100 held: 4 s at 50/s; one second later 150 held: 3 s.
        assert_eq!(
            t.wait_before(300, Duration::from_secs(10)),
            Duration::from_secs(4)
        );
        assert_eq!(
            t.wait_before(300, Duration::from_secs(11)),
            Duration::from_secs(3)
        );
        assert_eq!(t.wait_before(300, Duration::from_secs(60)), Duration::ZERO);
        // A THROTTLED answer: (requested − available) / rate, rounded up to the ms.
        let throttled = Cost {
            requested: 101.0,
            available: 38.0,
            maximum: 1000.0,
            restore_rate: 50.0,
        };
        assert_eq!(throttled.throttled_wait(), Duration::from_millis(1260));
        assert_eq!(points_wait(1.0, 3.0), Duration::from_millis(334));
    }
}
