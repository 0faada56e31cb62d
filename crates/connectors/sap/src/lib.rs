//! # `sap`: SAP S/4HANA over its A2X OData v2 APIs
//!
//! Reads entity sets incrementally by their change stamp and writes them by business key:
//! sales orders by deep insert with their items, updates with `If-Match`, changes in
//! `$batch` change sets. Built and tested against a wire-level double made from published
//! documentation (`ferry_doubles::sap`, the dossier `shared/docs/apis/sap-s4hana-odata.md`),
//! not against a real system: the README lists what a first run against one must verify.
//!
//! ```yaml
//! systems:
//!   s4:
//!     kind: sap
//!     url: https://my000000-api.s4hana.cloud.sap
//!     auth: { type: basic, username: FERRY_COMM_USER, password: "${SAP_PASSWORD}" }
//!     # or: auth: { type: oauth2_client_credentials, token_url: /sap/bc/sec/oauth2/token,
//!     #             client_id: "${SAP_CLIENT_ID}", client_secret: "${SAP_CLIENT_SECRET}", client_auth: basic }
//!     # sap_client: "100"            # on-premise systems with several clients
//!
//! flows:
//!   orders_to_crm:
//!     entity: sales_order
//!     source:
//!       system: s4
//!       service: API_SALES_ORDER_SRV
//!       entity_set: A_SalesOrder
//!       expand: [to_Item]              # the items, as `lines`
//!       filter: "SalesOrganization eq '1010'"
//!       overlap: 2m
//!   credit_to_crm:
//!     entity: credit
//!     source: { system: s4, service: API_CRDTMBUSINESSPARTNER, entity_set: A_CreditManagementAccount }
//!   orders_to_erp:
//!     entity: sales_order
//!     target:
//!       system: s4
//!       service: API_SALES_ORDER_SRV
//!       entity_set: A_SalesOrder       # looked up by PurchaseOrderByCustomer = the CRM number
//!       fields: { number: PurchaseOrderByCustomer, customer_code: SoldToParty }
//!       defaults: { SalesOrderType: OR, SalesOrganization: "1010", DistributionChannel: "10", OrganizationDivision: "00" }
//!       lines: { fields: { sku: Material, quantity: RequestedQuantity } }
//! ```
//!
//! - **Auth**: the kit's `basic` or `oauth2_client_credentials`; a CSRF token and its
//!   session cookie on every modifying request, fetched again once after `403
//!   x-csrf-token: Required`.
//! - **Reading**: `$filter` on the stamp and key (keyset), `$orderby`, `$top`, `__next`
//!   followed; `/Date(…)/` as RFC 3339 (a day property as the day), decimals as text.
//! - **Writing**: lookup by key, POST (deep insert of lines) or PATCH of the changed
//!   properties with `If-Match` (412: read again, sent again once) and of changed lines
//!   item by item (`items.rs`), each in its own `$batch` change set; SAP's error message as
//!   the record's refusal. Values in their `$metadata` types' JSON forms (`schema.rs`).

mod api;
mod config;
mod connector;
mod discover;
mod items;
mod schema;
mod sink;
mod source;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{LinesTarget, Poll, SourceOptions, StampType, SystemSettings, TargetOptions};
pub use connector::{SapConnector, SapFactory};
