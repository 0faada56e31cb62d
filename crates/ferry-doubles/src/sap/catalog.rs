//! The services and entity sets the double serves, with their properties' EDM types: what
//! rendering, `$filter`, `$metadata` and write validation all read.
//!
//! Top-level entity sets are store objects of the same name (store key `_key`, the
//! canonical key text). Item-like sets (`A_SalesOrderItem` …) are *embedded*: they live
//! as an array under the parent's navigation property, so a deep insert and its rollback
//! are one store write.

/// The EDM type of a property, as far as the double needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Edm.String`.
    Str,
    /// `Edm.Decimal`: a JSON string (`"2656.24"`).
    Dec,
    /// `Edm.DateTime`: `/Date(ms)/`.
    Date,
    /// `Edm.DateTimeOffset`: `/Date(ms+0000)/`.
    Stamp,
    /// `Edm.Time`: `PT10H30M00S`.
    Time,
    /// `Edm.Boolean`.
    Bool,
}

impl Kind {
    pub fn edm(self) -> &'static str {
        match self {
            Kind::Str => "Edm.String",
            Kind::Dec => "Edm.Decimal",
            Kind::Date => "Edm.DateTime",
            Kind::Stamp => "Edm.DateTimeOffset",
            Kind::Time => "Edm.Time",
            Kind::Bool => "Edm.Boolean",
        }
    }
}

/// How a navigation property is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// An array in the parent record; `set` types its entries.
    Embedded,
    /// The one record of `set` whose key equals the parent's key (BP → customer).
    SameKey,
}

#[derive(Clone, Copy, Debug)]
pub struct Nav {
    pub name: &'static str,
    pub set: &'static str,
    pub held: Held,
}

/// Which change stamp a set shows, computed from the store's modified time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// `LastChangeDateTime` (and `LastChangeDate` when listed as a property).
    DateTimeOffset,
    /// `LastChangeDate` + `LastChangeTime` (business partner).
    DateAndTime,
    /// `LastChangeDate` only (outbound delivery, v2).
    Date,
    /// No stamp (customer; items, which show their header's).
    None,
}

#[derive(Debug)]
pub struct EntitySet {
    pub service: &'static str,
    pub name: &'static str,
    /// The key properties, in URL order.
    pub key: &'static [&'static str],
    pub props: &'static [(&'static str, Kind)],
    pub navs: &'static [Nav],
    pub stamp: Stamp,
    /// For an embedded set: the parent set and the navigation holding it.
    pub parent: Option<(&'static str, &'static str)>,
    /// Whether PATCH/MERGE/PUT are served.
    pub updatable: bool,
}

impl EntitySet {
    /// `API_SALES_ORDER_SRV.A_SalesOrderType`.
    pub fn type_name(&self) -> String {
        let namespace = self.service.split(';').next().unwrap_or(self.service);
        format!("{namespace}.{}Type", self.name)
    }

    pub fn kind(&self, prop: &str) -> Option<Kind> {
        self.props.iter().find(|(p, _)| *p == prop).map(|(_, k)| *k)
    }

    pub fn nav(&self, name: &str) -> Option<&'static Nav> {
        self.navs.iter().find(|n| n.name == name)
    }

    /// Properties the server computes (change stamps): never taken from a client.
    pub fn is_computed(&self, prop: &str) -> bool {
        matches!(
            prop,
            "LastChangeDateTime" | "LastChangeDate" | "LastChangeTime"
        ) || (self.stamp != Stamp::None && prop == "CreationDate")
    }
}

use Kind::{Bool, Date, Dec, Stamp as Ts, Str, Time};

const fn nav(name: &'static str, set: &'static str) -> Nav {
    Nav {
        name,
        set,
        held: Held::Embedded,
    }
}

pub const BP: &str = "API_BUSINESS_PARTNER";
pub const PRODUCT: &str = "API_PRODUCT_SRV";
pub const SALES: &str = "API_SALES_ORDER_SRV";
pub const DELIVERY: &str = "API_OUTBOUND_DELIVERY_SRV;v=0002";
pub const BILLING: &str = "API_BILLING_DOCUMENT_SRV";
/// A guess: the dossier names no credit API (see the README).
pub const CREDIT: &str = "API_CRDTMBUSINESSPARTNER";

pub const SETS: &[EntitySet] = &[
    EntitySet {
        service: BP,
        name: "A_BusinessPartner",
        key: &["BusinessPartner"],
        props: &[
            ("BusinessPartner", Str),
            ("Customer", Str),
            ("BusinessPartnerCategory", Str),
            ("BusinessPartnerFullName", Str),
            ("OrganizationBPName1", Str),
            ("FirstName", Str),
            ("LastName", Str),
            ("SearchTerm1", Str),
            ("BusinessPartnerGrouping", Str),
            ("BusinessPartnerIsBlocked", Bool),
            ("CreationDate", Date),
            ("LastChangeDate", Date),
            ("LastChangeTime", Time),
        ],
        navs: &[
            nav("to_BusinessPartnerAddress", "A_BusinessPartnerAddress"),
            nav("to_BusinessPartnerRole", "A_BusinessPartnerRole"),
            Nav {
                name: "to_Customer",
                set: "A_Customer",
                held: Held::SameKey,
            },
        ],
        stamp: Stamp::DateAndTime,
        parent: None,
        updatable: true,
    },
    EntitySet {
        service: BP,
        name: "A_BusinessPartnerAddress",
        key: &["BusinessPartner", "AddressID"],
        props: &[
            ("BusinessPartner", Str),
            ("AddressID", Str),
            ("StreetName", Str),
            ("HouseNumber", Str),
            ("PostalCode", Str),
            ("CityName", Str),
            ("Region", Str),
            ("Country", Str),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_BusinessPartner", "to_BusinessPartnerAddress")),
        updatable: false,
    },
    EntitySet {
        service: BP,
        name: "A_BusinessPartnerRole",
        key: &["BusinessPartner", "BusinessPartnerRole"],
        props: &[
            ("BusinessPartner", Str),
            ("BusinessPartnerRole", Str),
            ("ValidFrom", Ts),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_BusinessPartner", "to_BusinessPartnerRole")),
        updatable: false,
    },
    EntitySet {
        service: BP,
        name: "A_Customer",
        key: &["Customer"],
        props: &[
            ("Customer", Str),
            ("CustomerName", Str),
            ("CustomerAccountGroup", Str),
            ("DeletionIndicator", Bool),
            ("OrderIsBlockedForCustomer", Str),
        ],
        navs: &[nav("to_CustomerSalesArea", "A_CustomerSalesArea")],
        stamp: Stamp::None,
        parent: None,
        updatable: true,
    },
    EntitySet {
        service: BP,
        name: "A_CustomerSalesArea",
        key: &[
            "Customer",
            "SalesOrganization",
            "DistributionChannel",
            "Division",
        ],
        props: &[
            ("Customer", Str),
            ("SalesOrganization", Str),
            ("DistributionChannel", Str),
            ("Division", Str),
            ("Currency", Str),
            ("CustomerPaymentTerms", Str),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_Customer", "to_CustomerSalesArea")),
        updatable: false,
    },
    EntitySet {
        service: PRODUCT,
        name: "A_Product",
        key: &["Product"],
        props: &[
            ("Product", Str),
            ("ProductType", Str),
            ("BaseUnit", Str),
            ("ProductGroup", Str),
            ("GrossWeight", Dec),
            ("WeightUnit", Str),
            ("IsMarkedForDeletion", Bool),
            ("CrossPlantStatus", Str),
            ("ProductOldID", Str),
            ("CreationDate", Date),
            ("LastChangeDate", Date),
            ("LastChangeDateTime", Ts),
        ],
        navs: &[
            nav("to_Description", "A_ProductDescription"),
            nav("to_Valuation", "A_ProductValuation"),
        ],
        stamp: Stamp::DateTimeOffset,
        parent: None,
        updatable: true,
    },
    EntitySet {
        service: PRODUCT,
        name: "A_ProductDescription",
        key: &["Product", "Language"],
        props: &[
            ("Product", Str),
            ("Language", Str),
            ("ProductDescription", Str),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_Product", "to_Description")),
        updatable: false,
    },
    EntitySet {
        service: PRODUCT,
        name: "A_ProductValuation",
        key: &["Product", "ValuationArea"],
        props: &[
            ("Product", Str),
            ("ValuationArea", Str),
            ("StandardPrice", Dec),
            ("MovingAveragePrice", Dec),
            ("PriceUnitQty", Dec),
            ("Currency", Str),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_Product", "to_Valuation")),
        updatable: false,
    },
    EntitySet {
        service: SALES,
        name: "A_SalesOrder",
        key: &["SalesOrder"],
        props: &[
            ("SalesOrder", Str),
            ("SalesOrderType", Str),
            ("SalesOrganization", Str),
            ("DistributionChannel", Str),
            ("OrganizationDivision", Str),
            ("SoldToParty", Str),
            ("CreationDate", Date),
            ("LastChangeDateTime", Ts),
            ("PurchaseOrderByCustomer", Str),
            ("SalesOrderDate", Date),
            ("RequestedDeliveryDate", Date),
            ("TotalNetAmount", Dec),
            ("TransactionCurrency", Str),
            ("CustomerPaymentTerms", Str),
            ("IncotermsClassification", Str),
            ("OverallSDProcessStatus", Str),
            ("OverallTotalDeliveryStatus", Str),
            ("OverallDeliveryStatus", Str),
            ("TotalCreditCheckStatus", Str),
            ("TotalBlockStatus", Str),
        ],
        navs: &[
            nav("to_Item", "A_SalesOrderItem"),
            nav("to_Partner", "A_SalesOrderHeaderPartner"),
        ],
        stamp: Stamp::DateTimeOffset,
        parent: None,
        updatable: true,
    },
    EntitySet {
        service: SALES,
        name: "A_SalesOrderItem",
        key: &["SalesOrder", "SalesOrderItem"],
        props: &[
            ("SalesOrder", Str),
            ("SalesOrderItem", Str),
            ("Material", Str),
            ("SalesOrderItemText", Str),
            ("RequestedQuantity", Dec),
            ("RequestedQuantityUnit", Str),
            ("NetAmount", Dec),
            ("TransactionCurrency", Str),
            ("Plant", Str),
            ("SalesOrderItemCategory", Str),
            ("SDProcessStatus", Str),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_SalesOrder", "to_Item")),
        updatable: true,
    },
    EntitySet {
        service: SALES,
        name: "A_SalesOrderHeaderPartner",
        key: &["SalesOrder", "PartnerFunction"],
        props: &[
            ("SalesOrder", Str),
            ("PartnerFunction", Str),
            ("Customer", Str),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_SalesOrder", "to_Partner")),
        updatable: false,
    },
    EntitySet {
        service: DELIVERY,
        name: "A_OutbDeliveryHeader",
        key: &["DeliveryDocument"],
        props: &[
            ("DeliveryDocument", Str),
            ("SoldToParty", Str),
            ("ShipToParty", Str),
            ("ShippingPoint", Str),
            ("DeliveryDate", Date),
            ("ActualGoodsMovementDate", Date),
            ("OverallGoodsMovementStatus", Str),
            ("OverallSDProcessStatus", Str),
            ("CreationDate", Date),
            ("LastChangeDate", Date),
        ],
        navs: &[nav("to_DeliveryDocumentItem", "A_OutbDeliveryItem")],
        stamp: Stamp::Date,
        parent: None,
        updatable: false,
    },
    EntitySet {
        service: DELIVERY,
        name: "A_OutbDeliveryItem",
        key: &["DeliveryDocument", "DeliveryDocumentItem"],
        props: &[
            ("DeliveryDocument", Str),
            ("DeliveryDocumentItem", Str),
            ("Material", Str),
            ("ActualDeliveryQuantity", Dec),
            ("DeliveryQuantityUnit", Str),
            ("ReferenceSDDocument", Str),
            ("ReferenceSDDocumentItem", Str),
            ("Batch", Str),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_OutbDeliveryHeader", "to_DeliveryDocumentItem")),
        updatable: false,
    },
    EntitySet {
        service: BILLING,
        name: "A_BillingDocument",
        key: &["BillingDocument"],
        props: &[
            ("BillingDocument", Str),
            ("BillingDocumentType", Str),
            ("BillingDocumentDate", Date),
            ("SoldToParty", Str),
            ("PayerParty", Str),
            ("TotalNetAmount", Dec),
            ("TotalTaxAmount", Dec),
            ("TotalGrossAmount", Dec),
            ("TransactionCurrency", Str),
            ("BillingDocumentIsCancelled", Bool),
            ("AccountingDocument", Str),
            ("AccountingPostingStatus", Str),
            ("CreationDate", Date),
            ("LastChangeDateTime", Ts),
        ],
        navs: &[nav("to_Item", "A_BillingDocumentItem")],
        stamp: Stamp::DateTimeOffset,
        parent: None,
        updatable: false,
    },
    EntitySet {
        service: BILLING,
        name: "A_BillingDocumentItem",
        key: &["BillingDocument", "BillingDocumentItem"],
        props: &[
            ("BillingDocument", Str),
            ("BillingDocumentItem", Str),
            ("Material", Str),
            ("BillingQuantity", Dec),
            ("BillingQuantityUnit", Str),
            ("NetAmount", Dec),
            ("TaxAmount", Dec),
            ("ReferenceSDDocument", Str),
            ("ReferenceSDDocumentItem", Str),
            ("SalesDocument", Str),
            ("SalesDocumentItem", Str),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: Some(("A_BillingDocument", "to_Item")),
        updatable: false,
    },
    EntitySet {
        service: CREDIT,
        name: "A_CreditManagementAccount",
        key: &["BusinessPartner", "CreditSegment"],
        props: &[
            ("BusinessPartner", Str),
            ("CreditSegment", Str),
            ("CustomerCreditLimitAmount", Dec),
            ("CreditExposureAmount", Dec),
            ("CreditSegmentCurrency", Str),
            ("CreditLimitIsExceeded", Bool),
        ],
        navs: &[],
        stamp: Stamp::None,
        parent: None,
        updatable: true,
    },
];

/// The set called `name` within `service` (the service's `;v=…` suffix is optional).
pub fn set(service: &str, name: &str) -> Option<&'static EntitySet> {
    SETS.iter()
        .find(|s| same_service(s.service, service) && s.name == name)
}

/// The set called `name` in any service.
pub fn named(name: &str) -> &'static EntitySet {
    SETS.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("entity set {name} is in the catalog"))
}

/// The catalog's spelling of a requested service name, if served.
pub fn service(requested: &str) -> Option<&'static str> {
    SETS.iter()
        .map(|s| s.service)
        .find(|s| same_service(s, requested))
}

pub fn sets_of(service: &str) -> impl Iterator<Item = &'static EntitySet> {
    SETS.iter().filter(move |s| s.service == service)
}

fn same_service(served: &str, requested: &str) -> bool {
    let base = |s: &str| s.split(';').next().unwrap_or("").to_ascii_uppercase();
    base(served) == base(requested)
}
