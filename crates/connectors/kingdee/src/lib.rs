//! # `kingdee`: Kingdee 金蝶云星空 (K/3 Cloud) over its WebAPI
//!
//! Reads forms incrementally by their change time and writes them by number, taking each
//! document through its life cycle. Built and tested against a wire-level double made from
//! the published documentation (`ferry_doubles::kingdee`, the dossier
//! `shared/docs/apis/kingdee-k3cloud.md`), not against a real tenant: the README lists what a
//! first run against one must verify.
//!
//! ```yaml
//! systems:
//!   erp:
//!     kind: kingdee
//!     url: https://erp.example.com/k3cloud/
//!     acct_id: 5dde42aa8b86d7          # 数据中心 ID
//!     login: { by: app_secret, user: Administrator, app_id: "${KD_APP_ID}", app_secret: "${KD_APP_SECRET}" }
//!     # or: login: { by: password, user: …, password: … } | { by: signature, user: …, app_id: …, app_secret: … }
//!     lcid: 2052                       # messages in 简体中文 (default)
//!     time_zone: "+08:00"              # the server's local time (default)
//!
//! flows:
//!   customers_to_crm:
//!     entity: customer
//!     source:
//!       system: erp
//!       form: BD_Customer
//!       fields: [FNumber, FName, FTEL, FCreditAmount, FUseOrgId.FNumber]
//!       filter: "FForbidStatus = 'A'"
//!       overlap: 2m
//!   orders_to_erp:
//!     entity: sales_order
//!     target:
//!       system: erp
//!       form: SAL_SaleOrder             # upsert by FBillNo, the flow's key (`number`)
//!       fields: { customer_code: FCustId, order_date: FDate }
//!       refs: [FCustId, FSaleOrgId]
//!       defaults: { FSaleOrgId: "100" }
//!       lines:
//!         entry: FSaleOrderEntry
//!         fields: { sku: FMaterialId, quantity: FQty, unit_price: FPrice, tax_rate: FEntryTaxRate }
//!         refs: [FMaterialId]
//!       after_save: [submit, audit]
//!       when_audited: unaudit
//!       push_to: [SAL_OUTSTOCK]
//! ```
//!
//! - **Login** by password, app secret or signature; the session (`KDSVCSessionId`) goes on
//!   every call and is renewed once when a reply says the context is lost (`MsgCode` 1).
//! - **Errors inside HTTP 200**: `ResponseStatus` is read on every reply; each record's own
//!   `Errors` entry (by `DIndex`) becomes its dead letter with Kingdee's message; 13 (网控)
//!   and 14 (调用限制) are retried with backoff.
//! - **Reading**: `ExecuteBillQuery` by `(change time, id)` keyset with an overlap window;
//!   bills' entries as `lines`; `poll: all` for forms without a change time, and `sum_by`
//!   for one record per material out of stock rows per warehouse.
//! - **Writing**: lookup by number, `BatchSave` with the internal ids, `Submit`/`Audit`,
//!   `UnAudit` before changing an audited document (when allowed), `Push` to downstream
//!   bills, `Allocate` of new base data to organisations.

mod api;
mod config;
mod connector;
mod discover;
mod forms;
mod groups;
mod login;
mod reply;
mod sink;
mod source;
mod unchanged;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{
    LinesSource, LinesTarget, Login, Operation, Poll, SourceOptions, SystemSettings, TargetOptions,
    WhenAudited,
};
pub use connector::{KingdeeConnector, KingdeeFactory};
