//! Rate limits (限流): the four documented codes, as faults for the next calls, and an
//! optional per-API quota counted by the double itself. No window or `Retry-After` is
//! documented; the answers carry none.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::api::GATEWAY_PREFIX;
use super::config::RateLimit;
use super::envelope::YyError;
use crate::faults::{Fault, FaultAction};

/// The level a limit was hit at, each with its documented code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitLevel {
    /// 310032 触发了系统级限流.
    System,
    /// 310039 触发了应用级限流.
    App,
    /// 310042 触发了产品级限流.
    Product,
    /// 310046, message `API被限流` (a third party's test).
    Api,
}

impl LimitLevel {
    pub const ALL: [Self; 4] = [Self::System, Self::App, Self::Product, Self::Api];

    pub fn code(self) -> &'static str {
        match self {
            Self::System => "310032",
            Self::App => "310039",
            Self::Product => "310042",
            Self::Api => "310046",
        }
    }

    /// The message: `API被限流` is reported for 310046; the others are the code table's
    /// descriptions.
    pub fn message(self) -> &'static str {
        match self {
            Self::System => "触发了系统级限流",
            Self::App => "触发了应用级限流",
            Self::Product => "触发了产品级限流",
            Self::Api => "API被限流",
        }
    }
}

/// The next `times` business calls (any path under the gateway) answer 310046 `API被限流`.
pub fn rate_limited(times: u32) -> Fault {
    rate_limited_at(LimitLevel::Api, times)
}

/// The next `times` business calls answer the code of `level`.
pub fn rate_limited_at(level: LimitLevel, times: u32) -> Fault {
    Fault::new(FaultAction::error_in_ok(level.code(), level.message()))
        .on("*", &format!("{GATEWAY_PREFIX}/yonbip/**"))
        .times(times)
}

/// The next `times` calls of one API (`/yonbip/…`) answer 202: the idempotent request is
/// still being processed (retry with the same `resubmitCheckKey`).
pub fn still_processing(api_path: &str, times: u32) -> Fault {
    Fault::new(FaultAction::error_in_ok(
        "202",
        "幂等接口，后端服务正在处理中",
    ))
    .on("*", &format!("{GATEWAY_PREFIX}{api_path}"))
    .times(times)
}

/// Calls counted per API in the current window.
#[derive(Debug, Default)]
pub struct Quotas {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Quotas {
    /// Counts one call of `api`; 310046 once the quota of the window is used.
    pub fn take(&self, limit: Option<RateLimit>, api: &str) -> Result<(), YyError> {
        let Some(limit) = limit else { return Ok(()) };
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let (started, used) = windows.entry(api.to_owned()).or_insert((now, 0));
        if now.duration_since(*started) >= limit.window {
            (*started, *used) = (now, 0);
        }
        if *used >= limit.calls {
            let level = LimitLevel::Api;
            return Err(YyError::coded(level.code(), level.message()));
        }
        *used += 1;
        Ok(())
    }

    /// Forgets every count.
    pub fn clear(&self) {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_quota_refuses_past_its_calls_per_api() {
        let quotas = Quotas::default();
        let limit = Some(RateLimit {
            calls: 2,
            window: Duration::from_secs(60),
        });
        assert!(quotas.take(limit, "/a").is_ok());
        assert!(quotas.take(limit, "/a").is_ok());
        assert_eq!(quotas.take(limit, "/a").unwrap_err().code, "310046");
        assert!(quotas.take(limit, "/b").is_ok());
        assert!(quotas.take(None, "/a").is_ok());
    }
}
