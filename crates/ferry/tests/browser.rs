//! The console in a real browser: headless Chromium (Debian's `chromium`, driven by
//! `playwright-core` from `tests/browser/console.mjs`) logs in with an operator key, opens
//! the failed record (a customer named in Chinese with a bad e-mail), fixes the e-mail in the
//! payload, replays it, and the record arrives in the target.
//!
//! Needs `/usr/bin/chromium` (or `$FERRY_CHROMIUM`), `node` and `npm ci` in `tests/browser`
//! (`.ci/run` installs them). Without them it prints SKIPPED, or fails with `CI=true`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    trigger: { poll: 200ms }
    source: { system: crm, table: customers, watermark: { column: updated_at } }
    target: { system: erp, table: erp_customers }
    mapping: { code: customer_no, name: name, email: email }
    validate: { email: [required, email] }
server:
  listen: LISTEN
"#;

const NAME: &str = "客户二";
const BAD_EMAIL: &str = "two@@example";
const GOOD_EMAIL: &str = "two@example.com";

/// The folder of the browser script and its `node_modules`.
fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// What the browser test needs and is missing, if anything.
fn missing_tools() -> Option<String> {
    let chromium = std::env::var("FERRY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} (apt-get install chromium)"));
    }
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("node".into());
    }
    if !script_dir().join("node_modules/playwright-core").exists() {
        return Some("playwright-core (npm ci in crates/ferry/tests/browser)".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_fixes_and_replays_a_failed_record_in_chromium() {
    if let Some(what) = missing_tools() {
        require_server(&what, false);
        return;
    }
    let dir = scratch();
    let dir = dir.path();
    let port = free_port();
    std::fs::write(
        dir.join("ferry.yaml"),
        CONFIG.replace("LISTEN", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    customer_tables(
        dir,
        &[
            (1, "C1", "客户一", "one@example.com"),
            (2, "C2", NAME, BAD_EMAIL),
            (3, "C3", "客户三", "three@example.com"),
        ],
    )
    .await;
    let mut erp = sqlite(&dir.join("erp.db")).await;
    let key = run_json(
        dir,
        &[
            "keys", "create", "--name", "browser", "--role", "operator", "--json",
        ],
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let _ferry = Running(
        ferry()
            .current_dir(dir)
            .env_remove("FERRY_LISTEN")
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry run starts"),
    );
    // The good records land and the bad one is dead-lettered before the browser looks.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let synced: i64 = sqlx::query_scalar("SELECT count(*) FROM erp_customers")
            .fetch_one(&mut erp)
            .await
            .unwrap();
        let open = run_json(dir, &["dlq", "list", "--json"]);
        if synced == 2 && open.as_array().is_some_and(|a| a.len() == 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no first run: {synced} synced, dead letters {open}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let screenshot = dir.join("dead-letter.png");
    let started = Instant::now();
    let browser = tokio::task::spawn_blocking({
        let args = [
            format!("http://127.0.0.1:{port}"),
            key,
            NAME.into(),
            BAD_EMAIL.into(),
            GOOD_EMAIL.into(),
            screenshot.display().to_string(),
        ];
        move || {
            Command::new("node")
                .current_dir(script_dir())
                .arg("console.mjs")
                .args(args)
                .output()
                .expect("node runs")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&browser.stdout);
    assert!(
        browser.status.success(),
        "the browser script failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        browser.status,
        String::from_utf8_lossy(&browser.stderr)
    );
    eprintln!(
        "browser: {} ({:.1} s)",
        stdout.trim(),
        started.elapsed().as_secs_f64()
    );
    let png = std::fs::read(&screenshot).expect("the screenshot was taken");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");

    // The record arrived with the e-mail typed in the browser, and nothing is left open.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, email FROM erp_customers WHERE code = 'C2'")
                .fetch_optional(&mut erp)
                .await
                .unwrap();
        if let Some(row) = row {
            assert_eq!(row, (NAME.to_owned(), GOOD_EMAIL.to_owned()));
            break;
        }
        assert!(Instant::now() < deadline, "C2 did not arrive within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let open = run_json(dir, &["dlq", "list", "--json"]);
    assert_eq!(open, serde_json::json!([]), "dead letters still open");
    let all = run_json(dir, &["dlq", "list", "--all", "--json"]);
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert_ne!(all[0]["state"], "open", "{all}");
}
