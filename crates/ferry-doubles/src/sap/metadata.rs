//! The service document (`GET <service>/`) and a small `$metadata` EDMX generated from the
//! catalog: enough for a client to read names, keys, types (with `sap:display-format="Date"`
//! on the calendar days) and where navigations lead, not SAP's full document.

use std::fmt::Write;

use axum::http::StatusCode;
use serde_json::json;

use super::answer::Reply;
use super::catalog::{self, Held};

/// `{"d": {"EntitySets": [...]}}`.
pub fn service_document(service: &str) -> Reply {
    let sets: Vec<&str> = catalog::sets_of(service).map(|s| s.name).collect();
    Reply::json(StatusCode::OK, &json!({"d": {"EntitySets": sets}}))
}

/// The EDMX of one service (OData v2; of the `sap:` annotations only `display-format`).
pub fn edmx(service: &str) -> Reply {
    let namespace = service.split(';').next().unwrap_or(service);
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><edmx:DataServices m:DataServiceVersion="2.0">"#,
    );
    let _ = write!(
        xml,
        r#"<Schema Namespace="{namespace}" xml:lang="en" xmlns="http://schemas.microsoft.com/ado/2008/09/edm" xmlns:sap="http://www.sap.com/Protocols/SAPData">"#
    );
    for set in catalog::sets_of(service) {
        let _ = write!(xml, r#"<EntityType Name="{}Type"><Key>"#, set.name);
        for k in set.key {
            let _ = write!(xml, r#"<PropertyRef Name="{k}"/>"#);
        }
        xml.push_str("</Key>");
        for (name, kind) in set.props {
            let nullable = if set.key.contains(name) {
                "false"
            } else {
                "true"
            };
            // Every Edm.DateTime the double serves is a calendar day, as in the A2X APIs.
            let precision = match kind.edm() {
                "Edm.DateTimeOffset" => r#" Precision="7""#,
                "Edm.DateTime" => r#" Precision="0" sap:display-format="Date""#,
                _ => "",
            };
            let _ = write!(
                xml,
                r#"<Property Name="{name}" Type="{}" Nullable="{nullable}"{precision}/>"#,
                kind.edm()
            );
        }
        for nav in set.navs {
            let many = if nav.held == Held::Embedded { "*" } else { "1" };
            let _ = write!(
                xml,
                r#"<NavigationProperty Name="{}" Relationship="{namespace}.assoc_{}_{}" FromRole="FromRole" ToRole="ToRole_{many}"/>"#,
                nav.name, set.name, nav.name
            );
        }
        xml.push_str("</EntityType>");
    }
    for set in catalog::sets_of(service) {
        for nav in set.navs {
            let many = if nav.held == Held::Embedded { "*" } else { "1" };
            let _ = write!(
                xml,
                r#"<Association Name="assoc_{0}_{1}"><End Type="{namespace}.{0}Type" Multiplicity="1" Role="FromRole"/><End Type="{namespace}.{2}Type" Multiplicity="{many}" Role="ToRole_{many}"/></Association>"#,
                set.name, nav.name, nav.set
            );
        }
    }
    let _ = write!(
        xml,
        r#"<EntityContainer Name="{namespace}_Entities" m:IsDefaultEntityContainer="true">"#
    );
    for set in catalog::sets_of(service) {
        let _ = write!(
            xml,
            r#"<EntitySet Name="{0}" EntityType="{namespace}.{0}Type"/>"#,
            set.name
        );
    }
    xml.push_str("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    Reply::new(StatusCode::OK, "application/xml", xml)
}

/// What a read without `Accept: application/json` (or `$format=json`) gets: Gateway's
/// default, Atom XML. The double sends a bare feed, only so such a client fails as it
/// would against SAP.
pub fn atom_stub(name: &str) -> Reply {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title type="text">{name}</title></feed>"#
    );
    Reply::new(
        StatusCode::OK,
        "application/atom+xml;type=feed; charset=utf-8",
        body,
    )
}
