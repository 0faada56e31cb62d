//! The rate limit: one token bucket per API key (and per webhook system), from
//! `server.rate_limit` (governor's keyed limiter, GCRA).

use std::num::NonZeroU32;

use ferry_model::config::RateLimitConfig;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// What a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// An API key, by id.
    ApiKey(i64),
    /// A system sending webhooks.
    Hook(String),
    /// A client address, for requests without a valid key.
    Address(std::net::IpAddr),
}

/// Buckets by [`RateKey`].
#[derive(Debug)]
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<RateKey>,
    clock: DefaultClock,
}

impl RateLimiter {
    /// `burst` requests at once, refilled at `per_second` (zeros are raised to 1; the config
    /// check refuses them anyway).
    pub fn new(config: &RateLimitConfig) -> Self {
        let per_second = NonZeroU32::new(config.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Forgets buckets that are full again (idle keys and addresses), so memory stays bounded
    /// by recent clients. Called every minute while serving.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Takes one request from the key's bucket, or says how long to wait (whole seconds,
    /// rounded up, at least 1).
    pub fn check(&self, key: &RateKey) -> Result<(), ApiError> {
        match self.limiter.check_key(key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(ApiError::RateLimited(seconds.max(1)))
            }
        }
    }
}
