//! # ferry-model
//!
//! The bottom layer of Ferry: the words every other crate speaks.
//!
//! - [`Entity`] and the canonical field catalogue ([`Entity::fields`]): the built-ins
//!   (customer, contact, supplier, product, price, stock, stock_movement, opportunity,
//!   quotation, sales_order, contract, invoice, payment, shipment, purchase_order) and the
//!   entities a workspace declares under `entities:` ([`config::entities`]).
//! - [`Record`]: one object from one system as it travels through a flow.
//! - [`ErrorKind`] and [`ConnectorError`]: the portable classification that retry and
//!   dead-letter decisions look at (and nothing else).
//! - [`states`]: document state machines (the status changes of a quotation, order, invoice,
//!   shipment… or of a declared entity that Ferry may write).
//! - [`config`]: the typed `ferry.yaml` (systems, flows, mappings), its loading with `${ENV}` /
//!   `${file:path}` interpolation, and the checks that point at the file, line and key at fault.
//!
//! This crate does no I/O beyond reading the config file, so every layer above can depend on
//! it without cost.

pub mod config;
pub mod entity;
pub mod error;
pub mod record;
pub mod secret;
pub mod states;

pub use entity::{Entity, FieldDef, FieldType};
pub use error::{ConnectorError, ErrorKind};
pub use record::{Record, content_hash};
