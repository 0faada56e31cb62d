//! `transaction_id` idempotency (dossier §3): a write carrying a transaction id the double
//! has already completed is not done again; the first answer is answered again. The same id
//! on another API or another form is refused. Only successful writes are remembered, so a
//! retry after a refusal is done afresh.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use super::answer::JdyError;

#[derive(Debug)]
struct Done {
    api: &'static str,
    entry_id: String,
    answer: Value,
}

/// The transaction ids of completed writes with their answers.
#[derive(Debug, Default)]
pub struct Transactions {
    done: Mutex<HashMap<String, Done>>,
}

impl Transactions {
    /// The answer to replay when `id` was completed by `api` on `entry_id`; none when it is
    /// new; a refusal when another API or form used it.
    pub fn replay(
        &self,
        id: &str,
        api: &'static str,
        entry_id: &str,
    ) -> Result<Option<Value>, JdyError> {
        let done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        match done.get(id) {
            None => Ok(None),
            Some(d) if d.api == api && d.entry_id == entry_id => Ok(Some(d.answer.clone())),
            Some(_) => Err(JdyError::TransactionReused(id.to_owned())),
        }
    }

    /// Remembers a completed write.
    pub fn remember(&self, id: &str, api: &'static str, entry_id: &str, answer: &Value) {
        let done = Done {
            api,
            entry_id: entry_id.to_owned(),
            answer: answer.clone(),
        };
        self.done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), done);
    }

    /// Forgets every transaction (a reset).
    pub fn clear(&self) {
        self.done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
