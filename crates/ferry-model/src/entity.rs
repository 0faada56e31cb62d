//! The canonical model: the business objects Ferry moves and their fields.
//!
//! A flow maps a source record *into* its entity's canonical fields; the target connector then
//! writes those fields (renamed to its own columns when the flow says so). Keeping one
//! vocabulary in the middle is what lets `ferry check` say "unknown field" before anything runs,
//! and lets every connector speak of a customer's `tax_id` the same way.
//!
//! `docs/model.md` documents each field; [`fields`] is the source of truth it is written from.
//! Fields outside the catalogue are allowed under the `extra.` prefix (`extra.wechat_id`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A business object in the canonical model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// A company or person that buys from us (CRM account, ERP party).
    Customer,
    /// A person at a customer.
    Contact,
    /// A product or service we sell (ERP item / product template).
    Product,
    /// A price of a product in a price list.
    Price,
    /// The stock level of a product in a warehouse.
    Stock,
    /// A sales order with its lines.
    SalesOrder,
    /// A customer invoice.
    Invoice,
    /// A payment received against an invoice.
    Payment,
    /// A delivery of ordered goods.
    Shipment,
}

impl Entity {
    /// Every entity, in documentation order.
    pub const ALL: [Entity; 9] = [
        Entity::Customer,
        Entity::Contact,
        Entity::Product,
        Entity::Price,
        Entity::Stock,
        Entity::SalesOrder,
        Entity::Invoice,
        Entity::Payment,
        Entity::Shipment,
    ];

    /// The entity's name as written in config (`sales_order`).
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Customer => "customer",
            Entity::Contact => "contact",
            Entity::Product => "product",
            Entity::Price => "price",
            Entity::Stock => "stock",
            Entity::SalesOrder => "sales_order",
            Entity::Invoice => "invoice",
            Entity::Payment => "payment",
            Entity::Shipment => "shipment",
        }
    }

    /// The entity's canonical fields.
    pub fn fields(self) -> &'static [FieldDef] {
        fields(self)
    }

    /// The field definition called `name`, if the entity has one. Names under `extra.` are
    /// custom attributes and always accepted (as text).
    pub fn field(self, name: &str) -> Option<&'static FieldDef> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// The business key Ferry upserts by unless the flow names another.
    pub fn default_key(self) -> &'static str {
        self.fields()
            .iter()
            .find(|f| f.key)
            .map(|f| f.name)
            .unwrap_or("code")
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a canonical field, which the mapping checks and normalises values against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text.
    Text,
    /// A whole number.
    Integer,
    /// An exact decimal (money, quantities, rates), carried as a string such as `"12.50"`.
    Decimal,
    /// `true` / `false`.
    Bool,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An instant, RFC 3339 in UTC.
    DateTime,
    /// The lines of a document; each line has the fields in [`LINE_FIELDS`].
    Lines,
}

impl FieldType {
    /// The name used in docs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Bool => "bool",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Lines => "lines",
        }
    }
}

/// One canonical field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// The field's name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// It is the entity's default business key.
    pub key: bool,
    /// What it means.
    pub doc: &'static str,
}

const fn f(name: &'static str, ty: FieldType, doc: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        key: false,
        doc,
    }
}
const fn k(name: &'static str, doc: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty: FieldType::Text,
        key: true,
        doc,
    }
}

use FieldType::{Bool, Date, DateTime, Decimal, Integer, Lines, Text};

const CUSTOMER: &[FieldDef] = &[
    k(
        "code",
        "Customer number, unique across systems (the business key).",
    ),
    f("name", Text, "Display name."),
    f("legal_name", Text, "Registered legal name, as on invoices."),
    f(
        "tax_id",
        Text,
        "Tax identifier: VAT number, or the 18-character unified social credit code.",
    ),
    f("email", Text, "Main e-mail address."),
    f("phone", Text, "Main phone number."),
    f("website", Text, "Web site URL."),
    f("industry", Text, "Industry or segment."),
    f(
        "status",
        Text,
        "Lifecycle status after code-table mapping (prospect, active, blocked…).",
    ),
    f("currency", Text, "Default ISO 4217 currency."),
    f("credit_limit", Decimal, "Credit limit in `currency`."),
    f("payment_terms", Text, "Payment terms code."),
    f("street", Text, "Street address."),
    f("city", Text, "City."),
    f("region", Text, "Province or state."),
    f("postal_code", Text, "Postal code."),
    f("country", Text, "ISO 3166 alpha-2 country code."),
    f("owner", Text, "Account owner or salesperson."),
    f("active", Bool, "False once archived or deactivated."),
    f(
        "created_at",
        DateTime,
        "When the customer was created at the source.",
    ),
    f(
        "updated_at",
        DateTime,
        "When the customer last changed at the source.",
    ),
    f("notes", Text, "Free text."),
];

const CONTACT: &[FieldDef] = &[
    k("code", "Contact number (the business key)."),
    f(
        "customer_code",
        Text,
        "The customer this person works for (reference to customer.code).",
    ),
    f("first_name", Text, "Given name."),
    f("last_name", Text, "Family name."),
    f("full_name", Text, "Full name as displayed."),
    f("email", Text, "E-mail address."),
    f("phone", Text, "Office phone."),
    f("mobile", Text, "Mobile phone."),
    f("title", Text, "Job title."),
    f("active", Bool, "False once archived."),
    f(
        "updated_at",
        DateTime,
        "When the contact last changed at the source.",
    ),
];

const PRODUCT: &[FieldDef] = &[
    k("sku", "Stock keeping unit (the business key)."),
    f("name", Text, "Product name."),
    f("description", Text, "Long description."),
    f("category", Text, "Product category."),
    f("uom", Text, "Unit of measure (after unit mapping)."),
    f(
        "list_price",
        Decimal,
        "List (sales) price in `currency`, before tax.",
    ),
    f("cost_price", Decimal, "Cost price in `currency`."),
    f("currency", Text, "ISO 4217 currency of the prices."),
    f(
        "tax_rate",
        Decimal,
        "Sales tax rate as a fraction (0.13 for 13 %).",
    ),
    f("barcode", Text, "EAN/UPC barcode."),
    f("active", Bool, "False once discontinued."),
    f(
        "updated_at",
        DateTime,
        "When the product last changed at the source.",
    ),
];

const PRICE: &[FieldDef] = &[
    k(
        "code",
        "Price entry id, typically `<price_list>:<sku>:<min_qty>` (the business key).",
    ),
    f("sku", Text, "The product (reference to product.sku)."),
    f("price_list", Text, "Price list name or code."),
    f("currency", Text, "ISO 4217 currency."),
    f("unit_price", Decimal, "Price per unit, before tax."),
    f(
        "min_qty",
        Decimal,
        "Smallest quantity this price applies to.",
    ),
    f("valid_from", Date, "First day the price applies."),
    f("valid_to", Date, "Last day the price applies."),
    f(
        "updated_at",
        DateTime,
        "When the price last changed at the source.",
    ),
];

const STOCK: &[FieldDef] = &[
    k(
        "code",
        "Stock position id, typically `<warehouse>:<sku>` (the business key).",
    ),
    f("sku", Text, "The product (reference to product.sku)."),
    f("warehouse", Text, "Warehouse or location code."),
    f("on_hand", Decimal, "Quantity physically in stock."),
    f("reserved", Decimal, "Quantity promised to open orders."),
    f("available", Decimal, "Quantity that can still be sold."),
    f("uom", Text, "Unit of measure of the quantities."),
    f("updated_at", DateTime, "When the level was measured."),
];

const SALES_ORDER: &[FieldDef] = &[
    k("number", "Order number (the business key)."),
    f(
        "customer_code",
        Text,
        "The buyer (reference to customer.code).",
    ),
    f("order_date", Date, "Date the order was placed."),
    f(
        "status",
        Text,
        "draft, confirmed, shipped, invoiced, paid or cancelled.",
    ),
    f("currency", Text, "ISO 4217 currency of the amounts."),
    f("subtotal", Decimal, "Sum of the lines before tax."),
    f("tax_total", Decimal, "Total tax."),
    f("total", Decimal, "Amount due including tax."),
    f("salesperson", Text, "Who sold it."),
    f("shipping_address", Text, "Where to deliver."),
    f("lines", Lines, "The order lines."),
    f(
        "updated_at",
        DateTime,
        "When the order last changed at the source.",
    ),
];

/// The fields of one document line (sales order, invoice, shipment lines).
pub const LINE_FIELDS: &[FieldDef] = &[
    f(
        "line_no",
        Integer,
        "Position of the line in the document, from 1.",
    ),
    f("sku", Text, "The product (reference to product.sku)."),
    f("description", Text, "Line text."),
    f("quantity", Decimal, "Quantity in `uom`."),
    f("uom", Text, "Unit of measure."),
    f(
        "unit_price",
        Decimal,
        "Price per unit before tax and discount.",
    ),
    f(
        "discount",
        Decimal,
        "Discount as a fraction (0.1 for 10 %).",
    ),
    f(
        "discount_amount",
        Decimal,
        "Discount on the whole line as an amount, taken off after `discount`.",
    ),
    f("tax_rate", Decimal, "Tax rate as a fraction."),
    f(
        "tax_amount",
        Decimal,
        "Tax on the line as an amount (when absent: line_total × tax_rate).",
    ),
    f(
        "line_total",
        Decimal,
        "Quantity × price × (1 − discount) − discount_amount, before tax.",
    ),
];

const INVOICE: &[FieldDef] = &[
    k("number", "Invoice number (the business key)."),
    f(
        "order_number",
        Text,
        "The sales order invoiced (reference to sales_order.number).",
    ),
    f("customer_code", Text, "The invoiced customer."),
    f("issue_date", Date, "Invoice date."),
    f("due_date", Date, "Payment due date."),
    f("currency", Text, "ISO 4217 currency."),
    f("subtotal", Decimal, "Amount before tax."),
    f("tax_total", Decimal, "Total tax."),
    f("total", Decimal, "Amount including tax."),
    f("amount_paid", Decimal, "Amount received so far."),
    f("amount_due", Decimal, "Amount still open."),
    f("status", Text, "draft, posted, paid, overdue or cancelled."),
    f("lines", Lines, "The invoice lines."),
    f(
        "updated_at",
        DateTime,
        "When the invoice last changed at the source.",
    ),
];

const PAYMENT: &[FieldDef] = &[
    k("reference", "Payment reference (the business key)."),
    f(
        "invoice_number",
        Text,
        "The invoice paid (reference to invoice.number).",
    ),
    f("customer_code", Text, "The paying customer."),
    f("amount", Decimal, "Amount received."),
    f("currency", Text, "ISO 4217 currency."),
    f("paid_at", DateTime, "When the money arrived."),
    f("method", Text, "Bank transfer, card, cash…"),
    f(
        "updated_at",
        DateTime,
        "When the payment last changed at the source.",
    ),
];

const SHIPMENT: &[FieldDef] = &[
    k("number", "Shipment number (the business key)."),
    f(
        "order_number",
        Text,
        "The sales order shipped (reference to sales_order.number).",
    ),
    f("customer_code", Text, "The receiving customer."),
    f("carrier", Text, "Carrier name."),
    f("tracking_number", Text, "Carrier tracking number."),
    f("status", Text, "waiting, shipped, delivered or cancelled."),
    f("shipped_at", DateTime, "When the goods left."),
    f("delivered_at", DateTime, "When the goods arrived."),
    f("lines", Lines, "What was shipped."),
    f(
        "updated_at",
        DateTime,
        "When the shipment last changed at the source.",
    ),
];

/// The canonical fields of `entity`.
pub fn fields(entity: Entity) -> &'static [FieldDef] {
    match entity {
        Entity::Customer => CUSTOMER,
        Entity::Contact => CONTACT,
        Entity::Product => PRODUCT,
        Entity::Price => PRICE,
        Entity::Stock => STOCK,
        Entity::SalesOrder => SALES_ORDER,
        Entity::Invoice => INVOICE,
        Entity::Payment => PAYMENT,
        Entity::Shipment => SHIPMENT,
    }
}

/// Renders the catalogue as the Markdown of `docs/model.md` (kept in sync by a test).
pub fn model_markdown() -> String {
    let mut out = String::from(
        "# The canonical model\n\n\
         Generated from `crates/ferry-model/src/entity.rs` (a test fails when this file is stale).\n\n\
         A flow maps source records into these fields; the target connector writes them under\n\
         its own column names. Money and quantities are exact decimals carried as strings\n\
         (`\"1234.50\"`), never floats. Custom attributes go under `extra.<name>`.\n",
    );
    for entity in Entity::ALL {
        out.push_str(&format!(
            "\n## {entity}\n\n| field | type | meaning |\n|---|---|---|\n"
        ));
        for field in entity.fields() {
            let key = if field.key { " (key)" } else { "" };
            out.push_str(&format!(
                "| `{}`{key} | {} | {} |\n",
                field.name,
                field.ty.as_str(),
                field.doc
            ));
        }
    }
    out.push_str("\n## document lines\n\nThe `lines` of sales orders, invoices and shipments.\n\n| field | type | meaning |\n|---|---|---|\n");
    for field in LINE_FIELDS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            field.name,
            field.ty.as_str(),
            field.doc
        ));
    }
    out.push_str(&crate::states::machines_markdown());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_exactly_one_key() {
        for entity in Entity::ALL {
            let keys = entity.fields().iter().filter(|f| f.key).count();
            assert_eq!(keys, 1, "{entity}");
        }
    }

    #[test]
    fn docs_model_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/model.md");
        let expected = model_markdown();
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        if actual != expected {
            if std::env::var_os("FERRY_BLESS").is_some() {
                std::fs::write(path, &expected).unwrap();
            } else {
                panic!("docs/model.md is stale: run `FERRY_BLESS=1 cargo test -p ferry-model`");
            }
        }
    }
}
