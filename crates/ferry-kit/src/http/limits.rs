//! The request budget of one system: a rate (governor) and a daily quota. Both live in the
//! system's [`HttpClient`](super::HttpClient), so every flow on the system draws from them.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::config::Rate;

/// Paces requests to the configured rate.
pub(crate) struct Pacer(DefaultDirectRateLimiter);

impl Pacer {
    pub(crate) fn new(rate: Rate) -> Self {
        // `with_period` is `None` only for a zero period, which validation excludes; a rate
        // too high to represent is no limit worth enforcing.
        let quota = Quota::with_period(rate.period)
            .unwrap_or_else(|| Quota::per_second(rate.burst))
            .allow_burst(rate.burst);
        Pacer(RateLimiter::direct(quota))
    }

    /// Waits for the next request slot.
    pub(crate) async fn ready(&self) {
        self.0.until_ready().await;
    }
}

/// Requests per UTC calendar day.
///
/// The count is kept in memory: a restarted process starts the day at zero, and the
/// system's own refusals (HTTP 429 with `Retry-After`) remain the backstop.
pub(crate) struct DailyQuota {
    limit: u64,
    day: Mutex<(NaiveDate, u64)>,
}

impl DailyQuota {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            day: Mutex::new((NaiveDate::MIN, 0)),
        }
    }

    /// Takes one request from today's quota, or says how long until it resets (00:00 UTC).
    pub(crate) fn take(&self, now: DateTime<Utc>) -> Result<(), Duration> {
        let today = now.date_naive();
        let mut day = self.day.lock().unwrap_or_else(|e| e.into_inner());
        if day.0 != today {
            *day = (today, 0);
        }
        if day.1 >= self.limit {
            return Err(until_next_utc_midnight(now));
        }
        day.1 += 1;
        Ok(())
    }
}

fn until_next_utc_midnight(now: DateTime<Utc>) -> Duration {
    let midnight = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    midnight
        .and_then(|m| (m - now).to_std().ok())
        .unwrap_or(Duration::from_secs(24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn the_quota_is_per_utc_day_and_says_when_it_resets() {
        let q = DailyQuota::new(2);
        assert!(q.take(at("2026-11-22T23:00:00Z")).is_ok());
        assert!(q.take(at("2026-11-22T23:10:00Z")).is_ok());
        assert_eq!(
            q.take(at("2026-11-22T23:30:00Z")),
            Err(Duration::from_secs(30 * 60))
        );
        // A new UTC day starts a new count.
        assert!(q.take(at("2026-11-23T00:00:01Z")).is_ok());
        assert!(q.take(at("2026-11-23T08:00:00+08:00")).is_ok()); // 00:00 UTC the same day
        assert!(q.take(at("2026-11-23T09:00:00Z")).is_err());
    }
}
