//! `ferry connectors`: the connector kinds compiled into this binary and what each can do.

use std::process::ExitCode;

use serde::Serialize;

use crate::output::{outln, print_json, table};

/// One kind, as `--json` prints it.
#[derive(Serialize)]
struct Kind {
    kind: &'static str,
    summary: &'static str,
    capabilities: ferry_kit::Capabilities,
}

/// Lists the kinds with a column per capability (`yes` or `-`), or as JSON.
pub fn list(json: bool) -> anyhow::Result<ExitCode> {
    let kinds: Vec<Kind> = ferry_connectors::builtin()
        .factories()
        .map(|f| Kind {
            kind: f.kind(),
            summary: f.summary(),
            capabilities: f.capabilities(),
        })
        .collect();
    if json {
        print_json(&kinds)?;
        return Ok(ExitCode::SUCCESS);
    }
    let names = ferry_kit::Capabilities::default()
        .named()
        .map(|(name, _)| name);
    let mut headers = vec!["kind"];
    headers.extend(names);
    let rows: Vec<Vec<String>> = kinds
        .iter()
        .map(|k| {
            let marks = k
                .capabilities
                .named()
                .map(|(_, on)| if on { "yes" } else { "-" });
            std::iter::once(k.kind.to_owned())
                .chain(marks.iter().map(|m| (*m).to_owned()))
                .collect()
        })
        .collect();
    outln!("{}", table(&headers, &rows).trim_end());
    outln!();
    for k in &kinds {
        outln!("{}: {}", k.kind, k.summary);
    }
    Ok(ExitCode::SUCCESS)
}
