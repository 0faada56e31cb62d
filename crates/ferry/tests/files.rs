//! A GBK-encoded CSV export from a Chinese ERP, imported through a flow into an SQLite table:
//! Chinese text arrives intact, a bad row is dead-lettered naming file, line and column while
//! the others flow, and a corrected file delivers it. Broken files (an unterminated quote,
//! rows of the wrong width, bytes that do not decode) lose no row: each is written or is a
//! dead letter naming file, line and reason.

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

const BROKEN_CONFIG: &str = r#"
systems:
  inbox: { kind: files, dir: inbox }
  crm: { kind: sql, url: "sqlite://crm.db" }
flows:
  customers:
    entity: customer
    source: { system: inbox, pattern: "*.csv", id: code }
    target: { system: crm, table: accounts }
    mapping: { code: code, name: name, email: email }
    validate: { email: [required, email] }
"#;

/// The broken files: name, bytes, rows in the file, and the dead letters expected (source id,
/// what the error must say besides the file's name).
type BrokenFile = (&'static str, Vec<u8>, usize, Vec<(String, String)>);

fn broken_files() -> Vec<BrokenFile> {
    let header = "code,name,email\n";
    // 200 rows; every 7th name quoted with a comma in it; row 50's e-mail is invalid and row
    // 100 (line 101) opens a quote it never closes.
    let middle: String = (1..=200)
        .map(|i| match i {
            50 => "A050,name 50,a50@@example\n".to_owned(),
            100 => "A100,\"name 100,a100@example.com\n".to_owned(),
            i if i % 7 == 0 => format!("A{i:03},\"name {i}, Jr.\",a{i}@example.com\n"),
            i => format!("A{i:03},name {i},a{i}@example.com\n"),
        })
        .collect();
    // The last row (line 31) opens a quote: it must not be written with its line glued on.
    let mut end: String = (1..30)
        .map(|i| format!("B{i:03},name {i},b{i}@example.com\n"))
        .collect();
    end.push_str("B030,\"name 30,b30@example.com\n");
    // Too few values, too many, then a valid value over two lines (lines 5-6).
    let width = "C1,one,c1@example.com\nC2,two\nC3,three,c3@example.com,extra\n\
                 C4,\"four\nstill four\",c4@example.com\nC5,five,c5@example.com\n";
    let utf8 = b"D1,\xE4\xB8\x8A\xE6\xB5\xB7\xE5\x8D\x8E\xE4\xB8\x9C,d1@example.com\n\
                 D2,\xE5\x8C\x97\xFF\xE4\xBA\xAC,d2@example.com\n\
                 D3,\xE6\xB7\xB1\xE5\x9C\xB3,d3@example.com\n";
    let mut gbk_file = gbk("E1,华南,e1@example.com\nE2,");
    gbk_file.extend_from_slice(b"\x81\x20,e2@example.com\n"); // a lead byte with no trail byte
    gbk_file.extend_from_slice(&gbk("E3,否,e3@example.com\n"));
    let with_header = |body: &[u8]| [header.as_bytes(), body].concat();
    let letter = |id: &str, says: &str| (id.to_owned(), says.to_owned());
    vec![
        (
            "a-middle.csv",
            with_header(middle.as_bytes()),
            200,
            vec![
                letter(
                    "A050",
                    "line 51: flow `customers`, record `A050`, field `email`",
                ),
                letter(
                    "a-middle.csv:101",
                    "line 101, column \"name\": unterminated quote",
                ),
            ],
        ),
        (
            "b-end.csv",
            with_header(end.as_bytes()),
            30,
            vec![letter(
                "b-end.csv:31",
                "line 31, column \"name\": unterminated quote: no closing quote before the end of the file",
            )],
        ),
        (
            "c-width.csv",
            with_header(width.as_bytes()),
            5,
            vec![
                letter(
                    "c-width.csv:3",
                    "line 3, 2 values but the header has 3 columns",
                ),
                letter(
                    "c-width.csv:4",
                    "line 4, 4 values but the header has 3 columns",
                ),
            ],
        ),
        (
            "d-utf8.csv",
            with_header(&utf8[..]),
            3,
            vec![letter(
                "D2",
                r#"line 3, column "name": "北\xFF京" holds bytes that are not valid UTF-8"#,
            )],
        ),
        (
            "e-gbk.csv",
            with_header(&gbk_file),
            3,
            vec![letter(
                "E2",
                "line 3, column \"name\": \"\u{FFFD} \" holds bytes that are not valid GBK/GB18030",
            )],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_files_lose_no_row_every_row_is_written_or_a_dead_letter_naming_file_and_line() {
    let dir = scratch();
    let dir = dir.path();
    std::fs::write(dir.join("ferry.yaml"), BROKEN_CONFIG).unwrap();
    std::fs::create_dir_all(dir.join("inbox")).unwrap();
    let files = broken_files();
    for (name, bytes, _, _) in &files {
        std::fs::write(dir.join("inbox").join(name), bytes).unwrap();
    }
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql("CREATE TABLE accounts (code TEXT PRIMARY KEY, name TEXT, email TEXT)")
        .execute(&mut crm)
        .await
        .unwrap();

    let rows: usize = files.iter().map(|f| f.2).sum();
    let expected: Vec<(String, String, String)> = files
        .iter()
        .flat_map(|(name, _, _, letters)| {
            letters
                .iter()
                .map(|(id, says)| (id.clone(), name.to_string(), says.clone()))
        })
        .collect();
    let report = run_json(dir, &["sync", "customers", "--json"]);
    let written = rows - expected.len();
    assert_eq!(
        (
            report["read"].as_u64(),
            report["created"].as_u64(),
            report["failed"].as_u64(),
            report["error"].is_null()
        ),
        (
            Some(rows as u64),
            Some(written as u64),
            Some(expected.len() as u64),
            true
        ),
        "{report}"
    );
    let in_table: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
        .fetch_one(&mut crm)
        .await
        .unwrap();
    let letters = run_json(dir, &["dlq", "list", "--limit", "1000", "--json"]);
    let letters = letters.as_array().unwrap();
    assert_eq!(
        in_table as usize + letters.len(),
        rows,
        "rows written + dead letters = rows in the files"
    );
    for (id, file, says) in &expected {
        let letter = letters
            .iter()
            .find(|l| l["source_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no dead letter for {id}: {letters:#?}"));
        let error = letter["error"].as_str().unwrap();
        assert!(error.contains(&format!("{file} {says}")), "{id}: {error}");
        assert_eq!(
            letter["payload"]["origin"].as_str().unwrap(),
            format!("{file} line {}", line_of(error)),
            "{letter}"
        );
    }
    // Nothing glued: the row after each broken one is written as it is in the file, and the
    // valid multi-line value arrives whole.
    let name_of = |code: &'static str| {
        sqlx::query_scalar::<_, String>("SELECT name FROM accounts WHERE code = ?").bind(code)
    };
    assert_eq!(
        name_of("A101").fetch_one(&mut crm).await.unwrap(),
        "name 101"
    );
    assert_eq!(
        name_of("B029").fetch_one(&mut crm).await.unwrap(),
        "name 29"
    );
    assert_eq!(
        name_of("C4").fetch_one(&mut crm).await.unwrap(),
        "four\nstill four"
    );
    assert_eq!(name_of("C5").fetch_one(&mut crm).await.unwrap(), "five");
    assert_eq!(name_of("E3").fetch_one(&mut crm).await.unwrap(), "否");

    // Read again, in full and after a file changed: the broken rows keep their ids and hashes,
    // so no second dead letter is opened.
    let report = run_json(dir, &["sync", "customers", "--full", "--json"]);
    assert_eq!(
        (report["unchanged"].as_u64(), report["failed"].as_u64()),
        (Some(rows as u64), Some(0)),
        "{report}"
    );
    let mut width = files[2].1.clone();
    width.extend_from_slice(b"C6,six,c6@example.com\n");
    std::fs::write(dir.join("inbox/c-width.csv"), width).unwrap();
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(
        (report["created"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(0)),
        "{report}"
    );
    let again = run_json(dir, &["dlq", "list", "--limit", "1000", "--json"]);
    assert_eq!(again.as_array().unwrap().len(), expected.len(), "{again:#}");
}

/// The line number an error names after `line `.
fn line_of(error: &str) -> u64 {
    let rest = &error[error.find(" line ").expect("a line") + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}
