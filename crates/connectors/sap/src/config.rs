//! Typed settings of the `sap` connector: the system (where S/4HANA is, how to
//! authenticate, the `sap-client`), a flow's `source:` (an entity set read by its change
//! time) and its `target:` (an entity set written by business key). Each part deserializes
//! with unknown keys refused and validates itself; every problem is a [`ConfigIssue`] at
//! its key path.

use std::time::Duration;

use ferry_kit::http::{AuthSettings, HttpSettings};
use ferry_model::config::{ConfigIssue, DurationStr};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Settings under `systems.<name>` for `kind: sap`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// The host (`https://my000000-api.s4hana.cloud.sap`), timeouts, retries and the
    /// request budget. Services are under `/sap/opu/odata/sap/<SERVICE>/` on it.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// How to authenticate: `{type: basic, username, password}` (the communication user)
    /// or `{type: oauth2_client_credentials, token_url: /sap/bc/sec/oauth2/token, …}`.
    pub auth: AuthSettings,
    /// The `sap-client` (Mandant) sent with every request, on systems with several
    /// (on-premise; S/4HANA Cloud has one and needs none).
    #[serde(default)]
    pub sap_client: Option<String>,
    /// The OData services `ferry discover` lists (default: business partner, product,
    /// sales order, outbound delivery, billing document).
    #[serde(default)]
    pub services: Vec<String>,
    /// Records written in one `$batch` request at most (default 20; each its own change
    /// set).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

fn default_batch() -> usize {
    20
}

/// The services `ferry discover` lists when none are configured.
pub const DEFAULT_SERVICES: [&str; 5] = [
    "API_BUSINESS_PARTNER",
    "API_PRODUCT_SRV",
    "API_SALES_ORDER_SRV",
    "API_OUTBOUND_DELIVERY_SRV;v=0002",
    "API_BILLING_DOCUMENT_SRV",
];

impl SystemSettings {
    /// Problems with the settings, the HTTP and auth ones aside.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.batch_size == 0 || self.batch_size > 200 {
            issues.push(ConfigIssue::new(["batch_size"], "must be 1 to 200"));
        }
        if let Some(client) = &self.sap_client
            && (client.len() != 3 || !client.chars().all(|c| c.is_ascii_digit()))
        {
            issues.push(ConfigIssue::new(
                ["sap_client"],
                format!("`{client}` is not a client: three digits, like `100`"),
            ));
        }
        for (i, s) in self.services.iter().enumerate() {
            name_issue(&mut issues, &["services", &i.to_string()], s, true);
        }
        issues
    }
}

/// What Ferry knows of an entity set without asking: its key, its change stamp and the
/// property a CRM's key is written to.
#[derive(Debug, Clone, Copy)]
pub struct KnownSet {
    pub name: &'static str,
    pub key: &'static [&'static str],
    /// The change stamp (`None`: the set has none, read it with `poll: all`).
    pub modified: Option<&'static str>,
    /// With a `Edm.DateTime` date stamp: the `Edm.Time` property holding its time of day.
    pub modified_time: Option<&'static str>,
    /// Where an upsert looks a record up by the flow's key.
    pub lookup: &'static str,
}

const KNOWN: &[KnownSet] = &[
    KnownSet {
        name: "A_SalesOrder",
        key: &["SalesOrder"],
        modified: Some("LastChangeDateTime"),
        modified_time: None,
        lookup: "PurchaseOrderByCustomer",
    },
    KnownSet {
        name: "A_BusinessPartner",
        key: &["BusinessPartner"],
        modified: Some("LastChangeDate"),
        modified_time: Some("LastChangeTime"),
        lookup: "SearchTerm1",
    },
    KnownSet {
        name: "A_Customer",
        key: &["Customer"],
        modified: None,
        modified_time: None,
        lookup: "Customer",
    },
    KnownSet {
        name: "A_Product",
        key: &["Product"],
        modified: Some("LastChangeDateTime"),
        modified_time: None,
        lookup: "Product",
    },
    KnownSet {
        name: "A_OutbDeliveryHeader",
        key: &["DeliveryDocument"],
        modified: Some("LastChangeDate"),
        modified_time: None,
        lookup: "DeliveryDocument",
    },
    KnownSet {
        name: "A_BillingDocument",
        key: &["BillingDocument"],
        modified: Some("LastChangeDateTime"),
        modified_time: None,
        lookup: "BillingDocument",
    },
    KnownSet {
        name: "A_CreditManagementAccount",
        key: &["BusinessPartner", "CreditSegment"],
        modified: None,
        modified_time: None,
        lookup: "BusinessPartner",
    },
];

/// The known entity set called `name`.
pub fn known(name: &str) -> Option<&'static KnownSet> {
    KNOWN.iter().find(|k| k.name == name)
}

/// How a source finds changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Poll {
    /// Records whose change stamp moved (`$filter` on it).
    #[default]
    Modified,
    /// Every record, every scan, in key order: for sets without a stamp (customers,
    /// credit accounts).
    All,
}

/// The literal type of a change stamp in `$filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StampType {
    /// `Edm.DateTimeOffset`: `datetimeoffset'2024-05-01T08:00:00Z'`.
    Datetimeoffset,
    /// `Edm.DateTime`: `datetime'2024-05-01T08:00:00'`.
    Datetime,
}

/// Options of a flow's `source:` reading an entity set.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// The OData service (`API_SALES_ORDER_SRV`, `API_BUSINESS_PARTNER`, …).
    pub service: String,
    /// The entity set (`A_SalesOrder`, `A_Product`, `A_CreditManagementAccount`, …).
    pub entity_set: String,
    /// The properties to read (`$select`); empty (default): all of them.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Navigation properties read with each record (`$expand`, one level): `[to_Item]`.
    /// `to_Item` becomes the record's `lines`; others keep their name.
    #[serde(default)]
    pub expand: Vec<String>,
    /// An extra `$filter`, ANDed with the change condition (`SalesOrganization eq '1010'`).
    #[serde(default)]
    pub filter: Option<String>,
    /// The key properties (known sets need none): the record's id, and the tie-break.
    #[serde(default)]
    pub key: Vec<String>,
    /// The change stamp (default `LastChangeDateTime`, or what the known set has:
    /// `LastChangeDate` for business partners and deliveries).
    #[serde(default)]
    pub modified: Option<String>,
    /// With a date-only stamp, the `Edm.Time` property with its time of day
    /// (`LastChangeTime` for business partners).
    #[serde(default)]
    pub modified_time: Option<String>,
    /// The stamp's literal type (default: `datetimeoffset` for a `…DateTime` property,
    /// `datetime` otherwise).
    #[serde(default)]
    pub modified_type: Option<StampType>,
    /// `modified` (default), or `all` for sets without a change stamp.
    #[serde(default)]
    pub poll: Option<Poll>,
    /// How far back each new scan starts, for changes committed late with an earlier
    /// stamp (default 2m); the window settles when nothing newer comes.
    #[serde(default)]
    pub overlap: Option<DurationStr>,
}

/// How changes are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    /// No stamp: every record, every scan.
    None,
    /// One stamp property.
    One { field: String, ty: StampType },
    /// A date property and a time-of-day property.
    DateAndTime { date: String, time: String },
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub service: String,
    pub set: String,
    pub fields: Vec<String>,
    pub expand: Vec<String>,
    pub filter: Option<String>,
    pub key: Vec<String>,
    pub stamp: Stamp,
    pub overlap: Duration,
}

impl SourceOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<SourceSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        name_issue(&mut issues, &["service"], &self.service, true);
        name_issue(&mut issues, &["entity_set"], &self.entity_set, false);
        let k = known(&self.entity_set);
        let key: Vec<String> = if self.key.is_empty() {
            k.map(|k| k.key.iter().map(|s| (*s).to_owned()).collect())
                .unwrap_or_default()
        } else {
            self.key.clone()
        };
        if key.is_empty() {
            issues.push(ConfigIssue::new(
                ["key"],
                format!(
                    "`{}` is not an entity set Ferry knows: list its key properties",
                    self.entity_set
                ),
            ));
        }
        for (list, at) in [
            (&self.fields, "fields"),
            (&self.expand, "expand"),
            (&self.key, "key"),
        ] {
            for (i, f) in list.iter().enumerate() {
                name_issue(&mut issues, &[at, &i.to_string()], f, false);
            }
        }
        let poll = self.poll.unwrap_or(match k {
            Some(k) if k.modified.is_none() && self.modified.is_none() => Poll::All,
            _ => Poll::Modified,
        });
        let stamp = match poll {
            Poll::All => {
                if self.modified.is_some() || self.modified_time.is_some() {
                    issues.push(ConfigIssue::new(
                        ["modified"],
                        "applies to `poll: modified` only",
                    ));
                }
                Stamp::None
            }
            Poll::Modified => {
                let field = self
                    .modified
                    .clone()
                    .or_else(|| k.and_then(|k| k.modified).map(str::to_owned))
                    .unwrap_or_else(|| "LastChangeDateTime".to_owned());
                name_issue(&mut issues, &["modified"], &field, false);
                let time = self.modified_time.clone().or_else(|| {
                    k.filter(|k| self.modified.is_none() || k.modified == self.modified.as_deref())
                        .and_then(|k| k.modified_time)
                        .map(str::to_owned)
                });
                match time {
                    Some(time) => {
                        name_issue(&mut issues, &["modified_time"], &time, false);
                        Stamp::DateAndTime { date: field, time }
                    }
                    None => {
                        let ty = self
                            .modified_type
                            .unwrap_or(if field.ends_with("DateTime") {
                                StampType::Datetimeoffset
                            } else {
                                StampType::Datetime
                            });
                        Stamp::One { field, ty }
                    }
                }
            }
        };
        if let Some(f) = &self.filter
            && f.trim().is_empty()
        {
            issues.push(ConfigIssue::new(["filter"], "is empty: leave it out"));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(SourceSpec {
            service: self.service,
            set: self.entity_set,
            fields: self.fields,
            expand: self.expand,
            filter: self.filter,
            key,
            stamp,
            overlap: self.overlap.map_or(Duration::from_secs(120), |d| d.0),
        })
    }
}

/// Options of a flow's `target:` writing an entity set.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// The OData service (`API_SALES_ORDER_SRV`).
    pub service: String,
    /// The entity set (`A_SalesOrder`, `A_BusinessPartner`, `A_Product`).
    pub entity_set: String,
    /// The property holding the flow's business key, where a record is looked up before
    /// writing: SAP has no upsert by an external id. Known sets: `PurchaseOrderByCustomer`
    /// for sales orders (the CRM's order number), `SearchTerm1` for business partners,
    /// the key itself for products and customers.
    #[serde(default)]
    pub key: Option<String>,
    /// The entity's key property, answered as the record's target id (known sets need
    /// none).
    #[serde(default)]
    pub id: Option<String>,
    /// Canonical field → property. Unlisted fields keep their name; `~` leaves one out.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// Properties set on create when the record has none (`{SalesOrderType: OR,
    /// SalesOrganization: "1010"}`).
    #[serde(default)]
    pub defaults: Map<String, Value>,
    /// The lines: written on create by deep insert under a navigation property, and on
    /// later changes item by item (see [`LinesTarget::update`]).
    #[serde(default)]
    pub lines: Option<LinesTarget>,
    /// Whether a key not found is created (default true); `false` for sets the API cannot
    /// create (products): such a record is refused.
    #[serde(default = "yes")]
    pub create: bool,
    /// Whether writes go in `$batch` change sets, one per record (default true), or one
    /// request each.
    #[serde(default = "yes")]
    pub batch: bool,
    /// How long SAP may go on saving a `$batch` after the process that sent it died
    /// (default 30s): after such a death, the flow's next run waits this long before it
    /// looks records up, so it finds what SAP was still saving instead of creating it
    /// again. Longer than the slowest `$batch` you see (`batch_size` records).
    #[serde(default)]
    pub settle: Option<DurationStr>,
}

/// The default of [`TargetOptions::settle`].
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);

fn yes() -> bool {
    true
}

/// The lines of a record, deep-inserted with it.
///
/// SAP Gateway has no deep update, so when a record already in SAP has other lines, each
/// line is compared with the item at the same position (items in item-number order): a
/// changed line is a `PATCH` of that item, a new line a `POST` under the navigation
/// (`A_SalesOrder('…')/to_Item`), an item beyond the record's lines a `DELETE`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesTarget {
    /// The navigation property (default `to_Item`).
    #[serde(default)]
    pub nav: Option<String>,
    /// The canonical field holding the lines (default `lines`).
    #[serde(default)]
    pub from: Option<String>,
    /// Canonical line field → item property (`{sku: Material, quantity:
    /// RequestedQuantity}`). Unlisted fields keep their name; `~` leaves one out.
    #[serde(default)]
    pub fields: IndexMap<String, Option<String>>,
    /// Whether an existing record's changed lines are written item by item (default
    /// true); `false` writes lines on create only.
    #[serde(default = "yes")]
    pub update: bool,
    /// The items' entity set (default `A_SalesOrderItem`).
    #[serde(default)]
    pub set: Option<String>,
    /// The item number property, the second part of an item's key beside the record's id
    /// property (default `SalesOrderItem`).
    #[serde(default)]
    pub item: Option<String>,
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub service: String,
    pub set: String,
    pub key: String,
    pub id: String,
    pub options: TargetOptions,
}

impl TargetOptions {
    /// Checks the options.
    pub fn validate(self) -> Result<TargetSpec, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        name_issue(&mut issues, &["service"], &self.service, true);
        name_issue(&mut issues, &["entity_set"], &self.entity_set, false);
        let k = known(&self.entity_set);
        let id = self
            .id
            .clone()
            .or_else(|| k.filter(|k| k.key.len() == 1).map(|k| k.key[0].to_owned()));
        let key = self.key.clone().or_else(|| k.map(|k| k.lookup.to_owned()));
        for (at, value, what) in [
            ("id", &id, "its key property"),
            ("key", &key, "the property holding the flow's key"),
        ] {
            match value {
                None => issues.push(ConfigIssue::new(
                    [at],
                    format!(
                        "`{}` is not an entity set Ferry knows: name {what}",
                        self.entity_set
                    ),
                )),
                Some(v) => name_issue(&mut issues, &[at], v, false),
            }
        }
        for (canonical, to) in &self.fields {
            if let Some(to) = to {
                name_issue(&mut issues, &["fields", canonical], to, false);
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(TargetSpec {
            service: self.service.clone(),
            set: self.entity_set.clone(),
            key: key.unwrap_or_default(),
            id: id.unwrap_or_default(),
            options: self,
        })
    }
}

/// A service, set or property name: letters, digits and `_` (a service may end in
/// `;v=0002`). Anything else would have to be escaped into a URL path or `$filter`.
fn name_issue(issues: &mut Vec<ConfigIssue>, at: &[&str], name: &str, service: bool) {
    let base = if service {
        name.split(";v=").next().unwrap_or(name)
    } else {
        name
    };
    let ok = !base.is_empty() && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let version_ok = !service
        || name
            .split_once(";v=")
            .is_none_or(|(_, v)| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()));
    if !ok || !version_ok {
        issues.push(ConfigIssue::at(
            at.iter().map(|s| (*s).to_owned()).collect(),
            format!("`{name}` is not an OData name (letters, digits and `_`)"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(v: Value) -> Result<SourceSpec, Vec<ConfigIssue>> {
        let o: SourceOptions = serde_json::from_value(v).unwrap();
        o.validate()
    }

    #[test]
    fn known_sets_need_no_key_and_pick_their_stamp() {
        let s = source(json!({"service": "API_SALES_ORDER_SRV", "entity_set": "A_SalesOrder"}))
            .unwrap();
        assert_eq!(s.key, ["SalesOrder"]);
        assert_eq!(
            s.stamp,
            Stamp::One {
                field: "LastChangeDateTime".into(),
                ty: StampType::Datetimeoffset
            }
        );
        let bp =
            source(json!({"service": "API_BUSINESS_PARTNER", "entity_set": "A_BusinessPartner"}))
                .unwrap();
        assert_eq!(
            bp.stamp,
            Stamp::DateAndTime {
                date: "LastChangeDate".into(),
                time: "LastChangeTime".into()
            }
        );
        let credit = source(
            json!({"service": "API_CRDTMBUSINESSPARTNER", "entity_set": "A_CreditManagementAccount"}),
        )
        .unwrap();
        assert_eq!(credit.stamp, Stamp::None);
        let unknown =
            source(json!({"service": "API_X", "entity_set": "A_Thing", "fields": ["a b"]}))
                .unwrap_err();
        let at: Vec<String> = unknown.iter().map(ConfigIssue::dotted).collect();
        assert_eq!(at, ["key", "fields.0"]);
    }
}
