//! What each source object reads: its SuiteQL table, the condition that picks its rows,
//! and its columns (also what `ferry discover` lists).

use crate::config::ObjectKind;

/// One object a source reads.
#[derive(Debug)]
pub struct ObjectDef {
    pub kind: ObjectKind,
    /// The name `ferry discover` shows.
    pub name: &'static str,
    pub table: &'static str,
    /// The condition that picks the object's rows from the table.
    pub condition: Option<&'static str>,
    pub columns: &'static [&'static str],
    /// Whether records carry `lines` from `transactionline`.
    pub lines: bool,
}

const TRANSACTION: &[&str] = &[
    "id",
    "tranid",
    "externalid",
    "entity",
    "trandate",
    "status",
    "otherrefnum",
    "memo",
    "foreigntotal",
    "createdfrom",
];

pub const OBJECTS: &[ObjectDef] = &[
    ObjectDef {
        kind: ObjectKind::Customers,
        name: "customers",
        table: "customer",
        condition: None,
        columns: &[
            "id",
            "entityid",
            "externalid",
            "companyname",
            "isperson",
            "firstname",
            "lastname",
            "email",
            "phone",
            "isinactive",
        ],
        lines: false,
    },
    ObjectDef {
        kind: ObjectKind::Items,
        name: "items",
        table: "item",
        condition: None,
        columns: &[
            "id",
            "itemid",
            "externalid",
            "displayname",
            "itemtype",
            "baseprice",
            "isinactive",
        ],
        lines: false,
    },
    ObjectDef {
        kind: ObjectKind::SalesOrders,
        name: "sales_orders",
        table: "transaction",
        condition: Some("type = 'SalesOrd'"),
        columns: TRANSACTION,
        lines: true,
    },
    ObjectDef {
        kind: ObjectKind::Invoices,
        name: "invoices",
        table: "transaction",
        condition: Some("type = 'CustInvc'"),
        columns: TRANSACTION,
        lines: true,
    },
    ObjectDef {
        kind: ObjectKind::Fulfilments,
        name: "fulfilments",
        table: "transaction",
        condition: Some("type = 'ItemShip'"),
        columns: &[
            "id",
            "tranid",
            "externalid",
            "entity",
            "trandate",
            "status",
            "shipstatus",
            "createdfrom",
            "memo",
        ],
        lines: true,
    },
    ObjectDef {
        kind: ObjectKind::Stock,
        name: "stock",
        table: "item",
        condition: Some("itemtype = 'InvtPart'"),
        columns: &["id", "itemid", "externalid", "displayname"],
        lines: false,
    },
];

/// The definition of `kind`.
pub fn def(kind: ObjectKind) -> &'static ObjectDef {
    OBJECTS
        .iter()
        .find(|o| o.kind == kind)
        .unwrap_or(&OBJECTS[0])
}

/// The fields a line record carries.
pub const LINE_FIELDS: &[&str] = &[
    "line", "item", "sku", "quantity", "rate", "amount", "location",
];

/// The fields a stock record carries besides the item's columns.
pub const STOCK_FIELDS: &[&str] = &["sku", "locations", "on_hand", "available"];
