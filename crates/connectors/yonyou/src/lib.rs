//! # `yonyou`: Yonyou 用友 YonBIP / YonSuite over its open API
//!
//! Reads customers, materials and sales orders incrementally by their `pubts` and writes
//! them by code, taking sales orders through submit and audit. Built and tested against a
//! wire-level double made from the published documentation (`ferry_doubles::yonyou`, the
//! dossier `shared/docs/apis/yonyou-yonbip.md`), not against a real tenant: the README lists
//! what a first run against one must verify.
//!
//! ```yaml
//! systems:
//!   erp:
//!     kind: yonyou
//!     url: https://apigateway.yonyoucloud.com/   # the data-centre lookup
//!     tenant_id: "${YY_TENANT_ID}"
//!     app_key: "${YY_APP_KEY}"                    # 自建应用
//!     app_secret: "${YY_APP_SECRET}"
//!     # gateway_url: https://c2.yonyoucloud.com/iuap-api-gateway   (with token_url: no lookup)
//!     # token_url: https://c2.yonyoucloud.com/iuap-api-auth
//!     rate: { per_second: 1 }                      # the free quota of many APIs: 60 a minute
//!     events: true                                 # take event pushes at /hooks/erp
//!
//! flows:
//!   customers_to_crm:
//!     entity: customer
//!     source: { system: erp, object: customers, overlap: 2m }
//!   materials_from_crm:
//!     entity: product
//!     target:
//!       system: erp
//!       object: materials                          # upsert by code, the flow's key
//!       fields: { name: name.simplifiedName }
//!       defaults: { orgCode: global00, manageClassCode: "01", realProductAttribute: 1,
//!                   unitUseType: 2, unitCode: PCS, detail: { stockUnitCode: PCS } }
//!   orders_to_erp:
//!     entity: sales_order
//!     target:
//!       system: erp
//!       object: sales_orders
//!       fields: { customer_code: agentId, total: payMoney, order_date: vouchdate }
//!       defaults: { salesOrgId: "101", settlementOrgId: "101", transactionTypeId: SO01,
//!                   "orderPrices!currency": CNY, "orderPrices!natCurrency": CNY,
//!                   "orderPrices!exchRate": 1, "orderPrices!exchangeRateType": "01",
//!                   "orderPrices!taxInclusive": true }
//!       lines:
//!         fields: { sku: productId, quantity: qty, gross_price: oriTaxUnitPrice, gross_amount: oriSum }
//!         defaults: { stockOrgId: "101", settlementOrgId: "101", taxId: VAT13,
//!                     masterUnitId: PCS, iProductUnitId: PCS }
//!       after_save: [submit, audit]
//! ```
//!
//! - **Hosts and token**: the tenant's gateway is looked up, a self-built app token is taken
//!   by a signed request and carried as `access_token`, renewed before it expires and once
//!   when a reply says it is invalid (310036, 310001).
//! - **Errors inside HTTP 200**: the envelope's `code` is read on every reply, text or
//!   number; rate-limit codes (310032/310039/310042/310046) are waited out; a refused record
//!   is that record's dead letter with Yonyou's own message.
//! - **Reading**: lists re-anchored on `pubts` at every page, ties skipped by id and
//!   digest, an overlap window; contents from the detail APIs.
//! - **Writing**: lookup by code, the idempotent (MDD) saves with a `resubmitCheckKey`
//!   derived from the request, the batch customer save for updates, `batchsubmit` and
//!   `batchaudit` for sales orders.
//! - **Event pushes**: verified (HmacSHA256), decrypted (AES-256-CBC) and turned into the
//!   records of the flows reading the object.

mod api;
mod body;
mod config;
mod connector;
mod detail;
mod discover;
mod inbound;
mod objects;
mod orders;
mod reply;
mod sink;
mod source;
mod token;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{LinesTarget, Operation, SourceOptions, SystemSettings, TargetOptions};
pub use connector::{YonyouConnector, YonyouFactory};
pub use objects::Object;
