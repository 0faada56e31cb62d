//! The record types the record API serves and the SuiteQL tables made from the store.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::NsError;
use crate::store::{Record, RecordStore};

/// A record type of the REST record API.
#[derive(Debug)]
pub struct RecordType {
    /// The name in the URL (`salesOrder`).
    pub name: &'static str,
    /// The store object (`customer`, `item`, `transaction`).
    pub object: &'static str,
    /// `transaction.type` of this record type, for transactions.
    pub tran: Option<&'static str>,
    /// `item.itemtype` of this record type, for items.
    pub itemtype: Option<&'static str>,
    /// Body fields (camelCase) that hold plain values.
    pub fields: &'static [&'static str],
    /// Body fields that reference another record, and the store object they name.
    pub refs: &'static [(&'static str, &'static str)],
    /// Required fields and NetSuite's label of each, for "Please enter value(s) for: …".
    pub required: &'static [(&'static str, &'static str)],
    /// Whether it has the `item` sublist.
    pub lines: bool,
}

const ITEM_FIELDS: &[&str] = &[
    "itemId",
    "externalId",
    "displayName",
    "salesDescription",
    "basePrice",
    "isInactive",
];
const TRAN_FIELDS: &[&str] = &[
    "tranId",
    "externalId",
    "tranDate",
    "otherRefNum",
    "memo",
    "status",
    "shipStatus",
];
const TRAN_REFS: &[(&str, &str)] = &[("entity", "customer"), ("createdFrom", "transaction")];

pub const TYPES: &[RecordType] = &[
    RecordType {
        name: "customer",
        object: "customer",
        tran: None,
        itemtype: None,
        fields: &[
            "entityId",
            "externalId",
            "companyName",
            "isPerson",
            "firstName",
            "lastName",
            "email",
            "phone",
            "isInactive",
            "comments",
        ],
        refs: &[],
        required: &[("companyName", "Company Name")],
        lines: false,
    },
    RecordType {
        name: "inventoryItem",
        object: "item",
        tran: None,
        itemtype: Some("InvtPart"),
        fields: ITEM_FIELDS,
        refs: &[],
        required: &[("itemId", "Item Name/Number")],
        lines: false,
    },
    RecordType {
        name: "nonInventorySaleItem",
        object: "item",
        tran: None,
        itemtype: Some("NonInvtPart"),
        fields: ITEM_FIELDS,
        refs: &[],
        required: &[("itemId", "Item Name/Number")],
        lines: false,
    },
    RecordType {
        name: "serviceSaleItem",
        object: "item",
        tran: None,
        itemtype: Some("Service"),
        fields: ITEM_FIELDS,
        refs: &[],
        required: &[("itemId", "Item Name/Number")],
        lines: false,
    },
    RecordType {
        name: "salesOrder",
        object: "transaction",
        tran: Some("SalesOrd"),
        itemtype: None,
        fields: TRAN_FIELDS,
        refs: TRAN_REFS,
        required: &[("entity", "Customer")],
        lines: true,
    },
    RecordType {
        name: "invoice",
        object: "transaction",
        tran: Some("CustInvc"),
        itemtype: None,
        fields: TRAN_FIELDS,
        refs: TRAN_REFS,
        required: &[("entity", "Customer")],
        lines: true,
    },
    RecordType {
        name: "itemFulfillment",
        object: "transaction",
        tran: Some("ItemShip"),
        itemtype: None,
        fields: TRAN_FIELDS,
        refs: TRAN_REFS,
        required: &[("createdFrom", "Created From")],
        lines: true,
    },
];

/// Line fields of the `item` sublist: plain ones, and references.
pub const LINE_FIELDS: &[&str] = &["line", "quantity", "rate", "amount", "description"];
pub const LINE_REFS: &[(&str, &str)] = &[("item", "item"), ("location", "location")];

/// The record type called `name` in URLs.
pub fn record_type(name: &str) -> Option<&'static RecordType> {
    TYPES.iter().find(|t| t.name == name)
}

/// The record type of a stored record of `object`.
pub fn type_of(object: &str, fields: &Map<String, Value>) -> Option<&'static RecordType> {
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    TYPES.iter().find(|t| {
        t.object == object
            && match object {
                "transaction" => t.tran == text("type"),
                "item" => t.itemtype == text("itemtype"),
                _ => true,
            }
    })
}

/// A SuiteQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Text(String),
    Num(f64),
    Time(DateTime<Utc>),
}

impl Val {
    /// As SuiteQL answers it: text (numbers written out, times in the user's date format
    /// `M/D/YYYY`), or nothing for null (the column is left out of the row).
    pub fn render(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Text(s) => Some(s.clone()),
            Val::Num(n) => Some(number(*n)),
            Val::Time(t) => Some(t.format("%-m/%-d/%Y").to_string()),
        }
    }
}

/// A number as NetSuite writes it: no `.0` on whole numbers.
pub fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A row of a SuiteQL table.
pub type Row = BTreeMap<String, Val>;

/// The tables and their columns. Columns are typed: ids and amounts are numbers, dates are
/// times, the rest text.
pub const TABLES: &[(&str, &[&str])] = &[
    (
        "customer",
        &[
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
            "comments",
            "datecreated",
            "lastmodifieddate",
        ],
    ),
    (
        "item",
        &[
            "id",
            "itemid",
            "externalid",
            "displayname",
            "itemtype",
            "salesdescription",
            "baseprice",
            "isinactive",
            "isonline",
            "datecreated",
            "lastmodifieddate",
        ],
    ),
    (
        "transaction",
        &[
            "id",
            "tranid",
            "type",
            "externalid",
            "entity",
            "trandate",
            "otherrefnum",
            "memo",
            "status",
            "shipstatus",
            "createdfrom",
            "foreigntotal",
            "datecreated",
            "lastmodifieddate",
        ],
    ),
    (
        "transactionline",
        &[
            "id",
            "transaction",
            "linesequencenumber",
            "mainline",
            "item",
            "quantity",
            "rate",
            "netamount",
            "location",
            "memo",
        ],
    ),
    (
        "inventoryitemlocations",
        &["item", "location", "quantityonhand", "quantityavailable"],
    ),
    ("location", &["id", "name", "isinactive"]),
];

const NUMBERS: &[&str] = &[
    "id",
    "entity",
    "item",
    "createdfrom",
    "transaction",
    "location",
    "linesequencenumber",
    "quantity",
    "rate",
    "netamount",
    "foreigntotal",
    "baseprice",
    "quantityonhand",
    "quantityavailable",
];

/// The columns of `table`.
pub fn columns(table: &str) -> Option<&'static [&'static str]> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, c)| *c)
}

/// Every row of `table`.
pub fn rows(store: &RecordStore, table: &str) -> Result<Vec<Row>, NsError> {
    let list = |object: &str| {
        store
            .list(object, None, None)
            .map_err(|e| NsError::parameter(e.to_string()))
    };
    let mut rows: Vec<Row> = match table {
        "customer" | "item" | "transaction" | "location" => {
            list(table)?.iter().map(|r| header_row(table, r)).collect()
        }
        "transactionline" => list("transaction")?.iter().flat_map(line_rows).collect(),
        "inventoryitemlocations" => list("item")?.iter().flat_map(stock_rows).collect(),
        _ => {
            return Err(NsError::parameter(format!(
                "Invalid search query. Detailed unprocessed description follows. Search error occurred: Record '{table}' was not found."
            )));
        }
    };
    rows.sort_by(|a, b| id_of(a).total_cmp(&id_of(b)));
    Ok(rows)
}

fn id_of(row: &Row) -> f64 {
    match row.get("id") {
        Some(Val::Num(n)) => *n,
        _ => 0.0,
    }
}

/// A stored value as the column `name` types it.
fn typed(name: &str, value: Option<&Value>) -> Val {
    let Some(value) = value else { return Val::Null };
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Text(if *b { "T" } else { "F" }.into()),
        Value::Number(n) => Val::Num(n.as_f64().unwrap_or(0.0)),
        Value::String(s) if NUMBERS.contains(&name) => {
            s.parse().map(Val::Num).unwrap_or(Val::Text(s.clone()))
        }
        Value::String(s) if name.ends_with("date") => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(Val::Text(s.clone()), |t| Val::Time(t.and_utc())),
        Value::String(s) => Val::Text(s.clone()),
        other => Val::Text(other.to_string()),
    }
}

fn header_row(table: &str, record: &Record) -> Row {
    let mut row: Row = columns(table)
        .unwrap_or_default()
        .iter()
        .map(|c| ((*c).to_owned(), typed(c, record.fields.get(*c))))
        .collect();
    row.insert("id".into(), Val::Num(record.id as f64));
    if table != "location" {
        row.insert("datecreated".into(), Val::Time(record.created_at));
        row.insert("lastmodifieddate".into(), Val::Time(record.updated_at));
    }
    if table == "transaction" {
        let total: f64 = lines(record)
            .iter()
            .filter_map(|l| l.get("amount").and_then(Value::as_f64))
            .sum();
        row.insert("foreigntotal".into(), Val::Num(total));
    }
    row
}

/// The lines of a stored transaction or the stock of an item (`key`).
fn sublist<'a>(record: &'a Record, key: &str) -> Vec<&'a Map<String, Value>> {
    record
        .fields
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

pub fn lines(record: &Record) -> Vec<&Map<String, Value>> {
    sublist(record, "item")
}

/// A transaction's lines: the main line (`mainline = 'T'`, no item), then one per item
/// line. Line ids are the transaction id × 1000 + the line number, unique account-wide.
fn line_rows(record: &Record) -> Vec<Row> {
    let tran = record.id as f64;
    let main: Row = [
        ("id", Val::Num(tran * 1000.0)),
        ("transaction", Val::Num(tran)),
        ("linesequencenumber", Val::Num(0.0)),
        ("mainline", Val::Text("T".into())),
        ("memo", typed("memo", record.fields.get("memo"))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut out = vec![main];
    for line in lines(record) {
        let n = line.get("line").and_then(Value::as_f64).unwrap_or(0.0);
        let mut row: Row = ["item", "quantity", "rate", "location", "memo"]
            .iter()
            .map(|c| ((*c).to_owned(), typed(c, line.get(*c))))
            .collect();
        row.insert("id".into(), Val::Num(tran * 1000.0 + n));
        row.insert("transaction".into(), Val::Num(tran));
        row.insert("linesequencenumber".into(), Val::Num(n));
        row.insert("mainline".into(), Val::Text("F".into()));
        row.insert("netamount".into(), typed("netamount", line.get("amount")));
        out.push(row);
    }
    out
}

fn stock_rows(record: &Record) -> Vec<Row> {
    sublist(record, "locations")
        .into_iter()
        .map(|at| {
            let mut row: Row = ["location", "quantityonhand", "quantityavailable"]
                .iter()
                .map(|c| ((*c).to_owned(), typed(c, at.get(*c))))
                .collect();
            row.insert("item".into(), Val::Num(record.id as f64));
            row
        })
        .collect()
}
