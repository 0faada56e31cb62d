//! What a user meets in the first hour of the command line: output piped into `head`, a blank
//! `FERRY_CONFIG`, a mistyped flow name, a key token for `export`, a taken port, and the dead
//! letter table.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::*;

const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    source: { system: crm, table: customers, watermark: { column: updated_at } }
    target: { system: erp, table: erp_customers }
    mapping:
      code: customer_no
      name: name
"#;

async fn workspace(dir: &std::path::Path) {
    std::fs::write(dir.join("ferry.yaml"), CONFIG).unwrap();
    customer_tables(dir, &[(1, "C1", "Ada", "ada@example.com")]).await;
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let mut child = ferry()
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    // The reader goes away (`ferry schema | head -c 16`) while ferry still has more to write.
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{}: {err}", out.status);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blank_ferry_config_means_ferry_yaml() {
    let dir = scratch();
    let dir = dir.path();
    workspace(dir).await;
    for blank in ["", " "] {
        for args in [&["status"][..], &["check"][..]] {
            let out = ferry()
                .current_dir(dir)
                .env("FERRY_CONFIG", blank)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "FERRY_CONFIG={blank:?} ferry {args:?}: {}",
                stderr(&out)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_flow_is_an_error_naming_the_flows() {
    let dir = scratch();
    let dir = dir.path();
    workspace(dir).await;
    for args in [
        &["sync", "nosuchflow"][..],
        &["dlq", "list", "--flow", "nosuchflow"],
        &["dlq", "replay", "--all", "--flow", "nosuchflow"],
        &["ledger", "--key", "C1", "--flow", "nosuchflow"],
        &["reconcile", "nosuchflow"],
    ] {
        let out = run(dir, args, false);
        assert_eq!(out.status.code(), Some(1), "ferry {args:?}");
        assert!(
            stderr(&out).contains("no flow `nosuchflow` in this config (flows: customers)"),
            "ferry {args:?}: {}",
            stderr(&out)
        );
    }
    let out = run(dir, &["sync", "custmers"], false);
    assert!(
        stderr(&out).contains("did you mean `customers`?"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_create_token_only_prints_just_the_token() {
    let dir = scratch();
    let dir = dir.path();
    workspace(dir).await;
    let out = run(
        dir,
        &[
            "keys",
            "create",
            "--name",
            "ops",
            "--role",
            "admin",
            "--token-only",
        ],
        true,
    );
    let token = String::from_utf8(out.stdout.clone()).unwrap();
    let bare = token.strip_suffix('\n').expect("a newline after the token");
    assert!(
        bare.starts_with("fy_") && !bare.contains(char::is_whitespace),
        "{token:?}"
    );
    assert!(stderr(&out).contains("shown this once"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_is_said_once_with_a_hint() {
    let dir = scratch();
    let dir = dir.path();
    workspace(dir).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = ferry()
        .current_dir(dir)
        .env("FERRY_LISTEN", addr.to_string())
        .arg("run")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("in use").count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "another ferry run or program holds {addr}; stop it or set server.listen / \
             --listen / FERRY_LISTEN"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dead_letter_table_shows_the_reason() {
    let dir = scratch();
    let dir = dir.path();
    workspace(dir).await;
    // The ERP refuses long names: record 2 becomes a dead letter.
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql(
        "DROP TABLE erp_customers; CREATE TABLE erp_customers (code TEXT PRIMARY KEY, \
         name TEXT CHECK (length(name) < 20), email TEXT)",
    )
    .execute(&mut erp)
    .await
    .unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query(
        "INSERT INTO customers VALUES (2, 'C2', 'a name far too long for the ERP', \
         'b@example.com', '2026-01-01 00:00:00')",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    run(dir, &["sync", "customers"], false);
    let out = run(dir, &["dlq", "list"], true);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = table
        .lines()
        .find(|l| l.contains("customers"))
        .unwrap_or_else(|| panic!("no dead letter row:\n{table}"));
    let error = &row[table.lines().next().unwrap().find("error").unwrap()..];
    assert!(
        !error.contains("flow `customers`") && !error.contains("record `2`"),
        "{table}"
    );
    assert!(error.contains("CHECK constraint failed"), "{table}");
}

/// The next 03:00 in Shanghai after `now`: 19:00 UTC, today or tomorrow.
fn next_three_in_shanghai(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let today = now.date_naive().and_hms_opt(19, 0, 0).unwrap().and_utc();
    if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_a_cron_flows_next_run_in_the_workspace_zone() {
    let dir = scratch();
    let dir = dir.path();
    workspace(dir).await;
    let with_trigger = CONFIG.replace(
        "    mapping:",
        "    trigger: { cron: \"0 3 * * *\" }\n    mapping:",
    );
    // The zone comes from `timezone:`, whatever the machine's; without it, from `TZ`.
    for (config, tz) in [
        (
            format!("timezone: Asia/Shanghai\n{with_trigger}"),
            "America/New_York",
        ),
        (with_trigger.clone(), "Asia/Shanghai"),
    ] {
        std::fs::write(dir.join("ferry.yaml"), &config).unwrap();
        let status = |args: &[&str]| {
            let before = chrono::Utc::now();
            let out = ferry()
                .current_dir(dir)
                .env("TZ", tz)
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            let expected = [before, chrono::Utc::now()].map(next_three_in_shanghai);
            (String::from_utf8_lossy(&out.stdout).into_owned(), expected)
        };
        let (table, expected) = status(&["status"]);
        let shown = expected.map(|t| {
            t.with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d 03:00:00 +08:00")
                .to_string()
        });
        let row = table
            .lines()
            .find(|l| l.starts_with("customers"))
            .unwrap_or_else(|| panic!("no row:\n{table}"));
        assert!(
            row.contains("cron 0 3 * * * (Asia/Shanghai)")
                && shown.iter().any(|s| row.ends_with(s.as_str())),
            "TZ={tz}, expected a next run at {shown:?}:\n{table}"
        );

        let (json, expected) = status(&["status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        let next = json[0]["next_run"].as_str().unwrap_or_default();
        assert!(
            expected
                .iter()
                .any(|t| next == t.format("%Y-%m-%dT19:00:00Z").to_string()),
            "TZ={tz}: next_run {next}, expected one of {expected:?}"
        );
        assert_eq!(json[0]["timezone"], "Asia/Shanghai");
        assert_eq!(json[0]["trigger"], "cron 0 3 * * *");
    }
}

/// `ferry connectors` lists every kind built into this binary with what it can do, so a user
/// can tell before writing a flow whether, say, `files` can delete (it cannot).
#[test]
fn connectors_lists_the_built_in_kinds_and_their_capabilities() {
    let out = ferry().args(["connectors", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let kinds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_kind = |kind: &str| {
        kinds
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} missing from {kinds}"))
            .clone()
    };
    assert_eq!(by_kind("sql")["capabilities"]["delete"], true);
    assert_eq!(by_kind("files")["capabilities"]["delete"], false);
    assert_eq!(by_kind("bottlecrm")["capabilities"]["snapshot"], true);
    assert_eq!(by_kind("tryton")["capabilities"]["write"], true);

    let out = ferry().arg("connectors").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().next().unwrap().contains("incremental"),
        "{text}"
    );
    assert!(text.contains("tryton: "), "{text}");
}
