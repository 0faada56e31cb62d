//! The configuration files we hand to users tell the truth: every example, the quickstart's
//! file and the README's `ferry.yaml` pass `ferry check` as printed and validate against
//! `ferry schema` (the schema an editor is given), and the schema still refuses what
//! `ferry check` refuses.

mod common;

use std::path::{Path, PathBuf};

use common::{ferry, run};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The top-level keys of `ferry.yaml`: a README block made of these is a config fragment.
const TOP_LEVEL: &[&str] = &[
    "data_dir",
    "store",
    "engine",
    "code_tables",
    "currency",
    "units",
    "systems",
    "flows",
    "pairs",
    "server",
    "alerts",
];

/// Environment the examples interpolate (`${CRM_PAT}`…), so `ferry check` can read them.
const ENV: &[(&str, &str)] = &[
    ("ERP_PASSWORD", "example-password"),
    ("CRM_PAT", "example-token"),
    ("TRYTON_PASSWORD", "example-password"),
    ("ALERT_TOKEN", "example-token"),
    ("ORDERS_API_KEY", "example-key"),
    ("KD_APP_SECRET", "example-secret"),
    ("KD_PASSWORD", "example-password"),
    ("KD_ACCT_ID", "example-acct"),
    ("JDY_API_KEY", "example-key"),
    ("YY_TENANT_ID", "example-tenant"),
    ("YY_APP_KEY", "example-app"),
    ("YY_APP_SECRET", "example-secret"),
    ("SF_CLIENT_SECRET", "example-secret"),
    ("SAP_PASSWORD", "example-password"),
    ("SHOPIFY_TOKEN", "example-token"),
    ("NS_CONSUMER_SECRET", "example-secret"),
    ("NS_TOKEN_SECRET", "example-secret"),
    (
        "WECOM_WEBHOOK",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=example-key",
    ),
    (
        "DINGTALK_WEBHOOK",
        "https://oapi.dingtalk.com/robot/send?access_token=example-token",
    ),
    ("DINGTALK_SECRET", "SECexample"),
    (
        "FEISHU_WEBHOOK",
        "https://open.feishu.cn/open-apis/bot/v2/hook/example-hook",
    ),
    ("FEISHU_SECRET", "example-secret"),
    (
        "SLACK_WEBHOOK",
        "https://hooks.slack.com/services/T000/B000/example",
    ),
    (
        "TEAMS_WEBHOOK",
        "https://example.environment.api.powerplatform.com/workflows/x/triggers/manual/paths/invoke?sig=example",
    ),
    ("SMTP_PASSWORD", "example-password"),
];

fn schema() -> jsonschema::Validator {
    let out = run(Path::new("."), &["schema"], true);
    let schema: Value = serde_json::from_slice(&out.stdout).expect("ferry schema prints JSON");
    jsonschema::validator_for(&schema).expect("ferry schema is a valid JSON Schema")
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("the file is YAML")
}

/// Every schema violation in `text`, as `instance path: message`.
fn violations(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    validator
        .iter_errors(&yaml(text))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// `ferry check FILE` in FILE's folder: stdout and stderr, and whether it passed.
fn check(file: &Path) -> (bool, String) {
    let out = ferry()
        .envs(ENV.iter().copied())
        .arg("check")
        .arg(file)
        .output()
        .expect("ferry runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The shipped config files: the examples and the quickstart's.
fn shipped() -> Vec<PathBuf> {
    let mut files = vec![repo().join("crates/ferry/src/quickstart.yaml")];
    for example in std::fs::read_dir(repo().join("examples")).unwrap() {
        let file = example.unwrap().path().join("ferry.yaml");
        if file.exists() {
            files.push(file);
        }
    }
    files
}

/// The ```yaml blocks of a Markdown file.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The README's configuration: its first block with `systems:` is the `ferry.yaml` example;
/// each later block of top-level sections (`alerts:`, `store:`, `pairs:`…) is shown as an
/// addition to it, so it is checked merged into that example (a section that is a map of
/// names, such as `flows:` or `systems:`, gains the block's entries).
fn readme_configs() -> Vec<(String, String)> {
    let blocks = yaml_blocks(&std::fs::read_to_string(repo().join("README.md")).unwrap());
    let base_text = blocks
        .iter()
        .find(|b| yaml(b).get("systems").is_some())
        .expect("the README shows a ferry.yaml with systems");
    let mut configs = vec![("README ferry.yaml".to_owned(), base_text.clone())];
    for (i, block) in blocks.iter().enumerate() {
        let Value::Object(fragment) = yaml(block) else {
            continue;
        };
        if block == base_text || !fragment.keys().all(|k| TOP_LEVEL.contains(&k.as_str())) {
            continue;
        }
        let mut merged = yaml(base_text);
        for (key, value) in fragment {
            match (merged.get_mut(&key), value) {
                (Some(Value::Object(into)), Value::Object(entries))
                    if matches!(key.as_str(), "flows" | "systems" | "entities") =>
                {
                    into.extend(entries);
                }
                (_, value) => merged[key] = value,
            }
        }
        let text = serde_saphyr::to_string(&merged).unwrap();
        configs.push((format!("README block {}", i + 1), text));
    }
    configs
}

#[test]
fn every_shipped_config_passes_check_and_the_schema() {
    let validator = schema();
    for file in shipped() {
        let (ok, output) = check(&file);
        assert!(ok, "{}: ferry check fails:\n{output}", file.display());
        let found = violations(&validator, &std::fs::read_to_string(&file).unwrap());
        assert!(
            found.is_empty(),
            "{}: schema says {found:#?}",
            file.display()
        );
    }
}

#[test]
fn the_readme_configuration_passes_check_and_the_schema_as_printed() {
    let validator = schema();
    let dir = tempfile::tempdir().unwrap();
    let configs = readme_configs();
    assert!(
        configs.len() >= 4,
        "README config blocks found: {}",
        configs.len()
    );
    for (name, text) in configs {
        let file = dir.path().join("ferry.yaml");
        std::fs::write(&file, &text).unwrap();
        let (ok, output) = check(&file);
        assert!(ok, "{name}: ferry check fails:\n{output}\n{text}");
        let found = violations(&validator, &text);
        assert!(found.is_empty(), "{name}: schema says {found:#?}\n{text}");
    }
}

#[test]
fn the_schema_refuses_what_check_refuses() {
    let validator = schema();
    let good = std::fs::read_to_string(repo().join("crates/ferry/src/quickstart.yaml")).unwrap();
    assert!(violations(&validator, &good).is_empty());
    for (typo, fixed) in [
        ("kind: sql, url:", "kind: sql, ur:"),
        // Not `custmer`: the schema cannot see the file's own `entities:` (check refuses it).
        ("entity: customer", "entity: Custmer"),
        ("trigger: { poll: 5s }", "trigerr: { poll: 5s }"),
        ("code: customer_no", "code: { form: customer_no }"),
        ("trigger: { poll: 5s }", "trigger: { cron: \"@daily\" }"),
        (
            "trigger: { poll: 5s }",
            "trigger: { cron: \"0 0 3 * * * 2027\" }",
        ),
        (
            "trigger: { poll: 5s }",
            "trigger: { poll: 5s, timezone: UTC }",
        ),
    ] {
        assert!(good.contains(typo), "the quickstart has `{typo}`");
        let bad = good.replacen(typo, fixed, 1);
        assert!(
            !violations(&validator, &bad).is_empty(),
            "the schema accepts `{fixed}`"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ferry.yaml"), &bad).unwrap();
        assert!(
            !check(&dir.path().join("ferry.yaml")).0,
            "check accepts `{fixed}`"
        );
    }
}
