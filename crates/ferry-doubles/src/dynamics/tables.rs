//! The tables the double serves: entity sets, their primary id, alternate key, columns
//! with their Edm types, and lookups (single-valued navigation properties).

/// A column's type as `$metadata` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edm {
    /// `Edm.String` with its maximum length.
    String(usize),
    /// `Edm.Decimal` (Dataverse Money and Decimal columns).
    Decimal,
    Int32,
    Boolean,
    /// `Edm.Date` (date-only columns).
    Date,
    DateTimeOffset,
}

impl Edm {
    pub fn name(self) -> &'static str {
        match self {
            Edm::String(_) => "Edm.String",
            Edm::Decimal => "Edm.Decimal",
            Edm::Int32 => "Edm.Int32",
            Edm::Boolean => "Edm.Boolean",
            Edm::Date => "Edm.Date",
            Edm::DateTimeOffset => "Edm.DateTimeOffset",
        }
    }
}

/// A lookup: written as `<nav>@odata.bind`, read as `_<attribute>_value`.
#[derive(Debug, Clone, Copy)]
pub struct Lookup {
    pub nav: &'static str,
    pub attribute: &'static str,
    pub target: &'static str,
}

impl Lookup {
    /// The read-side property: `_parentcustomerid_value`.
    pub fn value_property(&self) -> String {
        format!("_{}_value", self.attribute)
    }
}

/// One table.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub set: &'static str,
    /// The logical (entity type) name: `account`.
    pub entity: &'static str,
    /// The primary id column: `accountid`.
    pub id: &'static str,
    /// The alternate key's columns.
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, Edm)],
    pub lookups: &'static [Lookup],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<Edm> {
        self.columns
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }

    pub fn lookup(&self, nav: &str) -> Option<&Lookup> {
        self.lookups.iter().find(|l| l.nav == nav)
    }
}

use Edm::{Date, DateTimeOffset, Decimal, Int32, String as Text};

/// Columns the server sets on every table.
pub const SYSTEM_COLUMNS: [(&str, Edm); 3] = [
    ("modifiedon", DateTimeOffset),
    ("createdon", DateTimeOffset),
    ("versionnumber", Int32),
];

pub const TABLES: &[Table] = &[
    Table {
        set: "accounts",
        entity: "account",
        id: "accountid",
        key: &["accountnumber"],
        columns: &[
            ("name", Text(160)),
            ("accountnumber", Text(20)),
            ("telephone1", Text(50)),
            ("emailaddress1", Text(100)),
            ("websiteurl", Text(200)),
            ("address1_line1", Text(250)),
            ("address1_city", Text(80)),
            ("address1_postalcode", Text(20)),
            ("address1_country", Text(80)),
            ("creditlimit", Decimal),
            ("revenue", Decimal),
            ("numberofemployees", Int32),
            ("statecode", Int32),
        ],
        lookups: &[Lookup {
            nav: "primarycontactid",
            attribute: "primarycontactid",
            target: "contacts",
        }],
    },
    Table {
        set: "contacts",
        entity: "contact",
        id: "contactid",
        key: &["emailaddress1"],
        columns: &[
            ("firstname", Text(50)),
            ("lastname", Text(50)),
            ("emailaddress1", Text(100)),
            ("telephone1", Text(50)),
            ("mobilephone", Text(50)),
            ("jobtitle", Text(100)),
            ("statecode", Int32),
        ],
        lookups: &[Lookup {
            nav: "parentcustomerid_account",
            attribute: "parentcustomerid",
            target: "accounts",
        }],
    },
    Table {
        set: "opportunities",
        entity: "opportunity",
        id: "opportunityid",
        key: &["new_externalkey"],
        columns: &[
            ("name", Text(300)),
            ("new_externalkey", Text(100)),
            ("estimatedvalue", Decimal),
            ("estimatedclosedate", Date),
            ("closeprobability", Int32),
            ("description", Text(2000)),
            ("statecode", Int32),
        ],
        lookups: &[Lookup {
            nav: "parentaccountid",
            attribute: "parentaccountid",
            target: "accounts",
        }],
    },
    Table {
        set: "salesorders",
        entity: "salesorder",
        id: "salesorderid",
        key: &["ordernumber"],
        columns: &[
            ("name", Text(300)),
            ("ordernumber", Text(100)),
            ("totalamount", Decimal),
            ("requestdeliveryby", DateTimeOffset),
            ("description", Text(2000)),
            ("statecode", Int32),
        ],
        lookups: &[Lookup {
            nav: "customerid_account",
            attribute: "customerid",
            target: "accounts",
        }],
    },
];

pub fn table(set: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.set == set)
}
