//! The canonical model: the business objects Ferry moves and their fields.
//!
//! A flow maps a source record *into* its entity's canonical fields; the target connector then
//! writes those fields (renamed to its own columns when the flow says so). Keeping one
//! vocabulary in the middle is what lets `ferry check` say "unknown field" before anything runs,
//! and lets every connector speak of a customer's `tax_id` the same way.
//!
//! `docs/model.md` documents each field; [`fields`] is the source of truth it is written from.
//! Fields outside the catalogue are allowed under the `extra.` prefix (`extra.wechat_id`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A business object in the canonical model: a cheap handle on its definition.
///
/// The built-ins are constants ([`Entity::CUSTOMER`], … and [`Entity::builtins`]); a workspace
/// declares more under `entities:` (see `ferry_model::config::entities`). Two entities are
/// equal when their names are: within one workspace a name means one definition (a
/// declaration may not reuse a built-in's name), which is all a flow, a pair or a lookup
/// compares.
#[derive(Clone, Copy)]
pub struct Entity(&'static EntityDef);

/// What an entity is: its name, fields and, for documents with a lifecycle, the state machine
/// its `status` follows. Built-ins are constants; a declared one is leaked once per distinct
/// declaration (see `config::entities::intern`), so that [`Entity`] stays `Copy`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct EntityDef {
    pub name: &'static str,
    pub fields: &'static [FieldDef],
    pub machine: Option<MachineDef>,
    pub declared: bool,
}

/// A state machine as data: where a record may start and, in lifecycle order, each state and
/// the states it may move to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MachineDef {
    pub initial: &'static [&'static str],
    pub transitions: &'static [(&'static str, &'static [&'static str])],
}

const fn builtin(
    name: &'static str,
    fields: &'static [FieldDef],
    machine: Option<MachineDef>,
) -> EntityDef {
    EntityDef {
        name,
        fields,
        machine,
        declared: false,
    }
}

impl Entity {
    /// A company or person that buys from us (CRM account, ERP party).
    pub const CUSTOMER: Entity = Entity(&builtin("customer", CUSTOMER, None));
    /// A person at a customer.
    pub const CONTACT: Entity = Entity(&builtin("contact", CONTACT, None));
    /// A company we buy from.
    pub const SUPPLIER: Entity = Entity(&builtin("supplier", SUPPLIER, None));
    /// A product or service we sell (ERP item / product template).
    pub const PRODUCT: Entity = Entity(&builtin("product", PRODUCT, None));
    /// A price of a product in a price list.
    pub const PRICE: Entity = Entity(&builtin("price", PRICE, None));
    /// The stock level of a product in a warehouse.
    pub const STOCK: Entity = Entity(&builtin("stock", STOCK, None));
    /// A quantity of a product moved between two locations.
    pub const STOCK_MOVEMENT: Entity = Entity(&builtin("stock_movement", STOCK_MOVEMENT, None));
    /// A deal in the sales pipeline.
    pub const OPPORTUNITY: Entity = Entity(&builtin(
        "opportunity",
        OPPORTUNITY,
        Some(machines::OPPORTUNITY),
    ));
    /// A priced offer to a customer, with lines.
    pub const QUOTATION: Entity =
        Entity(&builtin("quotation", QUOTATION, Some(machines::QUOTATION)));
    /// A sales order with its lines.
    pub const SALES_ORDER: Entity = Entity(&builtin(
        "sales_order",
        SALES_ORDER,
        Some(machines::SALES_ORDER),
    ));
    /// An agreement with a customer over a period.
    pub const CONTRACT: Entity = Entity(&builtin("contract", CONTRACT, Some(machines::CONTRACT)));
    /// A customer invoice.
    pub const INVOICE: Entity = Entity(&builtin("invoice", INVOICE, Some(machines::INVOICE)));
    /// A payment received against an invoice.
    pub const PAYMENT: Entity = Entity(&builtin("payment", PAYMENT, None));
    /// A delivery of ordered goods.
    pub const SHIPMENT: Entity = Entity(&builtin("shipment", SHIPMENT, Some(machines::SHIPMENT)));
    /// An order to a supplier with its lines: a sales order's mirror.
    pub const PURCHASE_ORDER: Entity = Entity(&builtin(
        "purchase_order",
        PURCHASE_ORDER,
        Some(machines::PURCHASE_ORDER),
    ));

    /// Every built-in entity, in documentation order.
    pub fn builtins() -> &'static [Entity] {
        const ALL: &[Entity] = &[
            Entity::CUSTOMER,
            Entity::CONTACT,
            Entity::SUPPLIER,
            Entity::PRODUCT,
            Entity::PRICE,
            Entity::STOCK,
            Entity::STOCK_MOVEMENT,
            Entity::OPPORTUNITY,
            Entity::QUOTATION,
            Entity::SALES_ORDER,
            Entity::CONTRACT,
            Entity::INVOICE,
            Entity::PAYMENT,
            Entity::SHIPMENT,
            Entity::PURCHASE_ORDER,
        ];
        ALL
    }

    /// The built-in entity called `name`.
    pub fn builtin(name: &str) -> Option<Entity> {
        Entity::builtins()
            .iter()
            .copied()
            .find(|e| e.as_str() == name)
    }

    pub(crate) fn from_def(def: &'static EntityDef) -> Entity {
        Entity(def)
    }

    /// The entity's name as written in config (`sales_order`).
    pub fn as_str(self) -> &'static str {
        self.0.name
    }

    /// Whether a workspace declared it (under `entities:`) rather than Ferry.
    pub fn is_declared(self) -> bool {
        self.0.declared
    }

    /// The entity's canonical fields.
    pub fn fields(self) -> &'static [FieldDef] {
        self.0.fields
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

    /// The state machine its `status` follows, built-in or declared.
    pub(crate) fn machine_def(self) -> Option<MachineDef> {
        self.0.machine
    }
}

impl PartialEq for Entity {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Entity {}

impl Hash for Entity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

thread_local! {
    /// The entities the configuration being read declares (see [`with_declared`]).
    static DECLARED: RefCell<Vec<Entity>> = const { RefCell::new(Vec::new()) };
}

/// Runs `read` with `declared` resolvable by name when an [`Entity`] is deserialized.
///
/// A flow's `entity:` may name an entity that the same file declares, possibly further down;
/// the loader reads `entities:` first and reads the rest inside this scope. The scope is per
/// thread and per call, never global: two workspaces read at once (parallel tests, a reload
/// beside a running engine) may declare one name differently.
pub(crate) fn with_declared<R>(declared: Vec<Entity>, read: impl FnOnce() -> R) -> R {
    struct Restore(Vec<Entity>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = std::mem::take(&mut self.0);
            DECLARED.with(|d| *d.borrow_mut() = previous);
        }
    }
    let _restore = Restore(DECLARED.with(|d| d.replace(declared)));
    read()
}

impl Serialize for Entity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A built-in name, or one the configuration being read declares (see [`with_declared`]).
impl<'de> Deserialize<'de> for Entity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Cow::<str>::deserialize(deserializer)?;
        DECLARED.with(|declared| {
            let declared = declared.borrow();
            Entity::builtin(&name)
                .or_else(|| declared.iter().copied().find(|e| e.as_str() == name))
                .ok_or_else(|| {
                    let known: Vec<&str> = Entity::builtins()
                        .iter()
                        .chain(declared.iter())
                        .map(|e| e.as_str())
                        .filter({
                            let mut seen = std::collections::HashSet::new();
                            move |name| seen.insert(*name)
                        })
                        .collect();
                    serde::de::Error::custom(crate::config::words::unknown_value(&name, &known))
                })
        })
    }
}

impl JsonSchema for Entity {
    fn schema_name() -> Cow<'static, str> {
        "Entity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // A schema cannot see the file's own declarations: it offers the built-ins and accepts
        // any well-formed name; `ferry check` resolves it.
        let builtins: Vec<&str> = Entity::builtins().iter().map(|e| e.as_str()).collect();
        json_schema!({
            "description": "A built-in entity (docs/model.md) or one declared under `entities:`.",
            "anyOf": [
                { "type": "string", "enum": builtins },
                {
                    "type": "string",
                    "pattern": "^[a-z][a-z0-9_]*$",
                    "description": "An entity declared under `entities:`."
                }
            ]
        })
    }
}

/// The type of a canonical field, which the mapping checks and normalises values against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
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
    /// The lines of a document; each line has the fields of [`FieldDef::lines`]
    /// ([`LINE_FIELDS`] for the built-in documents).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldDef {
    /// The field's name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// It is the entity's default business key.
    pub key: bool,
    /// What it means.
    pub doc: &'static str,
    /// The fields of each line, for a [`FieldType::Lines`] field (empty for the others).
    pub lines: &'static [FieldDef],
}

const fn f(name: &'static str, ty: FieldType, doc: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        key: false,
        doc,
        lines: &[],
    }
}
const fn k(name: &'static str, doc: &'static str) -> FieldDef {
    FieldDef {
        key: true,
        ..f(name, FieldType::Text, doc)
    }
}
/// A document's `lines`, each with the [`LINE_FIELDS`].
const fn l(doc: &'static str) -> FieldDef {
    FieldDef {
        lines: LINE_FIELDS,
        ..f("lines", FieldType::Lines, doc)
    }
}

use FieldType::{Bool, Date, DateTime, Decimal, Integer, Text};

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
    l("The order lines."),
    f(
        "updated_at",
        DateTime,
        "When the order last changed at the source.",
    ),
];

/// The fields of one line of a built-in document (quotation, sales order, invoice, shipment,
/// purchase order).
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
    f(
        "gross_price",
        Decimal,
        "Price per unit including tax (含税单价).",
    ),
    f(
        "gross_amount",
        Decimal,
        "The line's amount including tax (价税合计): line_total + tax_amount.",
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
    l("The invoice lines."),
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
    l("What was shipped."),
    f(
        "updated_at",
        DateTime,
        "When the shipment last changed at the source.",
    ),
];

const SUPPLIER: &[FieldDef] = &[
    k(
        "code",
        "Supplier number, unique across systems (the business key).",
    ),
    f("name", Text, "Display name."),
    f(
        "legal_name",
        Text,
        "Registered legal name, as on purchase invoices.",
    ),
    f(
        "tax_id",
        Text,
        "Tax identifier: VAT number, or the 18-character unified social credit code.",
    ),
    f("email", Text, "Main e-mail address."),
    f("phone", Text, "Main phone number."),
    f("website", Text, "Web site URL."),
    f("currency", Text, "ISO 4217 currency we are invoiced in."),
    f("payment_terms", Text, "Payment terms code."),
    f(
        "bank_account",
        Text,
        "Account (IBAN or local number) we pay to.",
    ),
    f("street", Text, "Street address."),
    f("city", Text, "City."),
    f("region", Text, "Province or state."),
    f("postal_code", Text, "Postal code."),
    f("country", Text, "ISO 3166 alpha-2 country code."),
    f("buyer", Text, "Our purchaser responsible for the supplier."),
    f("active", Bool, "False once archived or blocked."),
    f(
        "updated_at",
        DateTime,
        "When the supplier last changed at the source.",
    ),
    f("notes", Text, "Free text."),
];

const STOCK_MOVEMENT: &[FieldDef] = &[
    k("number", "Movement number (the business key)."),
    f("sku", Text, "The product moved (reference to product.sku)."),
    f("quantity", Decimal, "Quantity moved, in `uom` (positive)."),
    f("uom", Text, "Unit of measure of the quantity."),
    f(
        "from_location",
        Text,
        "Warehouse or location the goods left (empty for a receipt from outside).",
    ),
    f(
        "to_location",
        Text,
        "Warehouse or location the goods reached (empty for a delivery out).",
    ),
    f("movement_date", Date, "Date the goods moved."),
    f(
        "reference",
        Text,
        "The document behind the move: an order, shipment or purchase order number.",
    ),
    f(
        "reason",
        Text,
        "receipt, delivery, transfer, adjustment or production.",
    ),
    f("lot", Text, "Lot or serial number."),
    f(
        "updated_at",
        DateTime,
        "When the movement last changed at the source.",
    ),
];

const OPPORTUNITY: &[FieldDef] = &[
    k("code", "Opportunity number (the business key)."),
    f(
        "name",
        Text,
        "What is being sold, as the pipeline shows it.",
    ),
    f(
        "customer_code",
        Text,
        "The prospect or customer (reference to customer.code).",
    ),
    f("stage", Text, "Pipeline stage after code-table mapping."),
    f("status", Text, "open, won or lost."),
    f("amount", Decimal, "Expected amount in `currency`."),
    f("currency", Text, "ISO 4217 currency of the amount."),
    f(
        "probability",
        Decimal,
        "Chance of winning as a fraction (0.4 for 40 %).",
    ),
    f(
        "expected_close",
        Date,
        "Date the deal is expected to close.",
    ),
    f("owner", Text, "Salesperson in charge."),
    f("lead_source", Text, "Where the lead came from."),
    f(
        "created_at",
        DateTime,
        "When the opportunity was created at the source.",
    ),
    f(
        "updated_at",
        DateTime,
        "When the opportunity last changed at the source.",
    ),
];

const QUOTATION: &[FieldDef] = &[
    k("number", "Quotation number (the business key)."),
    f(
        "customer_code",
        Text,
        "The prospective buyer (reference to customer.code).",
    ),
    f(
        "opportunity_code",
        Text,
        "The deal it prices (reference to opportunity.code).",
    ),
    f("quote_date", Date, "Date the quotation was issued."),
    f("valid_until", Date, "Last day the offer holds."),
    f(
        "status",
        Text,
        "draft, sent, accepted, rejected, expired or cancelled.",
    ),
    f("currency", Text, "ISO 4217 currency of the amounts."),
    f("subtotal", Decimal, "Sum of the lines before tax."),
    f("tax_total", Decimal, "Total tax."),
    f("total", Decimal, "Amount offered including tax."),
    f("salesperson", Text, "Who made the offer."),
    f(
        "order_number",
        Text,
        "The sales order it became once accepted (reference to sales_order.number).",
    ),
    l("The quoted lines."),
    f(
        "updated_at",
        DateTime,
        "When the quotation last changed at the source.",
    ),
];

const CONTRACT: &[FieldDef] = &[
    k("number", "Contract number (the business key)."),
    f("title", Text, "What the contract is for."),
    f(
        "customer_code",
        Text,
        "The other party (reference to customer.code).",
    ),
    f(
        "contract_type",
        Text,
        "Sales, service, framework, maintenance…",
    ),
    f(
        "status",
        Text,
        "draft, active, suspended, expired or terminated.",
    ),
    f("signed_date", Date, "Date both parties signed."),
    f("start_date", Date, "First day it applies."),
    f("end_date", Date, "Last day it applies (empty: open-ended)."),
    f("currency", Text, "ISO 4217 currency of the value."),
    f("value", Decimal, "Total contract value."),
    f(
        "billing_frequency",
        Text,
        "How often it is invoiced: once, monthly, quarterly, yearly.",
    ),
    f(
        "auto_renew",
        Bool,
        "Renews itself at `end_date` unless cancelled.",
    ),
    f("owner", Text, "Who manages the contract."),
    f(
        "quotation_number",
        Text,
        "The quotation it came from (reference to quotation.number).",
    ),
    f(
        "updated_at",
        DateTime,
        "When the contract last changed at the source.",
    ),
];

const PURCHASE_ORDER: &[FieldDef] = &[
    k("number", "Purchase order number (the business key)."),
    f(
        "supplier_code",
        Text,
        "The seller (reference to supplier.code).",
    ),
    f("order_date", Date, "Date the order was placed."),
    f("expected_date", Date, "Date the goods are expected."),
    f(
        "status",
        Text,
        "draft, confirmed, received, invoiced, paid or cancelled.",
    ),
    f("currency", Text, "ISO 4217 currency of the amounts."),
    f("subtotal", Decimal, "Sum of the lines before tax."),
    f("tax_total", Decimal, "Total tax."),
    f("total", Decimal, "Amount owed including tax."),
    f("buyer", Text, "Who ordered."),
    f(
        "delivery_location",
        Text,
        "Warehouse or address to deliver to.",
    ),
    l("The ordered lines."),
    f(
        "updated_at",
        DateTime,
        "When the order last changed at the source.",
    ),
];

/// The built-in state machines (their `status` docs list exactly these states). They allow
/// skipping ahead (a poll sees snapshots), never going back, and cancelling only where the
/// business allows it.
mod machines {
    use super::MachineDef;

    pub const OPPORTUNITY: MachineDef = MachineDef {
        initial: &["open", "won", "lost"],
        transitions: &[
            ("open", &["won", "lost"]),
            // A lost deal revived is open again; a won one is final.
            ("lost", &["open"]),
            ("won", &[]),
        ],
    };

    pub const QUOTATION: MachineDef = MachineDef {
        initial: &["draft", "sent"],
        transitions: &[
            (
                "draft",
                &["sent", "accepted", "rejected", "expired", "cancelled"],
            ),
            ("sent", &["accepted", "rejected", "expired", "cancelled"]),
            ("accepted", &[]),
            ("rejected", &[]),
            ("expired", &[]),
            ("cancelled", &[]),
        ],
    };

    pub const SALES_ORDER: MachineDef = MachineDef {
        initial: &["draft", "confirmed"],
        transitions: &[
            (
                "draft",
                &["confirmed", "shipped", "invoiced", "paid", "cancelled"],
            ),
            ("confirmed", &["shipped", "invoiced", "paid", "cancelled"]),
            ("shipped", &["invoiced", "paid"]),
            ("invoiced", &["paid"]),
            ("paid", &[]),
            ("cancelled", &[]),
        ],
    };

    pub const CONTRACT: MachineDef = MachineDef {
        initial: &["draft", "active"],
        transitions: &[
            ("draft", &["active", "terminated"]),
            ("active", &["suspended", "expired", "terminated"]),
            ("suspended", &["active", "expired", "terminated"]),
            ("expired", &[]),
            ("terminated", &[]),
        ],
    };

    pub const INVOICE: MachineDef = MachineDef {
        initial: &["draft", "posted"],
        transitions: &[
            ("draft", &["posted", "overdue", "paid", "cancelled"]),
            ("posted", &["overdue", "paid", "cancelled"]),
            // A due date moved later makes an overdue invoice plain posted again.
            ("overdue", &["posted", "paid", "cancelled"]),
            ("paid", &[]),
            ("cancelled", &[]),
        ],
    };

    pub const SHIPMENT: MachineDef = MachineDef {
        initial: &["waiting", "shipped"],
        transitions: &[
            ("waiting", &["shipped", "delivered", "cancelled"]),
            ("shipped", &["delivered"]),
            ("delivered", &[]),
            ("cancelled", &[]),
        ],
    };

    pub const PURCHASE_ORDER: MachineDef = MachineDef {
        initial: &["draft", "confirmed"],
        transitions: &[
            (
                "draft",
                &["confirmed", "received", "invoiced", "paid", "cancelled"],
            ),
            ("confirmed", &["received", "invoiced", "paid", "cancelled"]),
            ("received", &["invoiced", "paid"]),
            ("invoiced", &["paid"]),
            ("paid", &[]),
            ("cancelled", &[]),
        ],
    };
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
    for entity in Entity::builtins() {
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
    out.push_str("\n## document lines\n\nThe `lines` of quotations, sales orders, invoices, shipments and purchase orders.\n\n| field | type | meaning |\n|---|---|---|\n");
    for field in LINE_FIELDS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            field.name,
            field.ty.as_str(),
            field.doc
        ));
    }
    out.push_str(&crate::states::machines_markdown());
    out.push_str(DECLARING);
    out
}

/// How a workspace declares entities of its own, for `docs/model.md`. Its example is a whole
/// `ferry.yaml` that `ferry check` accepts (a test of the `ferry` binary runs it).
const DECLARING: &str = r#"
## entities of your own

Objects no built-in fits (a Jiandaoyun form, a Salesforce or Dynamics custom object, a
table of an in-house system) are declared under `entities:` at the top of `ferry.yaml`. A
flow then names one like a built-in (`entity: visit_report`), and everything works on it as
on a built-in: mapping (unknown fields are refused, values are normalised to the declared
types), `validate:`, `depends_on`, `states: {}`, `totals:` (when its lines carry the
amounts), pairs, `extra.` attributes and `ferry reconcile`.

- `key:` names the field that identifies a record (text or integer); a flow may name another.
- `fields:` lists the fields in order, as `name: type` or `name: { type, doc }`. The types
  are those above: `text`, `integer`, `decimal`, `bool`, `date`, `datetime`, `lines`.
- Line items are a field `lines` of type `lines` (connectors, totals and `depends_on` find
  them under that name). Its `fields:` declares each line's fields; without them a line has
  the built-in [document lines](#document-lines) fields.
- `states:` (optional) gives the machine its `status` field (declared `text`) follows:
  `initial` states and `transitions`, as a flow's own machine is written; a flow's
  `states: {}` then uses it.

`ferry check` names the entity, the field and the reason of each mistake (an unknown type,
no key, a field written twice, a name a built-in already has, a transition to an unknown
state…). `ferry schema` describes `entities:` too.

```yaml
entities:
  visit_report:
    doc: A sales visit, as the Jiandaoyun form records it.
    key: report_no
    fields:
      report_no: text
      customer_code: { type: text, doc: The customer visited. }
      amount: { type: decimal, doc: Order value promised. }
      visit_date: date
      status: text
      lines:
        type: lines
        fields: { item: text, quantity: decimal }
    states:
      initial: [draft, submitted]
      transitions:
        draft: [submitted]
        submitted: [approved, rejected]
        approved: []
        rejected: [submitted]
systems:
  jiandaoyun: { kind: sql, url: "sqlite://forms.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  visits:
    entity: visit_report
    source:
      system: jiandaoyun
      table: visit_forms
      lines: { table: visit_form_rows, parent_column: form_id }
    target:
      system: erp
      table: visits
      lines: { table: visit_lines, parent_column: report_no }
    states: {}
    mapping:
      report_no: form_no
      customer_code: { from: customer, case: upper }
      amount: amount
      visit_date: visited_on
      status: { from: state, codes: { "0": draft, "1": submitted, "2": approved, "3": rejected } }
      extra.weather: weather
      lines: { from: lines, fields: { item: item, quantity: qty } }
    validate:
      amount: [required, { min: "0" }]
```
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_exactly_one_key() {
        for entity in Entity::builtins() {
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
