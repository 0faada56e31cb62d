//! # The `bottlecrm` connector: BottleCRM (django-crm 1.x) over its REST API
//!
//! Accounts, contacts, deals with their line items, invoices with their lines and payments,
//! and the product catalogue of a BottleCRM organization. Checked against django-crm 1.35.0.
//!
//! ```yaml
//! systems:
//!   crm:
//!     kind: bottlecrm
//!     url: https://crm.example.com      # the server's root; requests go to api/…
//!     token: ${CRM_PAT}                 # personal access token (Authorization: Bearer …)
//!     # api_key: ${CRM_ORG_API_KEY}     # or an organization API key (Token: …)
//!     timeout: 30s                      # shared HTTP settings: timeout, retries, backoff,
//!     rate: { per_second: 5, burst: 5 } #   rate, daily_quota (for every flow on `crm`)
//!     concurrency: 4                    # requests in flight per read or batch (default 4)
//!
//! flows:
//!   customers-from-crm:
//!     entity: customer
//!     trigger: { poll: 5m }
//!     source: { system: crm, object: accounts }
//!   orders-from-crm:
//!     entity: sales_order
//!     source: { system: crm, object: opportunities, filter: { stage: CLOSED_WON } }
//!   customers-to-crm:
//!     entity: customer
//!     target:
//!       system: crm
//!       object: accounts
//!       key: custom_fields.erp_id       # default; found with ?cf_erp_id=…
//!       fields: { street: address_line, postal_code: postcode, notes: description, active: is_active }
//!   orders-to-crm:
//!     entity: sales_order
//!     target:
//!       system: crm
//!       object: opportunities
//!       fields: { customer_code: account, lines: line_items, total: amount }
//!       line_fields: { sku: product_id, description: name }
//!       refs: { account: accounts, line_items.product_id: products }
//!   invoices-to-crm:                    # ERP invoices, their payments and status, in the CRM
//!     entity: invoice
//!     depends_on: { customer_code: customers-to-crm }   # fills customer_code_id
//!     target:
//!       system: crm
//!       object: invoices
//!       fields: { customer_code: ~, customer_code_id: account_id, contact: contact_id, total: ~ }
//!       refs: { contact_id: contacts }  # a business key looked up here (no flow syncs it)
//!   invoice-onto-deal:                  # or: the invoice's total and stage onto its deal
//!     entity: invoice
//!     depends_on: { order_number: orders-to-crm }       # fills order_number_id
//!     target:
//!       system: crm
//!       object: opportunities
//!       id_field: order_number_id       # update that deal; never create, keep its key
//!       fields: { order_number: ~, total: amount, status: stage, issue_date: closed_on }
//! ```
//!
//! References: the engine's `depends_on` puts the id BottleCRM knows for a referenced record
//! in `<field>_id` (a UUID string); map that field to the API field (`account`,
//! `account_id`, a line's `product_id`). `refs` does the same by looking the business key up
//! in BottleCRM itself, for records no Ferry flow syncs.
//!
//! ## Objects
//!
//! | object | API | key (default) | update | notes |
//! |---|---|---|---|---|
//! | `accounts` | `api/accounts/` | `custom_fields.erp_id` (or `name`) | PATCH | listed in two halves, active and inactive |
//! | `contacts` | `api/contacts/` | `custom_fields.erp_id` (or `email`) | PATCH | `updated_at` |
//! | `opportunities` | `api/opportunities/` | `custom_fields.erp_id` (or `name`) | PATCH | `line_items`; `CLOSED_WON` is the order |
//! | `invoices` | `api/invoices/` | `custom_fields.erp_id` (or `invoice_number`) | PUT | read in full (lines, payments); status by lifecycle calls |
//! | `products` | `api/invoices/products/` | `sku` (or `name`) | PUT | no stock in BottleCRM |
//! | `payments` | `api/invoices/<id>/payments/` | `reference_number` | — | write only |
//!
//! BottleCRM has no order, shipment or stock API; deals stand for orders.
//!
//! ## Records read
//!
//! `Record.id` is the BottleCRM id (a UUID); fields are the API's JSON as it is
//! (`custom_fields` stays an object: map `custom_fields.erp_id`; a deal's `account` is
//! `{id, name}`; lines are `line_items`), without the fields BottleCRM computes from the
//! clock or from other objects (see `objects::Spec::normalize`), so an untouched record reads
//! the same every time. `updated_at` is set where the API shows it (contacts, invoices,
//! products). Reads are snapshot passes (the cursor contract is in `source.rs`); `fetch`
//! reads each id's detail, and an id BottleCRM answers 404 for comes back `deleted`.
//!
//! ## Writing
//!
//! Upserts by key, record by record; see `sink.rs` for lines, invoice status and payments,
//! and how refusals become per-record errors. For `on_delete` and `ferry reconcile` the sink
//! also deletes (`DELETE` of the record found by id or key; one already gone counts as
//! done), updates without creating (`on_delete: { archive: { active: false } }` with
//! `fields: { active: is_active }`), and reads the object back by snapshot pass (`scan`), in
//! canonical names: the key, renamed and custom fields; not `refs` nor lines. Payments can
//! do none of these.
//!
//! ## Limits of BottleCRM's API that shape this connector
//!
//! - No "modified since" filter, and no `updated_at` on accounts and deals: change detection
//!   is by content hash over full passes; a pass costs one request per page (plus one per
//!   invoice, whose list lacks lines, payments and custom fields).
//! - List replies carry org-wide side lists (the account list has every contact's id and
//!   first name, the deal list every account): bytes per page grow with the organization.
//!   They are skipped while decoding, not kept, and larger pages amortize them.
//! - No webhooks usable without a browser session; Ferry polls.
//! - Credentials refused answer 403 (not 401), which the shared client treats as `auth`.
//! - `custom_fields` keys without a definition in BottleCRM are dropped silently by the
//!   server: define `erp_id` (or your key field) for each object first.
//! - Account names are unique per organization, but two creates with one name at the same
//!   moment race inside BottleCRM: one gets HTTP 500 from its unique index (a transient
//!   error, retried later, when it becomes the usual 400 "already exists").

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
mod test_peer;
#[cfg(test)]
mod tests;

pub use config::{SourceOptions, SystemSettings, TargetOptions};
pub use connector::{BottleCrmConnector, BottleCrmFactory};
pub use objects::Object;
pub use source::SnapshotCursor;
