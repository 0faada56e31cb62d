//! # `jiandaoyun`: Jiandaoyun 简道云 forms over the open API v5
//!
//! Reads a form incrementally by its update time, writes it by a key widget (sub-forms for
//! lines), and takes the platform's data pushes (数据推送) as webhooks. Built and tested
//! against a wire-level double made from the published documentation
//! (`ferry_doubles::jiandaoyun`, the dossier `shared/docs/apis/jiandaoyun.md`), not against a
//! real account: the README lists what a first run against one must verify.
//!
//! ```yaml
//! systems:
//!   jdy:
//!     kind: jiandaoyun
//!     api_key: "${JDY_API_KEY}"
//!     push_secret: "${JDY_PUSH_SECRET}"    # to take data pushes at POST /hooks/jdy
//!
//! flows:
//!   customers_from_jdy:
//!     entity: customer
//!     source: { system: jdy, app: 6650c0a1f2e4b3000a1b2c3d, form: 6650c0a1f2e4b3000a1b2c41 }
//!     mapping: { code: _widget_1715000000002, name: _widget_1715000000001 }
//!   stock_to_jdy:
//!     entity: product
//!     target:
//!       system: jdy
//!       app: 6650c0a1f2e4b3000a1b2c3d
//!       form: 6650c0a1f2e4b3000a1b2c50
//!       key: sku                           # the widget (alias) holding the business key
//!       fields: { name: product_name, list_price: price }
//! ```
//!
//! - **Reading**: `data/list` filtered by `updateTime` from the cursor's window, paged by
//!   `_id`; records read again unchanged are skipped, a record changed twice in one second
//!   is read again.
//! - **Writing**: keys found with one `in` filter; updates by `_id`, creates by
//!   `batch_create` (one by one when a batch is refused, so each refusal is its record's);
//!   `transaction_id`s make repeats harmless; values wrapped as `{"value": …}`.
//! - **Errors**: HTTP statuses with `{code, msg}` (429 waited out), and the same inside an
//!   HTTP 200; requests kept to 10 a second unless `rate` says otherwise.
//! - **Webhooks**: `X-JDY-Signature` verified, `X-JDY-DeliverId` as the delivery id.

mod api;
mod config;
mod connector;
mod discover;
mod inbound;
mod sink;
mod source;
mod values;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{LinesTarget, SourceOptions, SystemSettings, TargetOptions};
pub use connector::{DEFAULT_URL, JdyConnector, JdyFactory};
pub use inbound::signature as push_signature;
