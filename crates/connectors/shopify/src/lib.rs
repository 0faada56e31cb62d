//! # `shopify`: Shopify over its Admin GraphQL API
//!
//! Reads customers, products (variants, stock per location) and orders (lines with taxes
//! and discounts, fulfilments, transactions) incrementally by `updated_at`; writes
//! customers (`customerSet`), products (`productSet`), stock (`inventorySetQuantities`)
//! and shipments (`fulfillmentCreate`); takes Shopify's HMAC-signed webhooks. Built and
//! tested against a wire-level double made from the published documentation
//! (`ferry_doubles::shopify`, the dossier `shared/docs/apis/shopify.md`), not against a real
//! shop: the README lists what a first run against one must verify.
//!
//! ```yaml
//! systems:
//!   shop:
//!     kind: shopify
//!     url: https://acme-tea.myshopify.com
//!     access_token: "${SHOPIFY_TOKEN}"        # shpat_… (custom app) or an offline token
//!     client_secret: "${SHOPIFY_SECRET}"      # verifies webhooks at POST /hooks/shop
//!     api_version: "2025-07"
//!
//! flows:
//!   orders_to_erp:
//!     entity: sales_order
//!     source:
//!       system: shop
//!       object: orders                        # customers | products | orders
//!       query: "financial_status:paid"        # ANDed with the updated_at condition
//!       overlap: 2m
//!       bulk: auto                            # first read by bulk operation (default)
//!   customers_to_erp:
//!     entity: customer
//!     source: { system: shop, object: customers, metafields: [erp.customer_no] }
//!   customers_to_shop:
//!     entity: customer
//!     target:
//!       system: shop
//!       object: customers
//!       key: erp.customer_no                  # customerSet by this metafield (or: email)
//!       fields: { name: lastName, email: email, phone: phone }
//!   stock_to_shop:
//!     entity: stock
//!     target:
//!       system: shop
//!       object: inventory                     # inventorySetQuantities, name: available
//!       reason: correction
//!       locations: { SH01: "gid://shopify/Location/1", LA: "Los Angeles DC" }
//!   shipments_to_shop:
//!     entity: shipment
//!     target: { system: shop, object: fulfillments }   # order_number, tracking_number, carrier, lines
//! ```
//!
//! - **Reading**: cursor paging with `query: "updated_at:>='…'"` and `sortKey: UPDATED_AT`,
//!   positions `(updatedAt, id)` with the kit's overlap window ([`source`]); a first read,
//!   or a large catch-up, by bulk operation ([`bulk`]).
//! - **Throttle**: the cost figures of every answer (`extensions.cost`) are followed; a
//!   query waits for its points, and a THROTTLED answer is waited out for what its figures
//!   say ([`throttle`]).
//! - **Writing**: per record, Shopify's `userErrors` as that record's error ([`sink`]).
//! - **Webhooks**: `X-Shopify-Hmac-Sha256` verified, the record fetched by id ([`inbound`]).

mod api;
mod bulk;
mod config;
mod connector;
mod discover;
mod fulfil;
mod gql;
mod inbound;
mod schema;
mod sink;
mod source;
mod stock;
pub mod throttle;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{Bulk, Object, SourceOptions, SystemSettings, TargetObject, TargetOptions};
pub use connector::{ShopifyConnector, ShopifyFactory};
pub use inbound::signature;
