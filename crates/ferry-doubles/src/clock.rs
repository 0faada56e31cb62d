//! The time a double stamps on records it writes.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, SubsecRound, Utc};

/// The double's clock: real time, or a time a test froze and moves by hand. Either way it
/// reads in whole seconds, as most vendors' modified timestamps do, so records written
/// within one second tie: the edge a watermark reader has to get right.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    frozen: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl Clock {
    /// A clock following real time.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, to the whole second.
    pub fn now(&self) -> DateTime<Utc> {
        let frozen = *self.frozen.lock().unwrap_or_else(PoisonError::into_inner);
        frozen.unwrap_or_else(Utc::now).trunc_subsecs(0)
    }

    /// Now to the millisecond: for what a vendor measures finer than its stamps (a leaky
    /// bucket that refills continuously), where whole seconds would make waits wrong.
    pub fn exact(&self) -> DateTime<Utc> {
        let frozen = *self.frozen.lock().unwrap_or_else(PoisonError::into_inner);
        frozen.unwrap_or_else(Utc::now).trunc_subsecs(3)
    }

    /// Stops the clock at `at`: every write stamps this time until it is moved.
    pub fn freeze_at(&self, at: DateTime<Utc>) {
        *self.frozen.lock().unwrap_or_else(PoisonError::into_inner) = Some(at);
    }

    /// Moves a frozen clock forward (a clock following real time is frozen at now first).
    pub fn advance(&self, by: Duration) {
        let mut frozen = self.frozen.lock().unwrap_or_else(PoisonError::into_inner);
        let at = frozen.unwrap_or_else(Utc::now);
        *frozen = Some(at + by);
    }

    /// Lets the clock follow real time again.
    pub fn resume(&self) {
        *self.frozen.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced_and_reads_whole_seconds() {
        let clock = Clock::system();
        let at = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.750Z")
            .unwrap()
            .to_utc();
        clock.freeze_at(at);
        assert_eq!(clock.now().to_rfc3339(), "2026-03-01T10:00:00+00:00");
        clock.advance(Duration::milliseconds(300));
        assert_eq!(clock.now().to_rfc3339(), "2026-03-01T10:00:01+00:00");
        assert_eq!(clock.exact().to_rfc3339(), "2026-03-01T10:00:01.050+00:00");
        clock.resume();
        assert!((clock.now() - Utc::now()).num_seconds().abs() <= 1);
    }
}
