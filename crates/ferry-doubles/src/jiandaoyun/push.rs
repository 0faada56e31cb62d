//! The data push (数据推送, webhooks; dossier §5 and corrections 2–3): when a record is
//! created, updated or deleted through the single-record APIs the double POSTs a notice
//! `{"op": "data_create"|"data_update"|"data_remove", "data": {…record…}}` to the configured
//! URL as `POST <url>?nonce=<random>&timestamp=<unix seconds>` with the headers
//! `X-JDY-Signature: hex(SHA-1(nonce:body:secret:timestamp))` and `X-JDY-DeliverId` (unique
//! per delivery). Batch APIs do not push (correction 3).
//!
//! A delivery answered with a non-2xx status, or not answered within the timeout, is a
//! failure; after `disable_after` failures in a row the push is disabled and nothing more is
//! sent until a test enables it again. The double does not retry a failed notice (the
//! platform's retries are not documented). Notices from API writes are delivered in order
//! by one background task; [`PushChannel::settled`] waits for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::sync::{Notify, mpsc};

use super::config::PushConfig;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-JDY-Signature";
/// The header carrying the delivery's unique id.
pub const DELIVER_ID_HEADER: &str = "X-JDY-DeliverId";

/// The signature of a notice: lower-case hex of SHA-1 over
/// `nonce + ":" + body + ":" + secret + ":" + timestamp`, `body` the raw bytes sent and
/// `timestamp` the text of the query parameter.
pub fn push_signature(nonce: &str, body: &[u8], secret: &str, timestamp: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(nonce.as_bytes());
    sha.update(b":");
    sha.update(body);
    sha.update(b":");
    sha.update(secret.as_bytes());
    sha.update(b":");
    sha.update(timestamp.as_bytes());
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What became of one notice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushOutcome {
    /// Answered with a 2xx status.
    Delivered { status: u16 },
    /// Answered with another status, or not at all (`status` absent).
    Failed { status: Option<u16>, error: String },
    /// Not sent: the push was disabled.
    Disabled,
}

/// One notice the double sent or held back, as the receiver got it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub deliver_id: String,
    pub op: String,
    /// The record's `_id`, when the data has one.
    pub data_id: Option<String>,
    /// The URL POSTed to, query included.
    pub url: String,
    pub nonce: String,
    pub timestamp: String,
    pub signature: String,
    /// The raw body sent (and signed).
    pub body: String,
    pub outcome: PushOutcome,
}

/// The push's state as a test inspects it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushStatus {
    pub url: Option<String>,
    /// False once `disable_after` deliveries failed in a row.
    pub enabled: bool,
    pub consecutive_failures: u32,
    /// Notices sent or held back so far.
    pub deliveries: usize,
}

#[derive(Debug)]
struct State {
    config: PushConfig,
    enabled: bool,
    consecutive_failures: u32,
    deliveries: Vec<Delivery>,
}

struct Notice {
    op: String,
    data: Value,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// The configuration a reset returns to.
    initial: PushConfig,
    /// Notices queued and not yet delivered.
    pending: AtomicUsize,
    idle: Notify,
    client: OnceLock<reqwest::Client>,
}

/// The data push of a double: set its URL, send notices, inspect deliveries. Cheap to
/// clone; clones share everything.
#[derive(Clone, Debug)]
pub struct PushChannel {
    inner: Arc<Inner>,
    queue: Arc<Mutex<Option<mpsc::UnboundedSender<Notice>>>>,
}

impl PushChannel {
    pub(crate) fn new(config: PushConfig) -> Self {
        let state = State {
            config: config.clone(),
            enabled: true,
            consecutive_failures: 0,
            deliveries: Vec::new(),
        };
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                initial: config,
                pending: AtomicUsize::new(0),
                idle: Notify::new(),
                client: OnceLock::new(),
            }),
            queue: Arc::default(),
        }
    }

    /// Points the push at `url` (none: no push configured, nothing is sent).
    pub fn set_url(&self, url: Option<&str>) {
        self.inner.state().config.url = url.map(str::to_owned);
    }

    /// Enables a disabled push again and forgets its failures.
    pub fn enable(&self) {
        let mut state = self.inner.state();
        state.enabled = true;
        state.consecutive_failures = 0;
    }

    pub fn status(&self) -> PushStatus {
        let state = self.inner.state();
        PushStatus {
            url: state.config.url.clone(),
            enabled: state.enabled,
            consecutive_failures: state.consecutive_failures,
            deliveries: state.deliveries.len(),
        }
    }

    /// Every notice sent or held back, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.state().deliveries.clone()
    }

    /// Sends a notice now and answers what became of it; none when no URL is set. `data`
    /// is the record as the API answers it.
    pub async fn send(&self, op: &str, data: Value) -> Option<Delivery> {
        self.inner.deliver(op, data).await
    }

    /// Waits until every notice queued by API writes was delivered (or held back).
    pub async fn settled(&self) {
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Queues a notice for the background task (API writes call this).
    pub(crate) fn enqueue(&self, op: &str, data: Value) {
        if self.inner.state().config.url.is_none() {
            return;
        }
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = queue.as_ref() else {
            return;
        };
        self.inner.pending.fetch_add(1, Ordering::SeqCst);
        let notice = Notice {
            op: op.to_owned(),
            data,
        };
        if sender.send(notice).is_err() {
            self.inner.done();
        }
    }

    /// Starts the background task delivering queued notices, on the current Tokio runtime.
    /// The task ends when the channel is dropped.
    pub(crate) fn start(&self) {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Notice>();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            while let Some(notice) = receiver.recv().await {
                inner.deliver(&notice.op, notice.data).await;
                inner.done();
            }
        });
        *self.queue.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
    }

    /// Back to the configuration of the run, enabled, with no deliveries.
    pub(crate) fn reset(&self) {
        let mut state = self.inner.state();
        state.config = self.inner.initial.clone();
        state.enabled = true;
        state.consecutive_failures = 0;
        state.deliveries.clear();
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn done(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
        self.idle.notify_waiters();
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            // reqwest is built without a default TLS provider; the binary and tests pick ring.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        })
    }

    async fn deliver(&self, op: &str, data: Value) -> Option<Delivery> {
        let (mut delivery, timeout) = {
            let state = self.state();
            let url = state.config.url.as_deref()?;
            let delivery = prepare(url, &state.config.secret, op, data);
            (delivery, state.config.timeout)
        };
        let enabled = self.state().enabled;
        delivery.outcome = if enabled {
            self.post(&delivery, timeout).await
        } else {
            PushOutcome::Disabled
        };
        self.record(&delivery);
        Some(delivery)
    }

    async fn post(&self, delivery: &Delivery, timeout: Duration) -> PushOutcome {
        let sent = self
            .client()
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, &delivery.signature)
            .header(DELIVER_ID_HEADER, &delivery.deliver_id)
            .body(delivery.body.clone())
            .timeout(timeout)
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => PushOutcome::Delivered {
                status: answer.status().as_u16(),
            },
            Ok(answer) => PushOutcome::Failed {
                status: Some(answer.status().as_u16()),
                error: format!("answered {}", answer.status()),
            },
            Err(e) => PushOutcome::Failed {
                status: None,
                error: e.to_string(),
            },
        }
    }

    /// Logs a delivery and counts it towards disabling the push.
    fn record(&self, delivery: &Delivery) {
        let mut state = self.state();
        match delivery.outcome {
            PushOutcome::Delivered { .. } => state.consecutive_failures = 0,
            PushOutcome::Failed { .. } => {
                state.consecutive_failures += 1;
                if state.consecutive_failures >= state.config.disable_after {
                    state.enabled = false;
                }
            }
            PushOutcome::Disabled => {}
        }
        state.deliveries.push(delivery.clone());
    }
}

/// A signed notice, not yet sent.
fn prepare(url: &str, secret: &str, op: &str, data: Value) -> Delivery {
    let data_id = data.get("_id").and_then(Value::as_str).map(str::to_owned);
    let body = json!({ "op": op, "data": data }).to_string();
    let nonce = random_hex(8);
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string();
    let signature = push_signature(&nonce, body.as_bytes(), secret, &timestamp);
    let separator = if url.contains('?') { '&' } else { '?' };
    Delivery {
        deliver_id: random_hex(12),
        op: op.to_owned(),
        data_id,
        url: format!("{url}{separator}nonce={nonce}&timestamp={timestamp}"),
        nonce,
        timestamp,
        signature,
        body,
        outcome: PushOutcome::Disabled,
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_sha1_over_nonce_body_secret_timestamp() {
        // Python: hashlib.sha1(b'n0nce:{"op":"data_create"}:test-secret:1714525200').hexdigest()
        let body = br#"{"op":"data_create"}"#;
        let sig = push_signature("n0nce", body, "test-secret", "1714525200");
        assert_eq!(sig, "bcb0bcd630c9b01146b317d39a828a1f26b978fb");
    }

    #[test]
    fn a_prepared_notice_carries_its_signed_query() {
        let d = prepare(
            "http://x/hook?a=1",
            "sec",
            "data_create",
            json!({"_id": "abc"}),
        );
        assert!(d.url.starts_with("http://x/hook?a=1&nonce="));
        assert_eq!(d.data_id.as_deref(), Some("abc"));
        let expected = push_signature(&d.nonce, d.body.as_bytes(), "sec", &d.timestamp);
        assert_eq!(d.signature, expected);
        assert_eq!(d.body, r#"{"op":"data_create","data":{"_id":"abc"}}"#);
    }
}
