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
    let mut schema = schemars::schema_for!(ferry_model::config::Config);
    let defs = schema
        .as_object_mut()
        .context("schema is an object")?
        .entry("$defs")
        .or_insert_with(|| serde_json::json!({}));
    for factory in ferry_connectors::builtin().factories() {
        let s = factory.schemas();
        if let Some(defs) = defs.as_object_mut() {
            defs.insert(
                format!("connector.{}.system", factory.kind()),
                s.system.to_value(),
            );
            defs.insert(
                format!("connector.{}.source", factory.kind()),
                s.source.to_value(),
            );
            defs.insert(
                format!("connector.{}.target", factory.kind()),
                s.target.to_value(),
            );
        }
    }
    print_json(&schema)?;
    Ok(ExitCode::SUCCESS)
}

/// Lists a live system's objects and fields.
pub async fn discover(file: &Path, system: &str, json: bool) -> anyhow::Result<ExitCode> {
    let loaded = ferry_model::config::load(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let assembly = ferry_engine::assemble(&loaded, &ferry_connectors::builtin())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
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
