//! The CLI's operator actions are in the audit log like the API's: the same action names and
//! target texts, source `cli (user NAME)`, and how each ended (`sync --id`, `dlq replay`
//! by id and `--all`, `dlq skip`, `keys create|revoke`, `reconcile --repair`).

mod common;

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
      email: email
    validate:
      email: [email]
server:
  listen: 127.0.0.1:0
"#;

/// The audit log as `(action, target, source, outcome)`, oldest first.
async fn audit_log(dir: &std::path::Path) -> Vec<(String, String, Option<String>, String)> {
    let mut state = sqlite(&dir.join(".ferry/ferry.db")).await;
    sqlx::query_as("SELECT action, target, source, outcome FROM ferry_audit ORDER BY id")
        .fetch_all(&mut state)
        .await
        .unwrap()
}

fn entry(action: &str, target: &str, outcome: &str) -> (String, String, Option<String>, String) {
    (
        action.to_owned(),
        target.to_owned(),
        Some(format!("cli (user {TEST_USER})")),
        outcome.to_owned(),
    )
}

fn open_dead_letters(dir: &std::path::Path) -> Vec<i64> {
    run_json(dir, &["dlq", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cli_operator_action_is_audited_like_the_api() {
    let dir = scratch();
    let dir = dir.path();
    std::fs::write(dir.join("ferry.yaml"), CONFIG).unwrap();
    customer_tables(
        dir,
        &[
            (1, "C1", "Ada", "ada@example.com"),
            (2, "C2", "Grace", "grace@"),
            (3, "C3", "Linus", "linus@"),
        ],
    )
    .await;
    // A whole sync is a run (in the runs table), not an operator's pick: not audited.
    run(dir, &["sync", "customers"], true);
    assert_eq!(audit_log(dir).await, []);
    let open = open_dead_letters(dir);
    assert_eq!(open.len(), 2);
    let (grace, linus) = (open[1], open[0]);

    run(dir, &["sync", "customers", "--id", "1", "--id", "2"], true);
    run(dir, &["dlq", "replay", &grace.to_string()], true);
    run(dir, &["dlq", "skip", &linus.to_string()], true);
    // Refused: audited with the reason, and the command fails.
    let refused = run(dir, &["dlq", "skip", &linus.to_string()], false);
    assert!(!refused.status.success());
    let still_open = open_dead_letters(dir).len();
    run(dir, &["dlq", "replay", "--all"], true);
    let key = run_json(
        dir,
        &[
            "keys", "create", "--name", "ops", "--role", "viewer", "--json",
        ],
    );
    let key_id = key["id"].as_i64().unwrap();
    run(dir, &["keys", "revoke", &key_id.to_string()], true);
    let reconciled = run(dir, &["reconcile", "customers", "--repair"], false);
    assert!(reconciled.status.code().is_some(), "{reconciled:?}");

    let log = audit_log(dir).await;
    let skip_again = &log[3];
    assert_eq!(
        (skip_again.0.as_str(), skip_again.1.clone()),
        ("dead_letter.skip", format!("dead letter {linus}"))
    );
    assert_ne!(skip_again.3, "ok", "a refused skip says why");
    let reconciliation: i64 = {
        let mut state = sqlite(&dir.join(".ferry/ferry.db")).await;
        sqlx::query_scalar("SELECT max(id) FROM ferry_reconciliations")
            .fetch_one(&mut state)
            .await
            .unwrap()
    };
    assert_eq!(
        log,
        [
            entry("sync", "flow customers id 1, flow customers id 2", "ok"),
            entry("dead_letter.replay", &format!("dead letter {grace}"), "ok"),
            entry("dead_letter.skip", &format!("dead letter {linus}"), "ok"),
            skip_again.clone(),
            entry(
                "dead_letter.replay",
                &format!("all open dead letters ({still_open})"),
                "ok"
            ),
            entry("key.create", &format!("key {key_id} (ops, viewer)"), "ok"),
            entry("key.revoke", &format!("key {key_id}"), "ok"),
            entry(
                "reconcile.repair",
                &format!("flow customers: reconciliation {reconciliation}"),
                "ok"
            ),
        ]
    );
}
