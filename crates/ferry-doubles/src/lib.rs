//! Wire-level doubles of vendor APIs, for tests and for manual runs.
//!
//! The SaaS systems Ferry's users run (Kingdee, Yonyou, Salesforce, …) cannot run here, so a
//! connector is tested against a *double*: an HTTP server on 127.0.0.1 that answers the way
//! the vendor's published documentation says it does (the dossiers in `shared/docs/apis/`),
//! including the way it fails. This crate holds the parts every double shares and the doubles
//! themselves, one folder each with a README naming the documentation it follows:
//!
//! - [`reference`](mod@reference): a generic REST + SOAP API of no vendor, for the `rest` connector.
//! - [`jiandaoyun`]: the Jiandaoyun 简道云 open API (v5), for the `jiandaoyun` connector.
//! - [`kingdee`]: the Kingdee 金蝶云星空 (K/3 Cloud) WebAPI, for the `kingdee` connector.
//! - [`salesforce`]: the Salesforce REST API (SOQL, sObjects, upsert, collections), Bulk API
//!   2.0 ingest, Change Data Capture over CometD and OAuth 2.0, for a `salesforce` connector.
//! - [`shopify`]: the Shopify Admin GraphQL API (subset), cost throttle, bulk operations
//!   and HMAC webhooks.
//! - [`yonyou`]: the Yonyou 用友 YonBIP open API (gateway, token, lists, idempotent saves,
//!   event pushes), for the `yonyou` connector.
//! - [`dynamics`]: the Dynamics 365 Dataverse Web API (OData v4: alternate-key upserts,
//!   delta links, `$batch` change sets, service protection) and Entra ID tokens.
//! - [`sap`]: the SAP S/4HANA Cloud A2X OData v2 APIs (business partner, product, sales
//!   order, outbound delivery, billing document), with CSRF, ETags and `$batch`.
//! - [`netsuite`]: Oracle NetSuite REST web services (SuiteQL, the record API with
//!   external-id upserts), Token-Based Authentication and concurrency governance.
//! - [`proxy`]: not a double but a faulting proxy in front of a real server (Tryton,
//!   BottleCRM), so the same faults reach connectors tested against real systems.
//!
//! Shared parts, bundled in a [`Harness`]:
//!
//! - [`RecordStore`]: the double's objects, with server-set modified times from a [`Clock`]
//!   that has whole-second resolution (so times tie, as they do at real vendors) and can be
//!   frozen and advanced by tests.
//! - [`FaultPlan`]: [`Fault`]s applied per request before the double sees it: latency, a
//!   status with `Retry-After` (429, 5xx bursts), a dropped connection before or in the middle
//!   of a response, expiring every session, the vendor's "error inside HTTP 200". A fault can
//!   target a method and path pattern and the n-th matching request, a number of times.
//! - [`SessionBook`]: sessions and tokens with a lifetime, which a fault can expire at once.
//! - [`RequestLog`]: every request the double received, secrets masked, for tests to assert on.
//!
//! A test starts a double with [`start`] (it listens on a free port and stops when the
//! returned [`RunningDouble`] is dropped), then sets faults in process or over the control
//! endpoints under `/_double/` (see [`control`]):
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_doubles::DoubleError> {
//! use ferry_doubles::reference::{ReferenceConfig, ReferenceDouble};
//! use ferry_doubles::{Fault, FaultAction};
//!
//! let double = ferry_doubles::start(ReferenceDouble::new(ReferenceConfig::default()), 0).await?;
//! // The 3rd GET of /api/customers and the one after it fail with 503.
//! double.faults().add(Fault::new(FaultAction::status(503)).on("GET", "/api/customers").after(2).times(2));
//! let url = double.url("/api/customers");
//! # let _ = url; Ok(()) }
//! ```

mod clock;
pub mod control;
pub mod dynamics;
mod error;
mod faults;
mod harness;
pub mod jiandaoyun;
pub mod kingdee;
mod log;
pub mod multipart;
pub mod netsuite;
pub mod proxy;
pub mod reference;
pub mod reply;
pub mod salesforce;
pub mod sap;
mod server;
mod sessions;
pub mod shopify;
mod store;
pub mod xml;
pub mod yonyou;

pub use clock::Clock;
pub use error::{DoubleError, StoreError};
pub use faults::{ArmedFault, Fault, FaultAction, FaultPlan, RetryAfter};
pub use harness::{Double, Harness};
pub use log::{LoggedRequest, RequestLog};
pub use server::{RunningDouble, start};
pub use sessions::{SessionBook, SessionState};
pub use store::{Position, Record, RecordStore, UpdatedFilter};
