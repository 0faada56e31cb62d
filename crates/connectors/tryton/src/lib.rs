//! # The `tryton` connector
//!
//! Reads and writes the models of a Tryton database (tested with Tryton 8.2) over its
//! JSON-RPC API, through the shared [`http`](ferry_kit::http) client: one client per system, so
//! every flow on the system shares its session, rate limit and daily quota.
//!
//! ```yaml
//! systems:
//!   erp:
//!     kind: tryton
//!     url: https://erp.example.com          # the server; also timeout, retries, rate, daily_quota
//!     database: erp
//!     user: ferry
//!     password: ${TRYTON_PASSWORD}
//!     context: { company: 1 }               # passed with every call
//!     language: en                          # default en
//! flows:
//!   customers_from_erp:
//!     entity: customer
//!     source:
//!       system: erp
//!       model: party.party
//!       fields: [name, code, identifiers.code, contact_mechanisms.value, addresses.city]
//!       domain: [["active", "=", true]]    # optional extra filter
//!       overlap: 5s                         # default 5s
//!     …
//!   orders_to_erp:
//!     entity: sales_order
//!     target:
//!       system: erp
//!       model: sale.sale
//!       key: reference                      # found by `reference`, written there on create
//!       fields: { order_date: sale_date, customer_code: ~, total: ~ }
//!       defaults: { company: 1, currency: 1, warehouse: 5, payment_term: 1 }
//!       lookup:
//!         party: { model: party.party, by: identifiers.code, from: customer_code }
//!         invoice_address: { model: party.address, by: party.identifiers.code, from: customer_code }
//!         shipment_address: { model: party.address, by: party.identifiers.code, from: customer_code }
//!       children:
//!         - field: lines
//!           from: lines
//!           values: { type: line }
//!           fields: { sku: product, uom: unit, line_no: ~, amount: ~ }
//!           lookup:
//!             product: { model: product.product, by: code }
//!             unit: { model: product.uom, by: name }
//!       on_create: [quote, confirm]
//!   customers_to_erp:
//!     entity: customer
//!     target:
//!       system: erp
//!       model: party.party
//!       key: identifiers.code               # a new party gets an identifier with the code
//!       fields: { tax_id: ~, status: ~ }
//!       children:
//!         - { field: contact_mechanisms, values: { type: email }, fields: { email: value } }
//!         - { field: contact_mechanisms, values: { type: phone }, fields: { phone: value } }
//!         - field: addresses
//!           fields: { street: street, city: city, postal_code: postal_code, country: country }
//!           lookup: { country: { model: country.country, by: code } }
//! ```
//!
//! ## Reading
//!
//! A source reads one model with `search_read`, keyset-paged by `(last_modified_at, id)`
//! (`last_modified_at` is `write_date`, or `create_date` for a record never written). The
//! cursor is `{"v":1,"w":"<RFC 3339, µs>","id":42}`: the next page is
//! `last_modified_at > w OR (last_modified_at = w AND id > 42)`, so records sharing one
//! timestamp across a page boundary are read once each. When a scan ends, the cursor moves
//! back by `overlap` (`"end":true`, no id), so records committed late with an older
//! timestamp are found by the next scan; the engine's read hashes make the re-read records
//! cost no writes. Once the overlap has passed with nothing newer the window settles at the
//! exact position after the newest record, as the sql source's does (`ferry_kit::keyset`). Archived records are read too (archiving is a change). Dotted fields read
//! through relations (`party.name`; through a one2many, `identifiers.code` is a list), and
//! `children: {lines: [product.code, quantity]}` reads lines as objects. Values are plain
//! JSON: decimals as strings (money stays exact), dates `YYYY-MM-DD`, datetimes RFC 3339
//! UTC. `fetch` returns the current state; an id that no longer exists comes back deleted.
//!
//! Two Tryton gotchas decide what to read:
//! - **Prices live on `product.template`**: a price change does not move the variant's
//!   (`product.product`) timestamp. Read prices from `model: product.template`
//!   (`fields: [code, list_price, products.code]`).
//! - **Stock moves touch no product timestamp.** Read stock levels with `poll: all` (every
//!   product at each scan; only changed levels are written, thanks to the read hashes) and
//!   the warehouse in the context: `model: product.product, poll: all, fields: [code,
//!   quantity, forecast_quantity], context: {locations: [5]}`. Without `locations` Tryton
//!   answers 0.
//!
//! ## Writing
//!
//! An upsert writes by target id when the engine knows it and the record still exists,
//! else searches `key` (archived records included; Tryton does not make identifiers unique,
//! so the lowest id wins), else creates. Many2one fields can be given by code (`lookup`,
//! searched once per batch for all codes). One2many children are created with the record;
//! on update a child made of the record's own fields is written in place (the contact
//! mechanism with `type: email`), a list (`lines`) is replaced (`on_update: keep` leaves it).
//! After a create, the `on_create` buttons run in order; a record a button refuses is
//! deleted again (when Tryton allows) so the next attempt starts afresh. Each batch is one
//! `create` and one `write` call; when Tryton refuses one, the records are sent one by one,
//! so a bad record gets its own error with Tryton's message (`A value is required for field
//! "Sale UoM"…`) and the others are written.
//!
//! ## Deleting, archiving, reading back
//!
//! For `on_delete` and `ferry reconcile` the sink also deletes (`delete` on the records found
//! by target id or key; one Tryton refuses, such as a party a confirmed sale uses, gets its
//! own error), updates without creating (`on_delete: { archive: { active: false } }`: a
//! `write` of the fields that differ; a record not found is left alone), and reads the model
//! back (`scan`, in `scan.rs`): by id, archived records included, only records holding a key,
//! and only the fields the flow's mapping makes, each from where the sink writes it.
//!
//! ## Errors
//!
//! Tryton's `UserError` and `UserWarning` are `Validation` errors carrying Tryton's own
//! message, `ConcurrencyException` is `Conflict`, an expired session (401) logs in again
//! once, a 403 (method not exposed) is `Fatal`; the HTTP failures are classified by the
//! shared client (`ferry_kit::http`).

mod config;
mod connector;
mod discover;
mod probe;
mod rpc;
mod scan;
mod sink;
mod source;
mod value;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod test_peer;
#[cfg(test)]
mod tests;

pub use config::{
    ChildOptions, Lookup, OnUpdate, Password, Poll, TrytonSettings, TrytonSourceOptions,
    TrytonTargetOptions,
};
pub use connector::{TrytonConnector, TrytonFactory};
