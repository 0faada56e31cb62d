//! `$metadata` (CSDL XML: entity types, their properties and Edm types, keys, alternate
//! keys, lookups) and the service document.

use axum::http::StatusCode;
use serde_json::json;

use super::Ctx;
use super::tables::{SYSTEM_COLUMNS, TABLES};
use crate::reply::Reply;

pub fn service_document(ctx: &Ctx) -> Reply {
    let sets: Vec<_> = TABLES
        .iter()
        .map(|t| json!({"name": t.set, "kind": "EntitySet", "url": t.set}))
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({"@odata.context": format!("{}$metadata", ctx.root()), "value": sets}),
    )
}

pub fn csdl() -> Reply {
    let mut types = String::new();
    for t in TABLES {
        types.push_str(&format!(
            "<EntityType Name=\"{}\"><Key><PropertyRef Name=\"{}\" /></Key><Property Name=\"{}\" Type=\"Edm.Guid\" />",
            t.entity, t.id, t.id
        ));
        for (name, edm) in t.columns.iter().chain(SYSTEM_COLUMNS.iter()) {
            let len = match edm {
                super::Edm::String(max) => format!(" MaxLength=\"{max}\""),
                _ => String::new(),
            };
            types.push_str(&format!(
                "<Property Name=\"{name}\" Type=\"{}\"{len} />",
                edm.name()
            ));
        }
        for l in t.lookups {
            types.push_str(&format!(
                "<Property Name=\"{}\" Type=\"Edm.Guid\" /><NavigationProperty Name=\"{}\" Type=\"mscrm.{}\" />",
                l.value_property(),
                l.nav,
                super::tables::table(l.target).map_or("crmbaseentity", |x| x.entity)
            ));
        }
        let refs: String = t
            .key
            .iter()
            .map(|k| format!("<Record Type=\"OData.Community.Keys.V1.PropertyRef\"><PropertyValue Property=\"Alias\" String=\"{k}\" /><PropertyValue Property=\"Name\" PropertyPath=\"{k}\" /></Record>"))
            .collect();
        types.push_str(&format!(
            "<Annotation Term=\"OData.Community.Keys.V1.AlternateKeys\"><Collection><Record Type=\"OData.Community.Keys.V1.AlternateKey\"><PropertyValue Property=\"Key\"><Collection>{refs}</Collection></PropertyValue></Record></Collection></Annotation></EntityType>"
        ));
    }
    let sets: String = TABLES
        .iter()
        .map(|t| {
            format!(
                "<EntitySet Name=\"{}\" EntityType=\"Microsoft.Dynamics.CRM.{}\" />",
                t.set, t.entity
            )
        })
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\"><edmx:DataServices><Schema Namespace=\"Microsoft.Dynamics.CRM\" Alias=\"mscrm\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">{types}<EntityContainer Name=\"System\">{sets}</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    );
    Reply::new(StatusCode::OK, "application/xml", xml)
}
