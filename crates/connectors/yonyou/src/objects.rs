//! The objects the connector reads and writes, and the documented APIs of each (the
//! dossier's §5 and §6).

use schemars::JsonSchema;
use serde::Deserialize;

/// A Yonyou object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    /// Customers (客户档案, `merchant`).
    #[serde(alias = "merchant")]
    Customers,
    /// Materials (物料档案, `product`).
    #[serde(alias = "product")]
    Materials,
    /// Sales orders (销售订单, `voucherorder`).
    #[serde(alias = "voucherorder")]
    SalesOrders,
}

/// The customer list (`data` a bare array, no total).
pub const MERCHANT_LIST: &str = "yonbip/digitalModel/merchant/newlist";
/// The customer detail, by `id` or `code`, one object or an array.
pub const MERCHANT_DETAIL: &str = "yonbip/digitalModel/merchant/newBatchDetail";
/// The customer save (MDD idempotent, insert only).
pub const MERCHANT_INSERT: &str = "yonbip/digitalModel/merchant/idempotent/newinsert";
/// The customer batch save (`_status` Insert/Update per row; per-row messages).
pub const MERCHANT_BATCH: &str = "yonbip/digitalModel/batch/merchant/save";
/// The material list.
pub const PRODUCT_LIST: &str = "yonbip/digitalModel/product/listproductbycondition";
/// The material detail, by `id` or `productCode` plus `orgId` or `orgCode`.
pub const PRODUCT_DETAIL: &str = "yonbip/digitalModel/product/batchdetailnew";
/// The material save (MDD idempotent, upsert by code).
pub const PRODUCT_SAVE: &str = "yonbip/digitalModel/product/idempotent/save";
/// The sales-order list.
pub const ORDER_LIST: &str = "yonbip/sd/voucherorder/list";
/// The sales-order detail (`GET ?id=`), with its lines.
pub const ORDER_DETAIL: &str = "yonbip/sd/voucherorder/detail";
/// The sales-order save (MDD idempotent).
pub const ORDER_SAVE: &str = "yonbip/sd/voucherorder/singleSave";
/// Sales-order life-cycle operations live under this prefix (`batchsubmit`, `batchaudit`).
pub const ORDER_PREFIX: &str = "yonbip/sd/voucherorder/";

impl Object {
    /// Its name in settings.
    pub fn name(self) -> &'static str {
        match self {
            Object::Customers => "customers",
            Object::Materials => "materials",
            Object::SalesOrders => "sales_orders",
        }
    }

    /// Its list API.
    pub fn list_path(self) -> &'static str {
        match self {
            Object::Customers => MERCHANT_LIST,
            Object::Materials => PRODUCT_LIST,
            Object::SalesOrders => ORDER_LIST,
        }
    }

    /// The largest `pageSize` its list takes (5000 is documented for customers, 500 for a
    /// list like the others).
    pub fn max_page(self) -> usize {
        match self {
            Object::Customers => 5000,
            Object::Materials | Object::SalesOrders => 500,
        }
    }

    /// Every object, for `discover`.
    pub fn all() -> [Object; 3] {
        [Object::Customers, Object::Materials, Object::SalesOrders]
    }

    /// The event codes (事件订阅) that say a record of this object changed.
    pub fn event_prefixes(self) -> &'static [&'static str] {
        match self {
            Object::Customers => &["YXYBASEDOC_AA_MERCHANT"],
            Object::Materials => &["YXYBASEDOC_PC_PRODUCT_"],
            Object::SalesOrders => &["SALE_"],
        }
    }
}
