//! Request-rate limits (dossier §2 and corrections 1, 7): per API (30/s for listings,
//! `data/list` and `data/get`; 20/s for single writes; 10/s for batches) and company-wide
//! (50/s). A request over a limit is answered HTTP 429 with the throttle code. The window
//! is a sliding one by the machine's real clock (the harness clock is for record times and
//! is often frozen).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::answer::JdyError;

/// How many requests the double admits per window, by API path (`app/entry/data/list`,
/// the path after `/api/v5/`) and for the whole company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Company-wide limit over every API; none for unlimited.
    pub company: Option<u32>,
    /// Per-API limits, by the path after `/api/v5/`.
    pub per_api: BTreeMap<String, u32>,
    /// The limit of an API not in `per_api`; none for unlimited.
    pub other_api: Option<u32>,
    /// The window the limits count in: one second as documented; tests may widen it so a
    /// slow machine still meets the limit.
    pub window: Duration,
}

impl Default for RateLimits {
    /// The documented values.
    fn default() -> Self {
        let per_api = [
            ("app/list", 30),
            ("app/entry/list", 30),
            ("app/entry/widget/list", 30),
            ("app/entry/data/list", 30),
            ("app/entry/data/get", 30),
            ("app/entry/data/create", 20),
            ("app/entry/data/update", 20),
            ("app/entry/data/delete", 20),
            ("app/entry/data/batch_create", 10),
            ("app/entry/data/batch_update", 10),
            ("app/entry/data/batch_delete", 10),
        ];
        Self {
            company: Some(50),
            per_api: per_api
                .into_iter()
                .map(|(api, n)| (api.to_owned(), n))
                .collect(),
            other_api: Some(20),
            window: Duration::from_secs(1),
        }
    }
}

impl RateLimits {
    /// No limits at all.
    pub fn unlimited() -> Self {
        Self {
            company: None,
            per_api: BTreeMap::new(),
            other_api: None,
            window: Duration::from_secs(1),
        }
    }

    /// The documented limits, with `api` limited to `per_window` requests per `window`.
    pub fn with_api(mut self, api: &str, per_window: u32, window: Duration) -> Self {
        self.per_api.insert(api.to_owned(), per_window);
        self.window = window;
        self
    }

    fn of(&self, api: &str) -> Option<u32> {
        self.per_api.get(api).copied().or(self.other_api)
    }
}

/// The key the company-wide requests are counted under.
const COMPANY: &str = "";

/// The times of the requests admitted within the last window, per API and company-wide.
#[derive(Debug, Default)]
pub struct Limiter {
    admitted: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    /// Admits a request to `api` or refuses it with the limit it would break (the API's own
    /// first). Refused requests are not counted.
    pub fn admit(&self, limits: &RateLimits, api: &str) -> Result<(), JdyError> {
        let now = Instant::now();
        let mut admitted = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        let mut recent = |key: &str| {
            let times = admitted.entry(key.to_owned()).or_default();
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= limits.window)
            {
                times.pop_front();
            }
            times.len()
        };
        if let Some(limit) = limits.of(api)
            && recent(api) >= limit as usize
        {
            return Err(JdyError::ApiRateLimited(limit));
        }
        if let Some(limit) = limits.company
            && recent(COMPANY) >= limit as usize
        {
            return Err(JdyError::CompanyRateLimited(limit));
        }
        for key in [api, COMPANY] {
            admitted.entry(key.to_owned()).or_default().push_back(now);
        }
        Ok(())
    }

    /// Forgets every request (a reset).
    pub fn clear(&self) {
        self.admitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_limit_and_the_company_limit_refuse_without_counting() {
        let limits = RateLimits {
            company: Some(3),
            per_api: [("a".to_owned(), 2)].into(),
            other_api: None,
            window: Duration::from_secs(60),
        };
        let limiter = Limiter::default();
        assert!(limiter.admit(&limits, "a").is_ok());
        assert!(limiter.admit(&limits, "a").is_ok());
        assert_eq!(
            limiter.admit(&limits, "a"),
            Err(JdyError::ApiRateLimited(2))
        );
        assert!(limiter.admit(&limits, "b").is_ok());
        assert_eq!(
            limiter.admit(&limits, "b"),
            Err(JdyError::CompanyRateLimited(3))
        );
        limiter.clear();
        assert!(limiter.admit(&limits, "a").is_ok());
    }

    #[test]
    fn the_window_slides() {
        let limits = RateLimits::unlimited().with_api("a", 1, Duration::from_millis(300));
        let limiter = Limiter::default();
        assert!(limiter.admit(&limits, "a").is_ok());
        assert!(limiter.admit(&limits, "a").is_err());
        std::thread::sleep(Duration::from_millis(350));
        assert!(limiter.admit(&limits, "a").is_ok());
    }
}
