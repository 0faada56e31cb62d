//! A GBK-encoded CSV export from a Chinese ERP, imported through a flow into an SQLite table:
//! Chinese text arrives intact, a bad row is dead-lettered naming file, line and column while
//! the others flow, and a corrected file delivers it.

mod common;

use common::*;
use sqlx::Row;

const CONFIG: &str = r#"
systems:
  inbox: { kind: files, dir: inbox }
  crm: { kind: sql, url: "sqlite://crm.db" }
code_tables:
  status: { "正常": active, "冻结": blocked }
flows:
  customers:
    entity: customer
    source: { system: inbox, pattern: "客户*.csv", encoding: gbk, id: 客户编码, types: { 信用额度: decimal } }
    target: { system: crm, table: accounts }
    mapping:
      code: 客户编码
      name: 客户名称
      status: { from: 状态, code_table: status }
      credit_limit: { from: 信用额度, scale: 2 }
"#;

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gbk_csv_flows_into_a_table_and_a_bad_row_names_file_line_and_column() {
    let dir = scratch();
    let dir = dir.path();
    std::fs::write(dir.join("ferry.yaml"), CONFIG).unwrap();
    std::fs::create_dir_all(dir.join("inbox")).unwrap();
    let csv = "客户编码,客户名称,状态,信用额度\r\nK001,上海华东贸易有限公司,正常,12000.5\r\nK002,北京星辰科技,冻结,12.5x\r\nK003,深圳南山制造,正常,800\r\n";
    std::fs::write(dir.join("inbox/客户-2026-11.csv"), gbk(csv)).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE accounts (code TEXT PRIMARY KEY, name TEXT, status TEXT, credit_limit TEXT)",
    )
    .execute(&mut crm)
    .await
    .unwrap();

    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(
        (report["created"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(1)),
        "{report}"
    );
    let rows = sqlx::query("SELECT code, name, status, credit_limit FROM accounts ORDER BY code")
        .fetch_all(&mut crm)
        .await
        .unwrap();
    let got: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        [
            (
                "K001".into(),
                "上海华东贸易有限公司".into(),
                "active".into(),
                "12000.50".into()
            ),
            (
                "K003".into(),
                "深圳南山制造".into(),
                "active".into(),
                "800.00".into()
            ),
        ]
    );
    let letters = run_json(dir, &["dlq", "list", "--json"]);
    let error = letters[0]["error"].as_str().unwrap();
    assert!(
        error.contains("客户-2026-11.csv")
            && error.contains("line 3")
            && error.contains("信用额度"),
        "{error}"
    );

    // The ERP exports a corrected file; the changed file is imported again and the row arrives.
    std::fs::write(
        dir.join("inbox/客户-2026-11.csv"),
        gbk(&csv.replace("12.5x", "12.5")),
    )
    .unwrap();
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(report["created"], 1, "{report}");
    assert!(
        run_json(dir, &["dlq", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}
