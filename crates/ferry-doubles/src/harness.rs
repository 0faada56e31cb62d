//! What a double is, and the shared parts it is built on.

use std::sync::Arc;

use axum::Router;
use axum::response::Response;

use crate::clock::Clock;
use crate::faults::FaultPlan;
use crate::log::RequestLog;
use crate::sessions::SessionBook;
use crate::store::RecordStore;

/// A double of one vendor API. Implement it in a folder of its own (`src/<name>/`, with a
/// README naming the documentation it follows) and add a subcommand for it to the
/// `ferry-double` binary.
pub trait Double: Send + Sync + 'static {
    /// The name scripts know it by (`reference`, `kingdee`).
    fn name(&self) -> &'static str;

    /// Declares the double's objects in `store` and fills them with its starting records.
    /// Called at start and by every reset, on an empty store.
    fn seed(&self, store: &RecordStore);

    /// The vendor's routes. The harness gives the store, the sessions and the base URL;
    /// faults and the request log are applied around these routes by the server.
    fn routes(&self, harness: &Harness) -> Router;

    /// The vendor's answer to an error reported inside an HTTP 200 body, as a
    /// [`crate::FaultAction::ErrorInOk`] fault makes it. `path` is the request's path, for
    /// vendors whose error shape differs by endpoint (Kingdee wraps query errors in arrays).
    fn error_in_ok(&self, path: &str, code: &str, message: &str) -> Response;

    /// Lines printed when the double is started by hand: how to authenticate, what it
    /// serves. Secrets of a double are test values, so they may be shown.
    fn describe(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The parts of one running double: its record store and clock, sessions, faults and
/// request log, and its base URL. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Harness {
    base_url: Arc<str>,
    store: RecordStore,
    sessions: SessionBook,
    faults: FaultPlan,
    requests: RequestLog,
    double: Arc<dyn Double>,
}

impl Harness {
    /// The parts of `double` served at `base_url` (`http://127.0.0.1:port`); the store is
    /// seeded.
    pub fn new(base_url: &str, double: Arc<dyn Double>) -> Self {
        let harness = Self {
            base_url: base_url.trim_end_matches('/').into(),
            store: RecordStore::new(Clock::system()),
            sessions: SessionBook::default(),
            faults: FaultPlan::default(),
            requests: RequestLog::default(),
            double,
        };
        harness.double.seed(&harness.store);
        harness
    }

    /// `http://127.0.0.1:port`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The absolute URL of `path` (which starts with `/`) on this double.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn store(&self) -> &RecordStore {
        &self.store
    }

    pub fn clock(&self) -> &Clock {
        self.store.clock()
    }

    pub fn sessions(&self) -> &SessionBook {
        &self.sessions
    }

    pub fn faults(&self) -> &FaultPlan {
        &self.faults
    }

    pub fn requests(&self) -> &RequestLog {
        &self.requests
    }

    /// The double served.
    pub fn double(&self) -> &dyn Double {
        self.double.as_ref()
    }

    /// Back to the state at start: no faults, no logged requests, no sessions, the seed
    /// records (ids start again at 1). The clock is left as it is.
    pub fn reset(&self) {
        self.faults.clear();
        self.requests.clear();
        self.sessions.clear();
        self.store.clear();
        self.double.seed(&self.store);
    }
}
