//! What the connector knows about each BottleCRM object: where it lives in the REST API,
//! where the records sit in its list and detail replies (every list has its own shape), which
//! query filters it takes, how it is updated, and which of its fields are derived from the
//! clock or from other objects and so are left out of records.
//!
//! Everything here was checked against django-crm 1.35.0 (its views and a live server).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A BottleCRM object a flow reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    /// Companies (customers): `/api/accounts/`.
    Accounts,
    /// People, each optionally on an account: `/api/contacts/`.
    Contacts,
    /// Deals with their line items: `/api/opportunities/`. A deal in the `CLOSED_WON`
    /// stage is what the CRM has for an order.
    Opportunities,
    /// Invoices with their line items and payments: `/api/invoices/`.
    Invoices,
    /// The product catalogue (sku, price; no stock): `/api/invoices/products/`.
    Products,
    /// Payments recorded on invoices: `/api/invoices/<invoice>/payments/`. Write only: the
    /// API lists payments per invoice and has no detail read (they come with invoices).
    Payments,
}

/// How an existing record is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// `PATCH` (accounts, contacts, deals): fields left out are kept.
    Patch,
    /// `PUT` that BottleCRM applies as a partial update (invoices, products).
    Put,
    /// No update: a payment, once recorded, can only be deleted.
    None,
}

/// The description of one object.
#[derive(Debug)]
pub struct Spec {
    /// The object.
    pub object: Object,
    /// The name used in config and messages.
    pub name: &'static str,
    /// One record, for messages (`account`).
    pub singular: &'static str,
    /// The collection path under the base URL, with a trailing slash.
    pub path: &'static str,
    /// The list reply holds its records here (a path of object keys), one per segment.
    /// Accounts are split by BottleCRM into active and inactive halves, each paged on its
    /// own; a snapshot pass reads one half after the other (`is_active=true`, then `false`).
    pub segments: &'static [Segment],
    /// Where the record sits in its detail reply (`None`: the reply is the record).
    pub detail_key: Option<&'static str>,
    /// The list lacks fields the detail has (invoices: lines, payments, custom fields), so
    /// a read fetches each listed record's detail.
    pub read_details: bool,
    /// Query filters the list accepts besides `cf_<custom field>`.
    pub filters: &'static [&'static str],
    /// Whether the object carries `custom_fields` (and takes `cf_<key>` filters).
    pub custom_fields: bool,
    /// The field holding the record's last change, when the API shows one.
    pub updated_at: Option<&'static str>,
    /// How a record is updated.
    pub update: Update,
    /// The business key field a sink upserts by when `key` is not set.
    pub default_key: &'static str,
    /// Plain fields a record can be looked up by, with the list filter that finds them (a
    /// substring match; the exact value is checked on the records returned).
    pub lookups: &'static [(&'static str, &'static str)],
    /// The OpenAPI component describing a record, and the one describing a create request
    /// (for `discover`).
    pub schema: (&'static str, Option<&'static str>),
    /// The order the list returns records in.
    pub order: Order,
}

/// The order of a list, as far as a client can reproduce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By id, descending (`order_by("-id")`). PostgreSQL compares UUIDs byte by byte, which
    /// is the order of their lowercase text.
    IdDescending,
    /// By `created_at`, descending.
    CreatedDescending,
    /// An order the client cannot compare (products are listed by name, in the database's
    /// collation).
    Opaque,
}

/// One independently paged part of a list.
#[derive(Debug)]
pub struct Segment {
    /// Extra query parameter selecting the part, if any.
    pub query: Option<(&'static str, &'static str)>,
    /// Where the records are in the reply.
    pub records: &'static [&'static str],
}

const WHOLE: &[Segment] = &[Segment {
    query: None,
    records: &["results"],
}];

static ACCOUNTS: Spec = Spec {
    object: Object::Accounts,
    name: "accounts",
    singular: "account",
    path: "api/accounts/",
    segments: &[
        Segment {
            query: Some(("is_active", "true")),
            records: &["active_accounts", "open_accounts"],
        },
        Segment {
            query: Some(("is_active", "false")),
            records: &["closed_accounts", "close_accounts"],
        },
    ],
    detail_key: Some("account_obj"),
    read_details: false,
    filters: &[
        "name",
        "city",
        "industry",
        "tags",
        "assigned_to",
        "search",
        "created_at__gte",
        "created_at__lte",
    ],
    custom_fields: true,
    updated_at: None,
    update: Update::Patch,
    default_key: "custom_fields.erp_id",
    lookups: &[("name", "name")],
    schema: ("Account", Some("AccountWriteRequest")),
    order: Order::IdDescending,
};

static CONTACTS: Spec = Spec {
    object: Object::Contacts,
    name: "contacts",
    singular: "contact",
    path: "api/contacts/",
    segments: WHOLE,
    detail_key: Some("contact_obj"),
    read_details: false,
    filters: &[
        "name",
        "city",
        "phone",
        "email",
        "assigned_to",
        "tags",
        "search",
        "is_active",
        "created_at__gte",
        "created_at__lte",
    ],
    custom_fields: true,
    updated_at: Some("updated_at"),
    update: Update::Patch,
    default_key: "custom_fields.erp_id",
    lookups: &[("email", "email")],
    schema: ("Contact", Some("ContactWriteRequest")),
    order: Order::CreatedDescending,
};

static OPPORTUNITIES: Spec = Spec {
    object: Object::Opportunities,
    name: "opportunities",
    singular: "opportunity",
    path: "api/opportunities/",
    segments: &[Segment {
        query: None,
        records: &["opportunities"],
    }],
    detail_key: Some("opportunity_obj"),
    read_details: false,
    filters: &[
        "name",
        "account",
        "pipeline",
        "stage",
        "lead_source",
        "tags",
        "assigned_to",
        "search",
        "created_at__gte",
        "created_at__lte",
        "closed_on__gte",
        "closed_on__lte",
        "amount__gte",
        "amount__lte",
        "open",
    ],
    custom_fields: true,
    updated_at: None,
    update: Update::Patch,
    default_key: "custom_fields.erp_id",
    lookups: &[("name", "name")],
    schema: ("Opportunity", Some("OpportunityCreateSwaggerRequest")),
    order: Order::IdDescending,
};

static INVOICES: Spec = Spec {
    object: Object::Invoices,
    name: "invoices",
    singular: "invoice",
    path: "api/invoices/",
    segments: WHOLE,
    detail_key: Some("invoice"),
    read_details: true,
    filters: &[
        "search",
        "status",
        "account",
        "contact",
        "opportunity",
        "assigned_to",
        "created_by",
        "issue_date_gte",
        "issue_date_lte",
        "due_date_gte",
        "due_date_lte",
    ],
    custom_fields: true,
    updated_at: Some("updated_at"),
    update: Update::Put,
    default_key: "custom_fields.erp_id",
    lookups: &[("invoice_number", "search")],
    schema: ("Invoice", Some("InvoiceBodyRequest")),
    order: Order::CreatedDescending,
};

static PRODUCTS: Spec = Spec {
    object: Object::Products,
    name: "products",
    singular: "product",
    path: "api/invoices/products/",
    segments: WHOLE,
    detail_key: None,
    read_details: false,
    filters: &["search", "category", "is_active"],
    custom_fields: false,
    updated_at: Some("updated_at"),
    update: Update::Put,
    default_key: "sku",
    lookups: &[("sku", "search"), ("name", "search")],
    schema: ("Product", Some("ProductCreateRequest")),
    order: Order::Opaque,
};

static PAYMENTS: Spec = Spec {
    object: Object::Payments,
    name: "payments",
    singular: "payment",
    // Nested under an invoice: the sink builds `api/invoices/<invoice>/payments/`.
    path: "api/invoices/",
    segments: &[],
    detail_key: None,
    read_details: false,
    filters: &[],
    custom_fields: false,
    updated_at: None,
    update: Update::None,
    default_key: "reference_number",
    lookups: &[],
    schema: ("Payment", Some("PaymentCreateRequest")),
    order: Order::Opaque,
};

/// Every object, in the order `discover` lists them.
pub const ALL: [Object; 6] = [
    Object::Accounts,
    Object::Contacts,
    Object::Opportunities,
    Object::Invoices,
    Object::Products,
    Object::Payments,
];

impl Object {
    /// The object's description.
    pub fn spec(self) -> &'static Spec {
        match self {
            Object::Accounts => &ACCOUNTS,
            Object::Contacts => &CONTACTS,
            Object::Opportunities => &OPPORTUNITIES,
            Object::Invoices => &INVOICES,
            Object::Products => &PRODUCTS,
            Object::Payments => &PAYMENTS,
        }
    }

    /// The name used in config and messages.
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

impl Spec {
    /// Where a record stands in the list order, as text that compares like the order
    /// (larger = earlier in a descending list); `None` for an opaque order.
    pub fn sort_key(&self, record: &Map<String, Value>) -> Option<String> {
        match self.order {
            Order::IdDescending => Some(record.get("id")?.as_str()?.to_ascii_lowercase()),
            Order::CreatedDescending => {
                let at = record.get("created_at")?.as_str()?;
                let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
                // Fixed width, UTC: the text sorts like the instant.
                Some(
                    at.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                        .to_string(),
                )
            }
            Order::Opaque => None,
        }
    }

    /// The path of one record.
    pub fn item_path(&self, id: &str) -> String {
        format!("{}{id}/", self.path)
    }

    /// The record inside a detail reply.
    pub fn detail_record(&self, mut reply: Value) -> Option<Map<String, Value>> {
        let record = match self.detail_key {
            Some(key) => reply.get_mut(key)?.take(),
            None => reply,
        };
        match record {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// Whether `param` is a list filter this object takes.
    pub fn takes_filter(&self, param: &str) -> bool {
        self.filters.contains(&param)
            || (self.custom_fields && param.strip_prefix("cf_").is_some_and(|k| !k.is_empty()))
    }

    /// Removes what would make a record's content change without anyone changing it: fields
    /// computed from the clock (`days_in_stage`, `created_on_arrow`), fields derived from
    /// other objects (an account's related lists, a product's use count), and fields one
    /// reply has and the other lacks, so that a record read from the list and the same
    /// record fetched alone hash the same.
    pub fn normalize(&self, record: &mut Map<String, Value>) {
        let drop: &[&str] = match self.object {
            // The detail reply adds the related lists; the list has only the account.
            Object::Accounts => &["contacts", "cases", "tasks", "opportunities"],
            Object::Opportunities => &[
                "created_on_arrow",
                "days_in_stage",
                "aging_status",
                "next_activity",
            ],
            Object::Products => &["used_on"],
            Object::Contacts | Object::Invoices | Object::Payments => &[],
        };
        for key in drop {
            record.remove(*key);
        }
        // A line's product carries the product's own use count, which moves whenever the
        // product is put on an invoice elsewhere.
        if let Some(Value::Array(lines)) = record.get_mut("line_items") {
            for line in lines {
                if let Some(Value::Object(product)) = line.get_mut("product") {
                    product.remove("used_on");
                }
            }
        }
    }
}
