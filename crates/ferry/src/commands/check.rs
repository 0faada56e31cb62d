//! `ferry check`, `ferry schema`, `ferry discover`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::output::{out, outln, print_json, table};

/// Validates the config offline: parse, references, connectors, mappings, schedules; with
/// `live`, then against the systems too (`live_check.rs`).
pub async fn check(file: &Path, live: bool) -> anyhow::Result<ExitCode> {
    let loaded = match ferry_model::config::parse(file) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match ferry_engine::assemble(&loaded, &ferry_connectors::builtin()) {
        Ok(assembly) if live => super::live_check::run(file, &loaded, &assembly).await,
        Ok(assembly) => {
            outln!(
                "{}: OK ({} systems, {} flows)",
                file.display(),
                assembly.systems.len(),
                assembly.flows.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints the JSON Schema of `ferry.yaml`, with each connector's settings under `$defs`.
pub fn schema() -> anyhow::Result<ExitCode> {
    print_json(&config_schema()?)?;
    Ok(ExitCode::SUCCESS)
}

/// The schema of `ferry.yaml`: the typed config, with `systems.<name>` checked against the
/// settings of the connector its `kind` names (an editor completes and checks them), and
/// each connector's `source:`/`target:` options under `$defs` for reference (a flow's end
/// names a system, not a kind, so a schema cannot pick them).
fn config_schema() -> anyhow::Result<serde_json::Value> {
    let schema = schemars::schema_for!(ferry_model::config::Config);
    let mut schema = serde_json::to_value(schema)?;
    let defs = schema
        .get_mut("$defs")
        .and_then(serde_json::Value::as_object_mut)
        .context("the config schema has $defs")?;
    let mut by_kind = Vec::new();
    let mut kinds = Vec::new();
    for factory in ferry_connectors::builtin().factories() {
        let kind = factory.kind();
        let s = factory.schemas();
        let mut system = embeddable(kind, s.system.to_value(), defs);
        if let Some(props) = system.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert("kind".into(), serde_json::json!({ "const": kind }));
        }
        let source = embeddable(kind, s.source.to_value(), defs);
        let target = embeddable(kind, s.target.to_value(), defs);
        defs.insert(format!("connector.{kind}.system"), system);
        defs.insert(format!("connector.{kind}.source"), source);
        defs.insert(format!("connector.{kind}.target"), target);
        by_kind.push(serde_json::json!({
            "if": { "properties": { "kind": { "const": kind } }, "required": ["kind"] },
            "then": { "$ref": format!("#/$defs/connector.{kind}.system") }
        }));
        kinds.push(kind);
    }
    let system = defs
        .get_mut("SystemConfig")
        .and_then(serde_json::Value::as_object_mut)
        .context("the config schema defines SystemConfig")?;
    system.insert("allOf".into(), by_kind.into());
    if let Some(kind) = system.get_mut("properties").and_then(|p| p.get_mut("kind")) {
        kind["enum"] = kinds.into();
    }
    Ok(schema)
}

/// A connector's own schema made ready to sit under the config's `$defs`: its `$schema` is
/// dropped and its `$defs` (which its `$ref`s point at) move up to the root's, renamed
/// `connector.<kind>.<name>` where another definition of that name differs.
fn embeddable(
    kind: &str,
    mut schema: serde_json::Value,
    root: &mut serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let Some(obj) = schema.as_object_mut() else {
        return schema;
    };
    obj.remove("$schema");
    let own = match obj.remove("$defs") {
        Some(serde_json::Value::Object(own)) => own,
        _ => return schema,
    };
    let mut renames = Vec::new();
    let mut moved = Vec::new();
    for (name, def) in own {
        match root.get(&name) {
            Some(existing) if *existing != def => {
                let renamed = format!("connector.{kind}.{name}");
                renames.push((format!("#/$defs/{name}"), format!("#/$defs/{renamed}")));
                root.insert(renamed.clone(), def);
                moved.push(renamed);
            }
            Some(_) => {}
            None => {
                root.insert(name.clone(), def);
                moved.push(name);
            }
        }
    }
    for (from, to) in &renames {
        rewrite_refs(&mut schema, from, to);
        for name in &moved {
            if let Some(def) = root.get_mut(name) {
                rewrite_refs(def, from, to);
            }
        }
    }
    schema
}

/// Points every `$ref` equal to `from` at `to`.
fn rewrite_refs(value: &mut serde_json::Value, from: &str, to: &str) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" && v.as_str() == Some(from) {
                    *v = to.into();
                } else {
                    rewrite_refs(v, from, to);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                rewrite_refs(v, from, to);
            }
        }
        _ => {}
    }
}

/// Lists a live system's objects and fields.
pub async fn discover(file: &Path, system: &str, json: bool) -> anyhow::Result<ExitCode> {
    let loaded = ferry_model::config::load(file)?;
    let assembly = ferry_engine::assemble(&loaded, &ferry_connectors::builtin())?;
    let connector = assembly.systems.get(system).with_context(|| {
        format!(
            "unknown system `{system}` (systems: {})",
            assembly
                .systems
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let objects = connector
        .discover()
        .await
        .map_err(|e| anyhow::anyhow!("{system}: {}", loaded.redact(e.message())))?;
    if json {
        print_json(&objects)?;
    } else {
        for object in objects {
            outln!("{}", object.name);
            let rows: Vec<Vec<String>> = object
                .fields
                .iter()
                .map(|f| {
                    vec![
                        format!("  {}", f.name),
                        shorten(&f.ty, TYPE_WIDTH),
                        if f.nullable {
                            "optional".into()
                        } else {
                            "required".into()
                        },
                    ]
                })
                .collect();
            out!("{}", table(&["  field", "type", ""], &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Widest type shown in the `discover` table (a long list of allowed values is cut; `--json`
/// has it whole).
const TYPE_WIDTH: usize = 60;

/// `text` cut to `width` characters, with `…` when something was cut.
fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
