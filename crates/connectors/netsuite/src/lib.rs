//! # `netsuite`: Oracle NetSuite over SuiteQL and the REST record API
//!
//! Reads customers, items, sales orders (with their lines), invoices, item fulfilments and
//! stock per location by SuiteQL, incrementally by `lastmodifieddate`; writes records with
//! the REST record API, upserting by external id (`PUT record/v1/<type>/eid:<key>`), sales
//! orders with their `item` sublist and references resolved by business key. Built and
//! tested against a wire-level double made from published documentation
//! (`ferry_doubles::netsuite`, the dossier `shared/docs/apis/netsuite.md`), not against a
//! real account: the README lists what a first run against one must verify.
//!
//! ```yaml
//! systems:
//!   ns:
//!     kind: netsuite
//!     account: "1234567_SB1"            # or 1234567-sb1; the realm and host follow from it
//!     consumer_key: "${NS_CONSUMER_KEY}"
//!     consumer_secret: "${NS_CONSUMER_SECRET}"
//!     token_id: "${NS_TOKEN_ID}"
//!     token_secret: "${NS_TOKEN_SECRET}"
//!
//! flows:
//!   stock_to_shop:
//!     entity: stock
//!     source: { system: ns, object: stock, locations: { "1": main, "2": east } }
//!   orders_to_erp:
//!     entity: sales_order
//!     target:
//!       system: ns
//!       record: salesOrder                   # PUT salesOrder/eid:<order key>
//!       fields: { customer: entity, number: otherRefNum }
//!       refs: { entity: customer.externalid } # the customer named by its external id
//!       lines: { fields: { sku: item }, refs: { item: item.itemid } }
//! ```
//!
//! - **Auth**: Token-Based Authentication, the kit's OAuth 1.0a HMAC-SHA256 signer
//!   ([`ferry_kit::http::NetSuiteTba`]); a refusal is an `auth` error.
//! - **Reading**: SuiteQL with `Prefer: transient`, keyset on (`lastmodifieddate` to the
//!   second, `id`) with the kit's overlap window ([`ferry_kit::keyset`]); lines from
//!   `transactionline`, stock from `inventoryitemlocations`.
//! - **Writing**: one `PUT …/eid:<key>` per record, a few at once within the account's
//!   concurrency limit; `CONCURRENCY_LIMIT_EXCEEDED` (429 or 400) backed off and retried; a
//!   400 with `o:errorDetails` is that record's refusal, in NetSuite's words. Item
//!   fulfilments and invoices can be written from their order's external id (`from_order`:
//!   the order transformed, once).

mod api;
mod config;
mod connector;
mod discover;
mod objects;
mod sink;
mod source;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{LinesTarget, ObjectKind, SourceOptions, SystemSettings, TargetOptions};
pub use connector::{NetSuiteConnector, NetSuiteFactory};
