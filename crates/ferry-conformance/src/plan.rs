//! [`PlanFaults`]: the suite's [`Faults`] on a double's (or a faulting proxy's) fault plan,
//! so a fixture says only where its requests go, not how each fault is set.

use async_trait::async_trait;
use ferry_doubles::{Fault, FaultAction, FaultPlan, RetryAfter, SessionBook};

use crate::Faults;

/// Faults injected through a [`FaultPlan`]: statuses and throttling on the requests matching
/// `method` and `pattern`, a dropped connection on the reads, and expired sessions through
/// the double's [`SessionBook`] when it has one.
#[derive(Clone)]
pub struct PlanFaults {
    plan: FaultPlan,
    method: String,
    pattern: String,
    reads: (String, String),
    sessions: Option<SessionBook>,
}

impl PlanFaults {
    /// Faults on the requests matching `method` (`*` for any) and path `pattern` (a glob,
    /// as in [`Fault::on`]); connections drop on the same requests unless [`Self::reads`].
    pub fn new(plan: &FaultPlan, method: &str, pattern: &str) -> Self {
        Self {
            plan: plan.clone(),
            method: method.to_owned(),
            pattern: pattern.to_owned(),
            reads: (method.to_owned(), pattern.to_owned()),
            sessions: None,
        }
    }

    /// The requests a dropped connection cuts off (the reads: a write cut off is not
    /// something a connector can always repeat).
    #[must_use]
    pub fn reads(mut self, method: &str, pattern: &str) -> Self {
        self.reads = (method.to_owned(), pattern.to_owned());
        self
    }

    /// The double's sessions, which [`Faults::expire_sessions`] ends.
    #[must_use]
    pub fn sessions(mut self, book: &SessionBook) -> Self {
        self.sessions = Some(book.clone());
        self
    }

    fn add(&self, action: FaultAction, times: usize) {
        let fault = Fault::new(action).on(&self.method, &self.pattern);
        self.plan.add(fault.times(times as u32));
    }
}

#[async_trait]
impl Faults for PlanFaults {
    fn fail_next(&self, count: usize, status: u16) {
        self.add(FaultAction::status(status), count);
    }
    fn throttle_next(&self, seconds: u64) {
        let action = FaultAction::too_many_requests(RetryAfter::Seconds(seconds));
        self.add(action, 1);
    }
    fn drop_next(&self) {
        let (method, pattern) = &self.reads;
        let fault = Fault::new(FaultAction::DropMidBody { after_bytes: 20 }).on(method, pattern);
        self.plan.add(fault.times(1));
    }
    async fn expire_sessions(&self) -> bool {
        match &self.sessions {
            Some(book) => {
                book.expire_all();
                true
            }
            None => false,
        }
    }
    fn unfired(&self) -> usize {
        self.plan.unfired() as usize
    }
}
