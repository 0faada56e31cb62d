//! The sObjects the double serves and their fields (dossier §7): types, which are required,
//! writable, external ids, and what a reference points at. Field names are matched without
//! case, as Salesforce does, and answered in their declared case.

/// A field's type, as far as the double needs it (reading literals, checking writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Id,
    Text,
    Number,
    Boolean,
    Date,
    DateTime,
    /// The id of a record of the named object.
    Reference(&'static str),
}

impl Kind {
    /// The type name `describe` answers.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Text => "string",
            Self::Number => "double",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::DateTime => "datetime",
            Self::Reference(_) => "reference",
        }
    }
}

use std::sync::LazyLock;

/// How a client may write a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Writable, may be empty.
    Optional,
    /// Writable, must be given on create and never emptied.
    Required,
    /// Required on create, not updateable afterwards (a master-detail parent).
    CreateOnly,
    /// Set by the system (ids, audit times, auto numbers, roll-ups).
    ReadOnly,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub access: Access,
    /// An External ID field (upsert and relationship lookups by it).
    pub external_id: bool,
    /// Unique: a second record with the value is refused `DUPLICATE_VALUE`.
    pub unique: bool,
}

#[derive(Debug)]
pub struct SObject {
    pub name: &'static str,
    /// The key prefix of its ids (`001` for Account).
    pub prefix: &'static str,
    pub fields: Vec<Field>,
}

impl SObject {
    /// A field by name, without case.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The reference field whose relationship name is `name` (`Account` → `AccountId`).
    pub fn relationship(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| {
            matches!(f.kind, Kind::Reference(_))
                && f.name
                    .strip_suffix("Id")
                    .is_some_and(|r| r.eq_ignore_ascii_case(name))
        })
    }

    /// The fields a create must give.
    pub fn required(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| matches!(f.access, Access::Required | Access::CreateOnly))
    }
}

/// The field every object has, in this order, before its own ones.
const SYSTEM: [(&str, Kind); 6] = [
    ("Id", Kind::Id),
    ("IsDeleted", Kind::Boolean),
    ("CreatedDate", Kind::DateTime),
    ("CreatedById", Kind::Reference("User")),
    ("LastModifiedDate", Kind::DateTime),
    ("SystemModstamp", Kind::DateTime),
];

/// The unique external id every object carries (the ERP's key).
pub const ERP_ID: &str = "ERP_Id__c";

use Access::{CreateOnly as C, Optional as O, ReadOnly as R, Required as Q};
use Kind::{Boolean as B, Date as D, Number as N, Reference as Ref, Text as T};

fn object(
    name: &'static str,
    prefix: &'static str,
    own: &[(&'static str, Kind, Access)],
) -> SObject {
    let mut fields: Vec<Field> = SYSTEM
        .iter()
        .map(|&(name, kind)| plain(name, kind, R))
        .collect();
    fields.extend(
        own.iter()
            .map(|&(name, kind, access)| plain(name, kind, access)),
    );
    SObject {
        name,
        prefix,
        fields,
    }
}

fn plain(name: &'static str, kind: Kind, access: Access) -> Field {
    let external_id = matches!(
        name,
        ERP_ID | "Legacy_Code__c" | "SAP_Partner__c" | "SAP_Order__c"
    );
    Field {
        name,
        kind,
        access,
        external_id,
        unique: name == ERP_ID,
    }
}

/// Every served object, in dependency order (parents first).
pub static OBJECTS: LazyLock<Vec<SObject>> = LazyLock::new(objects);

/// A served object by name, without case.
pub fn sobject(name: &str) -> Option<&'static SObject> {
    OBJECTS.iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

/// The object whose ids start with `prefix`.
pub fn by_prefix(prefix: &str) -> Option<&'static SObject> {
    OBJECTS.iter().find(|o| o.prefix == prefix)
}

fn objects() -> Vec<SObject> {
    vec![
        object(
            "Account",
            "001",
            &[
                ("Name", T, Q),
                ("AccountNumber", T, O),
                ("Type", T, O),
                ("Industry", T, O),
                ("Phone", T, O),
                ("Website", T, O),
                ("BillingStreet", T, O),
                ("BillingCity", T, O),
                ("BillingState", T, O),
                ("BillingPostalCode", T, O),
                ("BillingCountry", T, O),
                ("ShippingCity", T, O),
                ("ShippingCountry", T, O),
                ("OwnerId", Ref("User"), O),
                ("Credit_Limit__c", N, O),
                ("Credit_Exposure__c", N, O),
                ("SAP_Partner__c", T, O),
                (ERP_ID, T, O),
                ("Legacy_Code__c", T, O),
            ],
        ),
        object(
            "Contact",
            "003",
            &[
                ("AccountId", Ref("Account"), O),
                ("FirstName", T, O),
                ("LastName", T, Q),
                ("Email", T, O),
                ("Phone", T, O),
                ("MobilePhone", T, O),
                ("Title", T, O),
                ("MailingCity", T, O),
                ("MailingCountry", T, O),
                (ERP_ID, T, O),
            ],
        ),
        object(
            "Product2",
            "01t",
            &[
                ("Name", T, Q),
                ("ProductCode", T, O),
                ("Description", T, O),
                ("IsActive", B, O),
                ("Family", T, O),
                ("QuantityUnitOfMeasure", T, O),
                ("StockKeepingUnit", T, O),
                (ERP_ID, T, O),
            ],
        ),
        object(
            "Pricebook2",
            "01s",
            &[
                ("Name", T, Q),
                ("IsActive", B, O),
                ("IsStandard", B, R),
                ("Description", T, O),
            ],
        ),
        object(
            "PricebookEntry",
            "01u",
            &[
                ("Pricebook2Id", Ref("Pricebook2"), Q),
                ("Product2Id", Ref("Product2"), Q),
                ("UnitPrice", N, Q),
                ("IsActive", B, O),
                ("UseStandardPrice", B, O),
                ("CurrencyIsoCode", T, O),
            ],
        ),
        object(
            "Opportunity",
            "006",
            &[
                ("Name", T, Q),
                ("AccountId", Ref("Account"), O),
                ("StageName", T, Q),
                ("CloseDate", D, Q),
                ("Amount", N, O),
                ("Pricebook2Id", Ref("Pricebook2"), O),
                ("SAP_Order__c", T, O),
                ("Delivery_Status__c", T, O),
                ("Billing_Status__c", T, O),
                ("SAP_Delivery__c", T, O),
                ("Shipped_At__c", Kind::DateTime, O),
                ("SAP_Invoice__c", T, O),
                ("Invoice_Date__c", D, O),
                ("Invoice_Amount__c", N, O),
                (ERP_ID, T, O),
            ],
        ),
        object(
            "OpportunityLineItem",
            "00k",
            &[
                ("OpportunityId", Ref("Opportunity"), C),
                ("PricebookEntryId", Ref("PricebookEntry"), C),
                ("Product2Id", Ref("Product2"), O),
                ("Quantity", N, Q),
                ("UnitPrice", N, O),
                ("TotalPrice", N, R),
                ("Description", T, O),
            ],
        ),
        object(
            "Order",
            "801",
            &[
                ("AccountId", Ref("Account"), Q),
                ("EffectiveDate", D, Q),
                ("Status", T, Q),
                ("Pricebook2Id", Ref("Pricebook2"), O),
                ("OrderNumber", T, R),
                ("TotalAmount", N, R),
                ("BillToContactId", Ref("Contact"), O),
                ("Description", T, O),
                (ERP_ID, T, O),
            ],
        ),
        object(
            "OrderItem",
            "802",
            &[
                ("OrderId", Ref("Order"), C),
                ("PricebookEntryId", Ref("PricebookEntry"), C),
                ("Product2Id", Ref("Product2"), O),
                ("Quantity", N, Q),
                ("UnitPrice", N, Q),
                ("TotalPrice", N, R),
                ("ServiceDate", D, O),
                ("Description", T, O),
            ],
        ),
    ]
}
