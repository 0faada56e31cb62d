//! # Inbound notices in a system's own format (webhooks)
//!
//! Ferry's server takes change notices at `POST /hooks/{system}`. Its own format (a signed
//! `{"flow"|"entity", "id"}`) suits senders that can be told what to send; a vendor's
//! webhooks come as the vendor sends them: signed the vendor's way, with the vendor's
//! payload (a Shopify `orders/updated`, a Jiandaoyun form event). A connector that knows such
//! a format returns an [`Inbound`] from [`Connector::inbound`](crate::Connector::inbound), and
//! the server then hands it each request to that system's URL: [`Inbound::verify`] proves the
//! request is the system's, [`Inbound::changes`] says which records of which flows changed.
//! Neither the server nor the engine knows the format, so adding a vendor's webhooks is a
//! change to its connector only.
//!
//! What happens next is the same for every format: the `(flow, id)` pairs are committed to
//! the durable queue before the request is answered, a repeat of the same delivery is
//! answered without queueing again, and the worker reads each record's current state from
//! the source. A payload that carries the record is not trusted as its state: notices can
//! arrive out of order, and a read is always the latest.

use chrono::{DateTime, Utc};
use ferry_model::Entity;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

/// A request as it reached `POST /hooks/{system}`.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The query string, without `?` (some vendors sign or route by it).
    pub query: Option<&'a str>,
    /// The raw body, exactly as received (signatures are over these bytes).
    pub body: &'a [u8],
    /// When the server received it.
    pub received_at: DateTime<Utc>,
}

impl InboundRequest<'_> {
    /// A header's value as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A flow that reads from the system: the connector matches a notice to flows by the
/// options it understands (the object, table or form the flow reads).
#[derive(Debug, Clone, Copy)]
pub struct InboundFlow<'a> {
    /// The flow's name.
    pub name: &'a str,
    /// The entity it moves.
    pub entity: &'a Entity,
    /// Its `source:` options (without `system`), as the connector's source reads them.
    pub source: &'a Map<String, Value>,
}

/// A request [`Inbound::verify`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// What makes this request the same delivery when it comes again (the vendor's delivery
    /// or event id, else its signature). A repeat within [`Verified::valid_until`] is
    /// answered as a duplicate.
    pub replay_key: String,
    /// Until when a repeat is recognised: the end of the vendor's timestamp window, or a
    /// time the connector chooses for formats without one.
    pub valid_until: DateTime<Utc>,
}

/// The changes a request announces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// `(flow, record id in the source)`, in the order announced.
    pub records: Vec<(String, String)>,
}

/// What a vendor wants back for a notice accepted, instead of Ferry's own JSON answer:
/// some platforms take only their own acknowledgement (Yonyou: `success`, encrypted and
/// signed) and otherwise send the notice again and again. Answered with HTTP 200.
#[derive(Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The body's media type (`application/json`, `text/plain`).
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Acknowledgement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acknowledgement")
            .field("content_type", &self.content_type)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// Why a request was refused. The server answers each with its own status and never
/// echoes a secret: messages say what was wrong, not what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// The signature is missing, malformed or wrong, or the request is outside the vendor's
    /// time window (401).
    #[error("{0}")]
    Signature(String),
    /// The payload is not what the vendor sends, or names nothing a flow reads (400).
    #[error("{0}")]
    Malformed(String),
}

/// A system's own inbound notice format. See the [module docs](self).
pub trait Inbound: Send + Sync {
    /// Proves the request comes from the system (its signature over the body, with the
    /// secret in the connector's settings), or says why not. Compare secrets in constant time.
    fn verify(&self, request: &InboundRequest<'_>) -> Result<Verified, InboundError>;

    /// The records of `flows` the request says changed. A notice about an object no flow
    /// reads is not an error (vendors send every topic subscribed to); a request that names
    /// nothing any flow reads comes back empty and is answered without queueing anything.
    fn changes(
        &self,
        request: &InboundRequest<'_>,
        flows: &[InboundFlow<'_>],
    ) -> Result<Changes, InboundError>;

    /// The answer to a request accepted (queued, a repeat, or about nothing a flow reads),
    /// when the vendor wants its own; `None` (the default): Ferry's JSON answer.
    fn acknowledgement(&self, _request: &InboundRequest<'_>) -> Option<Acknowledgement> {
        None
    }
}
