//! Faults: what a double does wrong, to which requests, how many times.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One fault: an action applied to the requests that match a method and path pattern,
/// starting with the `after + 1`-th such request, `times` times (every time when absent).
///
/// Over the control endpoint a fault is JSON of the same shape:
/// `{"method": "GET", "path": "/api/customers", "after": 2, "times": 2,
///   "action": {"kind": "status", "status": 503}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// HTTP method to match (any case); absent matches every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path pattern (no query): `*` matches within one segment, `**` across segments;
    /// absent matches every path. The control endpoints under `/_double/` never match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How many matching requests pass untouched before the fault acts.
    #[serde(default)]
    pub after: u32,
    /// How many times the fault acts; absent means on every later matching request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    pub action: FaultAction,
}

/// What a fault does to a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Waits `ms` plus a random 0..=`jitter_ms` before the request goes on (it is then
    /// answered normally, unless another fault acts too).
    Latency {
        ms: u64,
        #[serde(default)]
        jitter_ms: u64,
    },
    /// Answers with this status instead of the double (429 with `Retry-After`, a 503 …),
    /// with the given headers and body (default: a short text naming the status).
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<RetryAfter>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Closes the connection without answering.
    DropBeforeResponse,
    /// Lets the double answer, sends the status, headers (with the full `Content-Length`)
    /// and the first `after_bytes` bytes of the body (at most all but one), then closes the
    /// connection.
    DropMidBody { after_bytes: usize },
    /// Expires every session and token now, then lets the request go on: the double's auth
    /// layer answers it the way its vendor answers an expired session.
    ExpireSessions,
    /// Answers HTTP 200 with the vendor's own error body (each double renders it its way).
    ErrorInOk { code: String, message: String },
}

/// A `Retry-After` header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP date>`, this many seconds from when the answer is sent.
    HttpDate(u64),
}

impl FaultAction {
    /// Answer with `status` and no `Retry-After`.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
            headers: BTreeMap::new(),
            body: None,
        }
    }

    /// 429 Too Many Requests with a `Retry-After`.
    pub fn too_many_requests(retry_after: RetryAfter) -> Self {
        Self::Status {
            status: 429,
            retry_after: Some(retry_after),
            headers: BTreeMap::new(),
            body: None,
        }
    }

    /// A fixed delay.
    pub fn latency(delay: Duration) -> Self {
        Self::Latency {
            ms: duration_ms(delay),
            jitter_ms: 0,
        }
    }

    /// The vendor's error inside an HTTP 200 answer.
    pub fn error_in_ok(code: &str, message: &str) -> Self {
        Self::ErrorInOk {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    /// A short description for the request log.
    pub fn describe(&self) -> String {
        match self {
            Self::Latency { ms, jitter_ms: 0 } => format!("latency {ms} ms"),
            Self::Latency { ms, jitter_ms } => format!("latency {ms}+{jitter_ms} ms"),
            Self::Status { status, .. } => format!("status {status}"),
            Self::DropBeforeResponse => "drop before response".into(),
            Self::DropMidBody { after_bytes } => format!("drop after {after_bytes} body bytes"),
            Self::ExpireSessions => "expire sessions".into(),
            Self::ErrorInOk { code, .. } => format!("error in 200 ({code})"),
        }
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Fault {
    /// A fault acting on every request, every time, until narrowed by the builders below.
    pub fn new(action: FaultAction) -> Self {
        Self {
            method: None,
            path: None,
            after: 0,
            times: None,
            action,
        }
    }

    /// Only requests with this method (`"*"` for any) and a path matching `pattern`.
    pub fn on(mut self, method: &str, pattern: &str) -> Self {
        self.method = (method != "*").then(|| method.to_ascii_uppercase());
        self.path = Some(pattern.to_owned());
        self
    }

    /// Lets `n` matching requests through first.
    pub fn after(mut self, n: u32) -> Self {
        self.after = n;
        self
    }

    /// Acts `n` times, then no more.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| glob_matches(p, path))
    }
}

/// A fault with its counters, as the plan lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmedFault {
    #[serde(flatten)]
    pub fault: Fault,
    /// Matching requests seen so far.
    pub seen: u32,
    /// Times the fault acted.
    pub fired: u32,
}

impl ArmedFault {
    fn due(&self) -> bool {
        self.seen > self.fault.after && self.fault.times.is_none_or(|t| self.fired < t)
    }
}

/// What the faults decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub delay: Duration,
    pub expire_sessions: bool,
    /// The first due fault that answers in the double's place.
    pub answer: Option<FaultAction>,
    /// Descriptions of the faults that acted, for the request log.
    pub acted: Vec<String>,
}

/// The faults set on a double. Every fault counts the requests that match it; of several
/// answering faults due on one request the first added acts and the others keep their turn
/// for the next matching request. Latency and session expiry always act when due. Cheap to
/// clone: clones share the plan.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    faults: Arc<Mutex<Vec<ArmedFault>>>,
}

impl FaultPlan {
    /// Adds a fault after those already set.
    pub fn add(&self, fault: Fault) {
        self.lock().push(ArmedFault {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The faults with their counters.
    pub fn list(&self) -> Vec<ArmedFault> {
        self.lock().clone()
    }

    /// How many more times the faults with a count (`times`) will act: 0 once every such
    /// fault has done all it was set to do.
    pub fn unfired(&self) -> u32 {
        self.lock()
            .iter()
            .filter_map(|armed| armed.fault.times.map(|t| t.saturating_sub(armed.fired)))
            .sum()
    }

    /// Counts the request against every fault and decides what happens to it.
    pub(crate) fn decide(&self, method: &str, path: &str) -> Decision {
        let mut decision = Decision::default();
        for armed in self.lock().iter_mut() {
            if !armed.fault.matches(method, path) {
                continue;
            }
            armed.seen += 1;
            if !armed.due() {
                continue;
            }
            let action = &armed.fault.action;
            match action {
                FaultAction::Latency { ms, jitter_ms } => {
                    let jitter = rand::random_range(0..=*jitter_ms);
                    decision.delay += Duration::from_millis(ms.saturating_add(jitter));
                }
                FaultAction::ExpireSessions => decision.expire_sessions = true,
                _ if decision.answer.is_some() => continue,
                _ => decision.answer = Some(action.clone()),
            }
            armed.fired += 1;
            decision.acted.push(action.describe());
        }
        decision
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ArmedFault>> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `path` matches `pattern`: `*` matches any run of characters other than `/`, `**`
/// any run at all, everything else itself.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p {
            [] => s.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| go(rest, &s[i..])),
            [b'*', rest @ ..] => {
                let segment = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
                (0..=segment).any(|i| go(rest, &s[i..]))
            }
            [c, rest @ ..] => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_or_across_segments() {
        assert!(glob_matches("/api/customers", "/api/customers"));
        assert!(!glob_matches("/api/customers", "/api/customers/1"));
        assert!(glob_matches("/api/*", "/api/customers"));
        assert!(!glob_matches("/api/*", "/api/customers/1"));
        assert!(glob_matches("/api/*/1", "/api/orders/1"));
        assert!(glob_matches("/api/**", "/api/orders/1"));
        assert!(glob_matches("**/batch", "/api/orders/batch"));
        assert!(!glob_matches("/soap/**", "/api/orders"));
    }

    #[test]
    fn the_third_get_fails_twice_and_other_requests_do_not_count() {
        let plan = FaultPlan::default();
        plan.add(
            Fault::new(FaultAction::status(503))
                .on("get", "/api/customers")
                .after(2)
                .times(2),
        );
        let answered = |method, path| plan.decide(method, path).answer.is_some();
        assert!(!answered("POST", "/api/customers"));
        assert!(!answered("GET", "/api/products"));
        let gets: Vec<bool> = (0..6).map(|_| answered("GET", "/api/customers")).collect();
        assert_eq!(gets, [false, false, true, true, false, false]);
        let listed = plan.list();
        assert_eq!((listed[0].seen, listed[0].fired), (6, 2));
    }

    #[test]
    fn latency_adds_up_and_only_the_first_due_answer_acts() {
        let plan = FaultPlan::default();
        plan.add(Fault::new(FaultAction::latency(Duration::from_millis(30))));
        plan.add(Fault::new(FaultAction::status(500)).times(1));
        plan.add(Fault::new(FaultAction::status(502)).times(1));
        plan.add(Fault::new(FaultAction::Latency {
            ms: 10,
            jitter_ms: 5,
        }));
        let first = plan.decide("GET", "/x");
        assert!((40..=45).contains(&first.delay.as_millis()));
        assert_eq!(first.answer, Some(FaultAction::status(500)));
        let second = plan.decide("GET", "/x");
        assert_eq!(second.answer, Some(FaultAction::status(502)));
        assert_eq!(plan.decide("GET", "/x").answer, None);
    }

    #[test]
    fn faults_read_from_the_documented_json() {
        let fault: Fault = serde_json::from_str(
            r#"{"method":"GET","path":"/api/*","after":1,"times":3,
                "action":{"kind":"status","status":429,"retry_after":{"http_date":2}}}"#,
        )
        .unwrap();
        assert_eq!(
            fault,
            Fault::new(FaultAction::too_many_requests(RetryAfter::HttpDate(2)))
                .on("GET", "/api/*")
                .after(1)
                .times(3)
        );
        let wrong = serde_json::from_str::<Fault>(r#"{"action":{"kind":"explode"}}"#);
        assert!(wrong.unwrap_err().to_string().contains("explode"));
    }
}
