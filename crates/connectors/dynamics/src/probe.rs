//! `ferry check --live`: what a flow's options and mapping name, checked against the org's
//! `$metadata` without changing anything: the entity set, the key (a column with an
//! alternate key on it), the columns mapped, the lookups' navigation properties, and the
//! columns a source selects.

use ferry_kit::probe::did_you_mean;
use ferry_kit::{Probe, SinkContext};

use crate::api::Api;
use crate::config::{Source, Target};
use crate::metadata::EntityType;

/// The table `set`, or the probe saying it is not there.
async fn table(api: &Api, set: &str) -> Result<EntityType, Probe> {
    let schema = api.schema().await.map_err(|e| Probe::failed(&e))?;
    schema.sets.get(set).cloned().ok_or_else(|| {
        let mut probe = Probe::default();
        let known = did_you_mean(set, schema.sets.keys().map(String::as_str));
        probe.option(
            &["entity_set"],
            format!("the org has no entity set `{set}`{known}"),
        );
        probe
    })
}

fn column_issue(ty: &EntityType, set: &str, column: &str) -> Option<String> {
    let names = ty.properties.iter().map(|(n, _)| n.as_str());
    ty.property(column).is_none().then(|| {
        format!(
            "{set} has no column `{column}`{}",
            did_you_mean(column, names)
        )
    })
}

pub async fn sink(api: &Api, target: &Target, ctx: &SinkContext) -> Probe {
    let ty = match table(api, &target.set).await {
        Ok(ty) => ty,
        Err(probe) => return probe,
    };
    let mut probe = Probe::default();
    if let Some(issue) = column_issue(&ty, &target.set, &target.key) {
        probe.option(&["key"], issue);
    } else if !ty
        .alternate_keys
        .iter()
        .any(|k| k == std::slice::from_ref(&target.key))
    {
        probe.option(
            &["key"],
            format!(
                "`{}` has no alternate key of its own on {}: define one (Settings → Keys) or name another",
                target.key, target.set
            ),
        );
    }
    for field in ctx.fields.iter().filter(|f| **f != ctx.key_field) {
        if let Some(lookup) = target.lookups.get(field) {
            if !ty.navigation.contains(&lookup.bind) {
                let message = format!(
                    "{} has no navigation property `{}`",
                    target.set, lookup.bind
                );
                probe.option(&["lookups", field, "bind"], message);
            }
            continue;
        }
        let column = target.fields.get(field).unwrap_or(field);
        if let Some(issue) = column_issue(&ty, &target.set, column) {
            probe.mapped(field, issue);
        }
    }
    probe
}

pub async fn source(api: &Api, source: &Source) -> Probe {
    let ty = match table(api, &source.set).await {
        Ok(ty) => ty,
        Err(probe) => return probe,
    };
    let mut probe = Probe::default();
    for (i, column) in source.select.iter().enumerate() {
        if let Some(issue) = column_issue(&ty, &source.set, column) {
            probe.option(&["select", &i.to_string()], issue);
        }
    }
    let names = if source.select.is_empty() {
        ty.properties.iter().map(|(n, _)| n.clone()).collect()
    } else {
        source.select.clone()
    };
    probe.carries(names, format!("$metadata of {}", source.set));
    probe
}
