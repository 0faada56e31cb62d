//! Tests of the `files` connector against real files in temporary folders.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use calamine::{Data, Reader, Xlsx, open_workbook};
use ferry_model::{Entity, Record};
use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
use serde_json::{Map, Value, json};

use super::FilesFactory;
use super::rows::float_text;
use super::source::Pattern;
use ferry_kit::{BuildContext, Connector, ConnectorFactory, Outgoing, Page, SinkContext, Source};

fn map(value: Value) -> Map<String, Value> {
    value.as_object().expect("an object").clone()
}

fn connector(dir: &Path) -> Arc<dyn Connector> {
    let ctx = BuildContext {
        system: "inbox".into(),
        base_dir: dir.to_path_buf(),
    };
    FilesFactory
        .build(&ctx, &map(json!({"dir": "files"})))
        .expect("valid settings")
}

fn files_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn source(conn: &Arc<dyn Connector>, options: Value) -> Arc<dyn Source> {
    conn.source(&map(options)).expect("valid source options")
}

/// Writes a file and sets its modification time `age_secs` after a fixed epoch, so that the
/// (mtime, name) order is under the test's control.
fn write(dir: &Path, name: &str, bytes: &[u8], stamp: u64) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    set_mtime(&path, stamp);
}

fn set_mtime(path: &Path, stamp: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + stamp))
        .unwrap();
}

/// Reads until caught up; returns every record and the final cursor.
async fn read_all(
    src: &Arc<dyn Source>,
    cursor: Option<String>,
    limit: usize,
) -> (Vec<Record>, String) {
    let mut cursor = cursor;
    let mut records = Vec::new();
    for _ in 0..100 {
        let page: Page = src.read(cursor.as_deref(), limit).await.expect("read");
        records.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            return (records, cursor.unwrap());
        }
    }
    panic!("the source never caught up");
}

fn field<'a>(record: &'a Record, name: &str) -> &'a Value {
    record
        .fields
        .get(name)
        .unwrap_or_else(|| panic!("no field {name:?} in {:?}", record.fields))
}

#[tokio::test]
async fn utf8_csv_with_bom_keeps_the_bom_out_of_the_first_header() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    write(
        &dir,
        "customers.csv",
        "\u{feff}code,name\r\nC1,Alice\r\nC2,\"Bob, Jr.\"\r\n".as_bytes(),
        1,
    );
    let conn = connector(root.path());
    let src = source(&conn, json!({"pattern": "customers*.csv", "id": "code"}));
    let (records, _) = read_all(&src, None, 100).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].id, "C1");
    assert_eq!(
        records[0].fields,
        map(json!({"code": "C1", "name": "Alice"}))
    );
    assert_eq!(field(&records[1], "name"), "Bob, Jr.");
    assert!(records[0].updated_at.is_some());
}

#[tokio::test]
async fn gbk_csv_with_chinese_names_is_decoded() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    let text = "客户编码,客户名称,信用额度,建档日期\r\nC001,上海华东贸易有限公司,1234.50,2024/03/15\r\nC002,北京燕京商行,,2024-01-02\r\n";
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&gbk).is_err(),
        "the fixture must not be UTF-8"
    );
    write(&dir, "客户.csv", &gbk, 1);
    let conn = connector(root.path());
    for encoding in ["auto", "gbk", "gb18030"] {
        let src = source(
            &conn,
            json!({
                "pattern": "*.CSV", "encoding": encoding, "id": "code",
                "columns": {"客户编码": "code", "客户名称": "name", "信用额度": "credit_limit"},
                "types": {"credit_limit": "decimal", "建档日期": "date"},
            }),
        );
        let (records, _) = read_all(&src, None, 100).await;
        assert_eq!(records.len(), 2, "{encoding}");
        assert_eq!(records[0].id, "C001");
        assert_eq!(field(&records[0], "name"), "上海华东贸易有限公司");
        assert_eq!(field(&records[0], "credit_limit"), "1234.50");
        assert_eq!(field(&records[0], "建档日期"), "2024-03-15");
        assert_eq!(field(&records[1], "name"), "北京燕京商行");
        assert_eq!(field(&records[1], "credit_limit"), &Value::Null);
    }
}

#[tokio::test]
async fn xlsx_numbers_dates_and_chinese_text() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("客户").unwrap();
    let date = XFormat::new().set_num_format("yyyy-mm-dd");
    let stamp = XFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (c, h) in [
        "编码",
        "名称",
        "金额",
        "数量",
        "建档日期",
        "更新时间",
        "启用",
        "小数",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    sheet.write_string(1, 0, "K-001").unwrap();
    sheet.write_string(1, 1, "深圳前海科技有限公司").unwrap();
    sheet.write_number(1, 2, 1234.5).unwrap();
    sheet.write_number(1, 3, 3).unwrap();
    sheet
        .write_datetime_with_format(1, 4, ExcelDateTime::from_ymd(2024, 3, 15).unwrap(), &date)
        .unwrap();
    let dt = ExcelDateTime::from_ymd(2024, 3, 15)
        .unwrap()
        .and_hms(13, 45, 30)
        .unwrap();
    sheet.write_datetime_with_format(1, 5, dt, &stamp).unwrap();
    sheet.write_boolean(1, 6, true).unwrap();
    sheet.write_number(1, 7, 0.1 + 0.2).unwrap();
    // A numeric id, a blank row, and a row with a gap.
    sheet.write_number(3, 0, 1002).unwrap();
    sheet.write_string(3, 1, "广州").unwrap();
    workbook.save(dir.join("customers.xlsx")).unwrap();
    set_mtime(&dir.join("customers.xlsx"), 1);

    let conn = connector(root.path());
    let src = source(&conn, json!({"pattern": "*.xlsx", "id": "编码"}));
    let (records, _) = read_all(&src, None, 100).await;
    assert_eq!(records.len(), 2, "{records:?}");
    let r = &records[0];
    assert_eq!(r.id, "K-001");
    assert_eq!(field(r, "名称"), "深圳前海科技有限公司");
    assert_eq!(field(r, "金额"), "1234.5");
    assert_eq!(field(r, "数量"), "3");
    assert_eq!(field(r, "建档日期"), "2024-03-15");
    assert_eq!(field(r, "更新时间"), "2024-03-15T13:45:30");
    assert_eq!(field(r, "启用"), "true");
    assert_eq!(field(r, "小数"), "0.3");
    assert_eq!(records[1].id, "1002");
    assert_eq!(field(&records[1], "金额"), "");

    // Typed, and with an explicit sheet.
    let src = source(
        &conn,
        json!({"pattern": "*.xlsx", "sheet": "客户", "id": "编码", "columns": {"金额": "amount"},
               "types": {"amount": "decimal", "数量": "integer", "建档日期": "date", "启用": "bool"}}),
    );
    let (records, _) = read_all(&src, None, 100).await;
    assert_eq!(field(&records[0], "amount"), "1234.5");
    assert_eq!(field(&records[0], "数量"), &json!(3));
    assert_eq!(field(&records[0], "启用"), &json!(true));
    assert_eq!(field(&records[1], "amount"), &Value::Null);

    // A missing sheet is one error record, not a failed read.
    let src = source(
        &conn,
        json!({"pattern": "*.xlsx", "sheet": "Orders", "id": "编码"}),
    );
    let (records, _) = read_all(&src, None, 100).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id, "customers.xlsx");
    assert!(
        field(&records[0], "_error")
            .as_str()
            .unwrap()
            .contains("no sheet \"Orders\""),
        "{records:?}"
    );
}

fn big_csv(rows: usize, tag: &str) -> String {
    let mut text = String::from("id,name,amount\n");
    for i in 0..rows {
        text.push_str(&format!("{i:05},name {i} {tag},{}.{:02}\n", i * 3, i % 100));
    }
    text
}

#[tokio::test]
async fn pages_inside_a_big_file_then_picks_up_changes_and_new_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    write(&dir, "orders-1.csv", big_csv(2500, "v1").as_bytes(), 10);
    let conn = connector(root.path());
    let src = source(&conn, json!({"pattern": "orders-?.csv", "id": "id"}));

    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    let mut seen = BTreeSet::new();
    loop {
        let page = src.read(cursor.as_deref(), 1000).await.unwrap();
        sizes.push((page.records.len(), page.more));
        for r in &page.records {
            assert!(seen.insert(r.id.clone()), "{} read twice", r.id);
            assert!(!r.fields.contains_key("_error"));
        }
        if sizes.len() == 1 {
            let c: Value = serde_json::from_str(&page.cursor).unwrap();
            assert_eq!(c["current"]["file"], "orders-1.csv");
            assert_eq!(c["current"]["row"], 1000);
            assert_eq!(c["current"]["hash"].as_str().unwrap().len(), 64);
        }
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    assert_eq!(sizes, vec![(1000, true), (1000, true), (500, false)]);
    assert_eq!(seen.len(), 2500);
    assert_eq!(seen.first().unwrap(), "00000");
    assert_eq!(seen.last().unwrap(), "02499");
    let done: Value = serde_json::from_str(cursor.as_ref().unwrap()).unwrap();
    assert!(done.get("current").is_none());
    assert_eq!(
        done["done"]["orders-1.csv"]["size"],
        big_csv(2500, "v1").len()
    );

    // Caught up: nothing more.
    let page = src.read(cursor.as_deref(), 1000).await.unwrap();
    assert!(page.records.is_empty() && !page.more);

    // Touched but unchanged: nothing.
    set_mtime(&dir.join("orders-1.csv"), 20);
    let page = src.read(Some(&page.cursor), 1000).await.unwrap();
    assert!(
        page.records.is_empty() && !page.more,
        "{:?}",
        page.records.len()
    );

    // A new file is picked up, alone.
    write(
        &dir,
        "orders-2.csv",
        b"id,name,amount\nN1,new,1\nN2,new,2\n",
        30,
    );
    let (records, cursor) = read_all(&src, Some(page.cursor), 1000).await;
    assert_eq!(
        records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["N1", "N2"]
    );

    // A modified file is re-imported whole, in (mtime, name) order after the other.
    write(
        &dir,
        "orders-2.csv",
        b"id,name,amount\nN1,changed,1\nN2,new,2\nN3,new,3\n",
        40,
    );
    write(&dir, "orders-1.csv", big_csv(1200, "v2").as_bytes(), 35);
    let (records, cursor) = read_all(&src, Some(cursor), 1000).await;
    assert_eq!(records.len(), 1200 + 3);
    assert_eq!(field(&records[0], "name"), "name 0 v2");
    assert_eq!(records[1200].id, "N1");
    assert_eq!(field(&records[1200], "name"), "changed");
    let (records, _) = read_all(&src, Some(cursor), 1000).await;
    assert!(records.is_empty());
}

#[tokio::test]
async fn a_file_changed_in_the_middle_of_paging_restarts_at_row_zero() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    write(&dir, "a.csv", big_csv(30, "v1").as_bytes(), 1);
    let conn = connector(root.path());
    let src = source(&conn, json!({"pattern": "*.csv", "id": "id"}));
    let page = src.read(None, 10).await.unwrap();
    assert_eq!(page.records.len(), 10);
    write(&dir, "a.csv", big_csv(25, "v2").as_bytes(), 2);
    let (records, _) = read_all(&src, Some(page.cursor), 10).await;
    assert_eq!(records.len(), 25);
    assert_eq!(records[0].id, "00000");
    assert_eq!(field(&records[0], "name"), "name 0 v2");
}

#[tokio::test]
async fn bad_rows_become_error_records_and_the_rest_is_read() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    let mut bytes = b"\xEF\xBB\xBFcode,name,credit_limit\n".to_vec();
    bytes.extend_from_slice(b"C1,Alice,10.5\n");
    bytes.extend_from_slice(b"C2,Bob,\"12,5x\"\n");
    bytes.extend_from_slice(b",Nobody,1\n");
    bytes.extend_from_slice(b"C4,Bad \xFF\xFE bytes,2\n");
    bytes.extend_from_slice(b"C5,Too,3,many\n");
    bytes.extend_from_slice(b"C6,Carol,7\n");
    write(&dir, "customers.csv", &bytes, 1);
    let conn = connector(root.path());
    let src = source(
        &conn,
        json!({"pattern": "customers.csv", "id": "code", "types": {"credit_limit": "decimal"}}),
    );
    let (records, _) = read_all(&src, None, 100).await;
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    // A row with too many values may have its cells shifted, so its id is file and line.
    assert_eq!(
        ids,
        ["C1", "C2", "customers.csv:4", "C4", "customers.csv:6", "C6"]
    );
    let error = |i: usize| {
        records[i]
            .fields
            .get("_error")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(error(0), "");
    assert_eq!(
        error(1),
        r#"customers.csv line 3, column "credit_limit": "12,5x" is not a decimal"#
    );
    assert_eq!(
        field(&records[1], "credit_limit"),
        "12,5x",
        "the raw value is kept"
    );
    assert_eq!(field(&records[1], "name"), "Bob");
    assert_eq!(
        error(2),
        r#"customers.csv line 4, column "code": the id is empty"#
    );
    assert!(
        error(3).starts_with(r#"customers.csv line 5, column "name": "#),
        "{}",
        error(3)
    );
    assert!(
        error(3).contains(r#""Bad \xFF\xFE bytes" holds"#) && error(3).contains("not valid UTF-8"),
        "the bytes are shown, not replaced: {}",
        error(3)
    );
    assert_eq!(records[3].origin.as_deref(), Some("customers.csv line 5"));
    assert_eq!(
        error(4),
        "customers.csv line 6, 4 values but the header has 3 columns"
    );
    assert_eq!(field(&records[4], "column_4"), "many");
    assert_eq!(error(5), "");
    assert_eq!(field(&records[5], "credit_limit"), "7");

    // A file without the id column is one error record; other files are still read.
    write(&dir, "customers-x.csv", b"kode,name\nX,Y\n", 2);
    let src = source(&conn, json!({"pattern": "customers*.csv", "id": "code"}));
    let (records, _) = read_all(&src, None, 100).await;
    assert_eq!(records.len(), 7);
    assert_eq!(records[6].id, "customers-x.csv");
    assert!(
        error_of(&records[6]).starts_with("customers-x.csv: no id column \"code\""),
        "{records:?}"
    );
}

fn error_of(record: &Record) -> &str {
    record
        .fields
        .get("_error")
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[tokio::test]
async fn xlsx_bad_cell_names_file_row_and_column() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "sku").unwrap();
    sheet.write_string(0, 1, "price").unwrap();
    sheet.write_string(1, 0, "A").unwrap();
    sheet.write_number(1, 1, 9.99).unwrap();
    sheet.write_string(2, 0, "B").unwrap();
    sheet.write_string(2, 1, "九块九").unwrap();
    workbook.save(dir.join("prices.xlsx")).unwrap();
    let conn = connector(root.path());
    let src = source(
        &conn,
        json!({"pattern": "prices.xlsx", "id": "sku", "types": {"price": "decimal"}}),
    );
    let (records, _) = read_all(&src, None, 10).await;
    assert_eq!(field(&records[0], "price"), "9.99");
    assert_eq!(
        error_of(&records[1]),
        r#"prices.xlsx row 3, column "price": "九块九" is not a decimal"#
    );
}

#[tokio::test]
async fn fetch_returns_the_latest_version_and_marks_missing_ids_deleted() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    write(&dir, "c-2.csv", b"code,name\nC1,newest\nC3,three\n", 20);
    write(&dir, "c-1.csv", b"code,name\nC1,old\nC2,two\n", 10);
    let conn = connector(root.path());
    let src = source(&conn, json!({"pattern": "c-*.csv", "id": "code"}));
    let ids = vec!["C1".to_owned(), "C2".to_owned(), "C9".to_owned()];
    let records = src.fetch(&ids).await.unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(field(&records[0], "name"), "newest");
    assert_eq!(field(&records[1], "name"), "two");
    assert!(!records[0].deleted && !records[1].deleted);
    assert_eq!(records[2].id, "C9");
    assert!(records[2].deleted);
}

fn outgoing(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.into(),
        target_id: None,
        fields: map(fields),
    }
}

fn sink_ctx() -> SinkContext {
    SinkContext {
        entity: Entity::CUSTOMER,
        key_field: "code".into(),
        fields: Vec::new(),
    }
}

#[tokio::test]
async fn csv_export_round_trips_chinese_text_decimals_and_nested_values() {
    for encoding in ["utf-8", "utf-8-bom", "gbk"] {
        let root = tempfile::tempdir().unwrap();
        let conn = connector(root.path());
        let sink = conn
            .sink(
                &map(json!({
                    "file": "export-{date}.csv", "encoding": encoding,
                    "columns": ["code", "name", {"credit_limit": "信用额度"}, "lines", "extra.wechat"],
                })),
                &sink_ctx(),
            )
            .unwrap();
        let first = vec![
            outgoing(
                "C1",
                json!({"code": "C1", "name": "上海华东贸易有限公司", "credit_limit": "1234.50",
                                  "lines": [{"sku": "A", "qty": 2}], "extra": {"wechat": "hd_sh"}}),
            ),
            outgoing(
                "C2",
                json!({"code": "C2", "name": "Quote \"me\", ok", "credit_limit": null}),
            ),
        ];
        let written = sink.upsert(&first).await.unwrap();
        let file = super::sink::render_name("export-{date}.csv");
        assert_eq!(written[0].as_ref().unwrap().target_id, format!("{file}#C1"));
        let second = vec![outgoing(
            "C3",
            json!({"code": "C3", "name": "北京", "credit_limit": "0.10"}),
        )];
        sink.upsert(&second)
            .await
            .unwrap()
            .into_iter()
            .for_each(|r| assert!(r.is_ok()));

        let bytes = std::fs::read(root.path().join("files").join(&file)).unwrap();
        assert_eq!(
            bytes.starts_with(b"\xEF\xBB\xBF"),
            encoding == "utf-8-bom",
            "{encoding}"
        );
        assert_eq!(
            std::str::from_utf8(&bytes).is_ok(),
            encoding != "gbk",
            "{encoding}"
        );

        let src = source(
            &conn,
            json!({"pattern": "export-*.csv", "id": "code", "columns": {"信用额度": "credit_limit"}}),
        );
        let (records, _) = read_all(&src, None, 100).await;
        assert_eq!(records.len(), 3, "{encoding}: one header only");
        assert_eq!(field(&records[0], "name"), "上海华东贸易有限公司");
        assert_eq!(field(&records[0], "credit_limit"), "1234.50");
        assert_eq!(field(&records[0], "lines"), r#"[{"sku":"A","qty":2}]"#);
        assert_eq!(field(&records[0], "extra.wechat"), "hd_sh");
        assert_eq!(field(&records[1], "name"), "Quote \"me\", ok");
        assert_eq!(field(&records[1], "credit_limit"), "");
        assert_eq!(field(&records[2], "credit_limit"), "0.10");
        assert!(records.iter().all(|r| !r.fields.contains_key("_error")));
    }
}

#[tokio::test]
async fn gbk_export_refuses_only_the_record_it_cannot_encode() {
    let root = tempfile::tempdir().unwrap();
    let conn = connector(root.path());
    let sink = conn
        .sink(
            &map(json!({"file": "out.csv", "encoding": "gbk", "columns": ["code", "name"]})),
            &sink_ctx(),
        )
        .unwrap();
    let results = sink
        .upsert(&[
            outgoing("A", json!({"code": "A", "name": "好"})),
            outgoing("B", json!({"code": "B", "name": "smile 😀"})),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok());
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.kind(), ferry_model::ErrorKind::Validation);
    assert!(
        error.message().contains("record B: field \"name\""),
        "{}",
        error.message()
    );
    let bytes = std::fs::read(root.path().join("files/out.csv")).unwrap();
    let (text, _, _) = encoding_rs::GBK.decode(&bytes);
    assert_eq!(text, "code,name\r\nA,好\r\n");
}

#[tokio::test]
async fn csv_append_cuts_a_torn_line_and_refuses_foreign_headers() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    std::fs::write(dir.join("out.csv"), "code,name\r\nA,a\r\nB,tor").unwrap();
    let conn = connector(root.path());
    let sink = conn
        .sink(
            &map(json!({"file": "out.csv", "columns": ["code", "name"]})),
            &sink_ctx(),
        )
        .unwrap();
    sink.upsert(&[outgoing("C", json!({"code": "C", "name": "c"}))])
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv")).unwrap(),
        "code,name\r\nA,a\r\nC,c\r\n"
    );

    std::fs::write(dir.join("other.csv"), "sku,price\r\n").unwrap();
    let sink = conn
        .sink(
            &map(json!({"file": "other.csv", "columns": ["code", "name"]})),
            &sink_ctx(),
        )
        .unwrap();
    let error = sink
        .upsert(&[outgoing("C", json!({"code": "C"}))])
        .await
        .unwrap_err();
    assert!(
        error
            .message()
            .contains("already exists with other columns"),
        "{}",
        error.message()
    );
    assert!(!dir.join(".out.csv.part").exists());
}

#[tokio::test]
async fn xlsx_export_is_readable_by_calamine_and_by_the_source() {
    let root = tempfile::tempdir().unwrap();
    let conn = connector(root.path());
    let sink = conn
        .sink(&map(json!({"file": "orders.xlsx", "columns": ["code", {"name": "名称"}, "qty", "amount", "lines", "ok"]})), &sink_ctx())
        .unwrap();
    let batch = vec![
        outgoing(
            "SO1",
            json!({"code": "SO1", "name": "杭州西湖茶庄", "qty": 3, "amount": "1234.50", "lines": [1, 2], "ok": true}),
        ),
        outgoing("SO2", json!({"code": "SO2", "name": "x".repeat(40_000)})),
    ];
    let results = sink.upsert(&batch).await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().target_id, "orders-1.xlsx#SO1");
    assert!(results[1].as_ref().unwrap_err().message().contains("32767"));
    let results = sink.upsert(&batch[..1]).await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().target_id, "orders-2.xlsx#SO1");

    let dir = root.path().join("files");
    let mut workbook: Xlsx<_> = open_workbook(dir.join("orders-1.xlsx")).unwrap();
    let range = workbook.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(range.get_value((0, 1)), Some(&Data::String("名称".into())));
    assert_eq!(range.get_value((1, 0)), Some(&Data::String("SO1".into())));
    assert_eq!(
        range.get_value((1, 1)),
        Some(&Data::String("杭州西湖茶庄".into()))
    );
    assert_eq!(range.get_value((1, 2)), Some(&Data::Float(3.0)));
    assert_eq!(
        range.get_value((1, 3)),
        Some(&Data::String("1234.50".into()))
    );
    assert_eq!(range.get_value((1, 4)), Some(&Data::String("[1,2]".into())));
    assert_eq!(range.get_value((1, 5)), Some(&Data::Bool(true)));
    assert_eq!(range.height(), 2, "the refused record is not written");

    let src = source(
        &conn,
        json!({"pattern": "orders-*.xlsx", "id": "code", "types": {"qty": "integer"}}),
    );
    let (records, _) = read_all(&src, None, 100).await;
    assert_eq!(records.len(), 2);
    assert_eq!(field(&records[0], "名称"), "杭州西湖茶庄");
    assert_eq!(field(&records[0], "qty"), &json!(3));
    assert_eq!(field(&records[0], "amount"), "1234.50");
}

#[tokio::test]
async fn discover_lists_files_with_their_headers() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    write(
        &dir,
        "a.csv",
        "\u{feff}code;name;城市\n1;2;3\n".as_bytes(),
        1,
    );
    write(&dir, "notes.txt", b"x", 1);
    let mut workbook = Workbook::new();
    workbook
        .add_worksheet()
        .set_name("S1")
        .unwrap()
        .write_string(0, 0, "sku")
        .unwrap();
    workbook
        .add_worksheet()
        .set_name("S2")
        .unwrap()
        .write_string(0, 0, "qty")
        .unwrap();
    workbook.save(dir.join("b.xlsx")).unwrap();
    set_mtime(&dir.join("b.xlsx"), 2);
    let objects = connector(root.path()).discover().await.unwrap();
    let names: Vec<(String, Vec<String>)> = objects
        .into_iter()
        .map(|o| (o.name, o.fields.into_iter().map(|f| f.name).collect()))
        .collect();
    assert_eq!(
        names,
        vec![
            (
                "a.csv".to_owned(),
                vec!["code".to_owned(), "name".to_owned(), "城市".to_owned()]
            ),
            ("b.xlsx#S1".to_owned(), vec!["sku".to_owned()]),
            ("b.xlsx#S2".to_owned(), vec!["qty".to_owned()]),
        ]
    );
}

fn issues<T>(result: Result<T, ferry_kit::SettingsIssues>) -> Vec<(String, String)> {
    match result {
        Ok(_) => panic!("settings must be refused"),
        Err(found) => found.into_iter().map(|i| (i.dotted(), i.message)).collect(),
    }
}

fn paths(list: &[(String, String)]) -> Vec<&str> {
    list.iter().map(|(p, _)| p.as_str()).collect()
}

#[test]
fn settings_errors_name_the_key() {
    let ctx = BuildContext {
        system: "inbox".into(),
        base_dir: ".".into(),
    };
    let found = issues(FilesFactory.build(&ctx, &map(json!({}))));
    assert_eq!(paths(&found), ["dir"]);
    let found = issues(FilesFactory.build(&ctx, &map(json!({"dir": "x", "folder": "y"}))));
    assert_eq!(paths(&found), ["folder"]);
    assert!(found[0].1.contains("unknown key `folder`"), "{found:?}");
    let found = issues(FilesFactory.build(&ctx, &map(json!({"dir": 5}))));
    assert_eq!(paths(&found), ["dir"]);

    let dir = tempfile::tempdir().unwrap();
    let conn = connector(dir.path());
    let src = |v: Value| issues(conn.source(&map(v)));
    assert_eq!(paths(&src(json!({"pattern": "*.csv"}))), ["id"]);
    let found =
        src(json!({"pattern": "*.csv", "id": "code", "types": {"a": "money", "b": "date"}}));
    assert_eq!(paths(&found), ["types.a"]);
    assert!(found[0].1.contains("`money` is not one of"), "{found:?}");
    assert_eq!(
        paths(&src(
            json!({"pattern": "*.csv", "id": "code", "delimiter": ";;"})
        )),
        ["delimiter"]
    );
    assert_eq!(
        paths(&src(
            json!({"pattern": "*.csv", "id": "code", "header_row": 0})
        )),
        ["header_row"]
    );
    assert_eq!(
        paths(&src(
            json!({"pattern": "*.csv", "id": "code", "encoding": "latin1"})
        )),
        ["encoding"]
    );
    assert_eq!(
        paths(&src(json!({"pattern": "in/*.csv", "id": "code"}))),
        ["pattern"]
    );
    assert_eq!(
        paths(&src(json!({"pattern": "*.txt", "id": "code"}))),
        ["format"]
    );
    assert_eq!(
        paths(&src(
            json!({"pattern": "*.xlsx", "format": "xlsx", "id": "c", "delimiter": ";"})
        )),
        ["delimiter"]
    );
    assert_eq!(
        paths(&src(
            json!({"pattern": "*.csv", "id": " ", "columns": {"a": "x", "b": "x"}})
        )),
        ["id", "columns.b"]
    );
    assert!(
        conn.source(&map(
            json!({"pattern": "*.txt", "format": "csv", "id": "c", "delimiter": "tab"})
        ))
        .is_ok()
    );

    let sink = |v: Value| issues(conn.sink(&map(v), &sink_ctx()));
    assert_eq!(paths(&sink(json!({"file": "out.csv"}))), ["columns"]);
    assert_eq!(
        paths(&sink(json!({"file": "out.csv", "columns": []}))),
        ["columns"]
    );
    assert_eq!(
        paths(&sink(json!({"file": "out.txt", "columns": ["a"]}))),
        ["file"]
    );
    assert_eq!(
        paths(&sink(json!({"file": "out-{day}.csv", "columns": ["a"]}))),
        ["file"]
    );
    assert_eq!(
        paths(&sink(json!({"file": "../out.csv", "columns": ["a"]}))),
        ["file"]
    );
    assert_eq!(
        paths(&sink(
            json!({"file": "o.csv", "columns": ["a", {"b": "B", "c": "C"}, "a"]})
        )),
        ["columns.1", "columns.2"]
    );
    assert_eq!(
        paths(&sink(json!({"file": "o.csv", "columns": ["a", 5]}))),
        ["columns.1"]
    );
    assert_eq!(
        paths(&sink(
            json!({"file": "o.xlsx", "columns": ["a"], "encoding": "gbk"})
        )),
        ["encoding"]
    );
    assert_eq!(
        paths(&sink(
            json!({"file": "o.csv", "columns": ["a"], "encoding": "big5"})
        )),
        ["encoding"]
    );
    assert_eq!(
        paths(&sink(
            json!({"file": "o.csv", "columns": ["a"], "colums": ["b"]})
        )),
        ["colums"]
    );
}

#[test]
fn schemas_describe_the_three_settings_maps() {
    let schemas = FilesFactory.schemas();
    let props = |s: &schemars::Schema| -> Vec<String> {
        s.get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(props(&schemas.system), ["dir"]);
    for key in [
        "pattern",
        "format",
        "encoding",
        "delimiter",
        "sheet",
        "header_row",
        "id",
        "columns",
        "types",
    ] {
        assert!(props(&schemas.source).iter().any(|p| p == key), "{key}");
    }
    assert_eq!(
        props(&schemas.target),
        ["file", "columns", "encoding", "delimiter"]
    );
    assert_eq!(FilesFactory.kind(), "files");
}

#[test]
fn patterns_match_whole_names_case_insensitively() {
    let p = Pattern::new("customers*.csv").unwrap();
    assert!(p.matches("customers.csv"));
    assert!(p.matches("Customers-2024-01.CSV"));
    assert!(!p.matches("customers.csv.bak"));
    assert!(!p.matches("old-customers.csv"));
    let p = Pattern::new("a?c*x*.xlsx").unwrap();
    assert!(p.matches("abcx.xlsx"));
    assert!(p.matches("a-c12x34x.xlsx"));
    assert!(!p.matches("ac.xlsx"));
    assert!(Pattern::new("*").unwrap().matches("客户.csv"));
    assert!(Pattern::new("客户?.csv").unwrap().matches("客户1.csv"));
}

#[test]
fn floats_are_written_without_binary_noise() {
    assert_eq!(float_text(1234.5), "1234.5");
    assert_eq!(float_text(0.1 + 0.2), "0.3");
    assert_eq!(float_text(100.0), "100");
    assert_eq!(float_text(-2.675), "-2.675");
    assert_eq!(float_text(1e20), "100000000000000000000");
    assert_eq!(float_text(0.000123), "0.000123");
}

#[tokio::test]
async fn header_row_skips_report_titles_and_bad_gbk_bytes_are_reported() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    let (mut bytes, _, _) =
        encoding_rs::GBK.encode("客户列表 2024年3月\r\n编码;名称;启用\r\nA1;华南;是\r\n");
    let mut bytes = bytes.to_mut().clone();
    bytes.extend_from_slice(b"A2;\xFF\xFF;\xB7\xF1\r\n"); // 0xFF is never valid GBK; B7F1 is 否
    write(&dir, "export.csv", &bytes, 1);
    let conn = connector(root.path());
    let src = source(
        &conn,
        json!({"pattern": "export.csv", "encoding": "gbk", "delimiter": ";", "header_row": 2, "id": "编码",
               "types": {"启用": "bool"}}),
    );
    let (records, _) = read_all(&src, None, 10).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        records[0].fields,
        map(json!({"编码": "A1", "名称": "华南", "启用": true}))
    );
    assert_eq!(records[1].id, "A2");
    let error = error_of(&records[1]);
    assert!(
        error.starts_with(r#"export.csv line 4, column "名称": "#),
        "{error}"
    );
    assert!(error.contains("not valid GBK/GB18030"), "{error}");
    assert_eq!(field(&records[1], "启用"), "否", "raw text is kept");
}

/// The data lines of a CSV `id,name,amount`: row `i` (1-based, on line `i + 1`) is
/// `R<i>,name <i>,<i>.50`; every `quoted`-th row's name is quoted and holds the delimiter.
fn data_lines(rows: usize, quoted: Option<usize>) -> Vec<String> {
    (1..=rows)
        .map(|i| match quoted {
            Some(n) if i % n == 0 => format!("R{i:03},\"name {i}, Jr.\",{i}.50"),
            _ => format!("R{i:03},name {i},{i}.50"),
        })
        .collect()
}

fn csv_of(lines: &[String]) -> String {
    format!("id,name,amount\n{}\n", lines.join("\n"))
}

/// Reads `name` from `dir` in one page and again a record per page: the two must agree
/// (the cursor's row count skips broken rows like any other), seven records a page.
async fn read_both_ways(conn: &Arc<dyn Connector>, name: &str, options: Value) -> Vec<Record> {
    let mut options = options;
    options["pattern"] = json!(name);
    let src = source(conn, options);
    let (records, _) = read_all(&src, None, 10_000).await;
    let (paged, _) = read_all(&src, None, 7).await;
    assert_eq!(records, paged, "{name}: paging changes what is read");
    records
}

#[tokio::test]
async fn an_unterminated_quote_is_one_broken_row_at_the_start_middle_or_end() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    let conn = connector(root.path());
    // (row with the bad quote, rows with properly quoted names, why the quote is unterminated)
    let cases = [
        (
            1,
            Some(7),
            "the next quote, on line 8, belongs to a row of its own",
        ),
        (
            100,
            Some(7),
            "the next quote, on line 106, belongs to a row of its own",
        ),
        (100, None, "no closing quote before the end of the file"),
        (200, Some(7), "no closing quote before the end of the file"),
    ];
    for (n, (bad, quoted, why)) in cases.into_iter().enumerate() {
        let name = format!("unterminated-{n}.csv");
        let mut lines = data_lines(200, quoted);
        lines[bad - 1] = format!("R{bad:03},\"name {bad},{bad}.50");
        write(&dir, &name, csv_of(&lines).as_bytes(), n as u64);
        let records = read_both_ways(&conn, &name, json!({"id": "id"})).await;
        assert_eq!(records.len(), 200, "{name}: every row is a record");
        for (i, record) in records.iter().enumerate() {
            let row = i + 1;
            let line = row + 1;
            assert_eq!(
                record.origin.as_deref(),
                Some(format!("{name} line {line}").as_str())
            );
            if row != bad {
                assert_eq!(record.id, format!("R{row:03}"), "{name}");
                assert_eq!(error_of(record), "", "{name}");
                let want = match quoted {
                    Some(q) if row % q == 0 => format!("name {row}, Jr."),
                    _ => format!("name {row}"),
                };
                assert_eq!(field(record, "name"), &json!(want), "{name}: nothing glued");
                assert_eq!(field(record, "amount"), &json!(format!("{row}.50")));
                continue;
            }
            assert_eq!(record.id, format!("{name}:{line}"));
            assert_eq!(
                error_of(record),
                format!(
                    "{name} line {line}, column \"name\": unterminated quote: {why}; the row is \
                     taken as this line alone and reading went on at line {}",
                    line + 1
                )
            );
            assert_eq!(field(record, "_raw"), &json!(lines[bad - 1]));
            assert_eq!(
                field(record, "name"),
                &json!(format!("name {bad},{bad}.50")),
                "the open value runs to the end of its line, no further"
            );
        }
    }
}

#[tokio::test]
async fn the_three_line_file_of_the_report_reads_its_last_row() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    write(&dir, "three.csv", b"id,name\n1,\"Alice\n2,Bob\n", 1);
    let conn = connector(root.path());
    let records = read_both_ways(&conn, "three.csv", json!({"id": "id"})).await;
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["three.csv:2", "2"]);
    assert!(
        error_of(&records[0]).starts_with("three.csv line 2, column \"name\": unterminated quote")
    );
    assert_eq!(records[1].fields, map(json!({"id": "2", "name": "Bob"})));
}

#[tokio::test]
async fn a_quote_closed_only_by_a_sloppy_line_that_misfits_is_unterminated() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    // Line 2's quote would close at `12"` on line 4, making a row of 2 values: unterminated.
    // Line 4 then reads on its own, its stray quote kept as text (as the csv crate does).
    let text = "id,name,note\n1,\"Bob,x\n2,Carol,y\n3,Dave,12\" pizza\n4,Eve,z\n";
    write(&dir, "sloppy.csv", text.as_bytes(), 1);
    let conn = connector(root.path());
    let records = read_both_ways(&conn, "sloppy.csv", json!({"id": "id"})).await;
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["sloppy.csv:2", "2", "3", "4"]);
    assert!(
        error_of(&records[0]).contains(
            "unterminated quote: closing it at the quote on line 4 would make a row of 2 values"
        ),
        "{}",
        error_of(&records[0])
    );
    assert_eq!(field(&records[2], "note"), "12\" pizza");
}

#[tokio::test]
async fn a_quoted_value_may_span_lines() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    // Line 2's value spans three lines, and its middle line would be a fine row on its own;
    // line 5's holds an escaped quote and a CRLF; line 7 follows them.
    let text = "id,address,note\r\n\
                1,\"Room 5\r\nA,B,C\r\nShanghai\",first\r\n\
                2,\"He said \"\"hi\"\"\r\nthen left\",\"second, quoted\"\r\n\
                3,plain,third\r\n";
    write(&dir, "multi.csv", text.as_bytes(), 1);
    let conn = connector(root.path());
    let records = read_both_ways(&conn, "multi.csv", json!({"id": "id"})).await;
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(
        records[0].fields,
        map(json!({"id": "1", "address": "Room 5\r\nA,B,C\r\nShanghai", "note": "first"}))
    );
    assert_eq!(
        records[1].fields,
        map(json!({"id": "2", "address": "He said \"hi\"\r\nthen left", "note": "second, quoted"}))
    );
    assert_eq!(
        records[2].fields,
        map(json!({"id": "3", "address": "plain", "note": "third"}))
    );
    let origins: Vec<&str> = records.iter().filter_map(|r| r.origin.as_deref()).collect();
    assert_eq!(
        origins,
        ["multi.csv line 2", "multi.csv line 5", "multi.csv line 7"]
    );
}

#[tokio::test]
async fn a_row_with_too_few_or_too_many_values_is_a_broken_row() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    // The header's last column is unnamed: rows may leave it out, or leave it and more empty.
    let text = "id,name,note,\n1,a,x\n2,b\n3,c,z,,,\n4,d,w,,extra\n5,e,v,keep\n";
    write(&dir, "width.csv", text.as_bytes(), 1);
    let conn = connector(root.path());
    let records = read_both_ways(&conn, "width.csv", json!({"id": "id"})).await;
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1", "width.csv:3", "3", "width.csv:5", "5"]);
    assert_eq!(
        error_of(&records[1]),
        "width.csv line 3, 2 values but the header has 4 columns"
    );
    assert_eq!(field(&records[1], "_raw"), "2,b");
    assert_eq!(
        error_of(&records[3]),
        "width.csv line 5, 5 values but the header has 4 columns"
    );
    assert_eq!(
        field(&records[3], "column_5"),
        "extra",
        "every value is kept"
    );
    assert_eq!(field(&records[4], "column_4"), "keep");
}

#[tokio::test]
async fn bad_utf8_is_a_broken_row_and_a_bad_header_a_broken_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    write(
        &dir,
        "utf8.csv",
        b"id,name\n1,\xE4\xB8\x8A\xE6\xB5\xB7\n2,caf\xE9\n3,ok\n",
        1,
    );
    write(&dir, "header.csv", b"id,n\xFFme\n1,a\n", 2);
    let conn = connector(root.path());
    let options = json!({"id": "id", "encoding": "utf-8"});
    let records = read_both_ways(&conn, "utf8.csv", options.clone()).await;
    assert_eq!(records.len(), 3);
    assert_eq!(field(&records[0], "name"), "上海");
    assert_eq!(records[1].id, "2");
    assert_eq!(
        error_of(&records[1]),
        r#"utf8.csv line 3, column "name": "caf\xE9" holds bytes that are not valid UTF-8"#
    );
    assert_eq!(error_of(&records[2]), "");

    let records = read_both_ways(&conn, "header.csv", options).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id, "header.csv");
    assert_eq!(
        error_of(&records[0]),
        r#"header.csv: the header (line 1): "n\xFFme" holds bytes that are not valid UTF-8"#
    );
}

#[tokio::test]
async fn a_broken_row_keeps_its_id_when_read_again_and_fetch_finds_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    let conn = connector(root.path());
    write(&dir, "again.csv", b"id,name\n1,\"a\n2,b\n", 1);
    let src = source(&conn, json!({"pattern": "again.csv", "id": "id"}));
    let (first, cursor) = read_all(&src, None, 10).await;
    // The file changes below the broken row: re-imported whole, the broken row is the same.
    write(&dir, "again.csv", b"id,name\n1,\"a\n2,b\n3,c\n", 2);
    let (second, _) = read_all(&src, Some(cursor), 10).await;
    assert_eq!(second[0].id, "again.csv:2");
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(
        second[0].hash(),
        first[0].hash(),
        "same record, same dead letter"
    );
    let fetched = src.fetch(&["again.csv:2".to_owned()]).await.unwrap();
    assert_eq!(fetched[0], second[0], "a replay reads the broken row again");
}

/// The promise of issue 13: for a set of broken files, every row of the file is read either
/// as a record or as an error record (which the engine dead-letters); none is lost.
#[tokio::test]
async fn every_row_of_a_broken_file_is_a_record_or_an_error_record() {
    let root = tempfile::tempdir().unwrap();
    let dir = files_dir(root.path());
    let conn = connector(root.path());
    let mut middle = data_lines(200, Some(7));
    middle[99] = "R100,\"name 100,100.50".into();
    let mut end = data_lines(200, None);
    end[199] = "R200,\"name 200,200.50".into();
    let mut mixed = data_lines(50, Some(5)).join("\n").into_bytes();
    mixed.extend_from_slice(b"\nX1,\"open,1\nX2,two,2\nX3,3,3,3\nX4,\xFF,4\nX5\n");
    let (gbk, _, _) = encoding_rs::GBK.encode("id,name,amount\nG1,华南,1\nG2,");
    let mut gbk = gbk.into_owned();
    gbk.extend_from_slice(b"\x81\x20,2\nG3,\xB7\xF1,3\n"); // 0x81 0x20: a lead byte alone
    // (file, bytes, encoding, rows in the file, rows that are broken)
    let files: Vec<(&str, Vec<u8>, &str, usize, usize)> = vec![
        ("a-middle.csv", csv_of(&middle).into_bytes(), "auto", 200, 1),
        ("b-end.csv", csv_of(&end).into_bytes(), "auto", 200, 1),
        (
            "c-mixed.csv",
            [b"id,name,amount\n".as_slice(), &mixed].concat(),
            "utf-8",
            55,
            4,
        ),
        ("d-gbk.csv", gbk, "gbk", 3, 1),
    ];
    for (name, bytes, encoding, rows, broken) in files {
        write(&dir, name, &bytes, 1);
        let records = read_both_ways(&conn, name, json!({"id": "id", "encoding": encoding})).await;
        let errors = records.iter().filter(|r| !error_of(r).is_empty()).count();
        assert_eq!(
            (records.len(), errors),
            (rows, broken),
            "{name}: {records:#?}"
        );
        for record in records.iter().filter(|r| !error_of(r).is_empty()) {
            let origin = record.origin.as_deref().unwrap();
            assert!(origin.starts_with(&format!("{name} line ")), "{origin}");
            assert!(error_of(record).starts_with(origin), "{}", error_of(record));
        }
    }
}

/// `ferry check --live` on a folder: a missing folder is named, the newest matching file's
/// header is what the records carry, a header without the id column is reported, and
/// nothing is moved, read past the header, or created.
#[tokio::test]
async fn probes_name_a_missing_folder_and_read_only_the_newest_header() {
    let root = tempfile::tempdir().unwrap();
    let conn = connector(root.path());
    let options = json!({"pattern": "customers*.csv", "id": "code", "columns": {"名称": "name"}});
    conn.probe()
        .await
        .expect("a folder not there yet is no connection problem");
    let probe = source(&conn, options.clone()).probe().await;
    assert_eq!(probe.issues.len(), 1, "{probe:?}");
    assert!(
        probe.issues[0].message.contains("files does not exist"),
        "{probe:?}"
    );
    assert!(
        !root.path().join("files").exists(),
        "the probe made the folder"
    );

    let dir = files_dir(root.path());
    let probe = source(&conn, options.clone()).probe().await;
    assert!(probe.is_ok() && probe.fields.is_none(), "{probe:?}");
    write(&dir, "customers-1.csv", "code,名称\nC1,甲\n".as_bytes(), 1);
    write(
        &dir,
        "customers-2.csv",
        "kode,名称,email\nC2,乙,x@y\n".as_bytes(),
        2,
    );
    let probe = source(&conn, options.clone()).probe().await;
    assert!(
        probe.issues.len() == 1
            && probe.issues[0]
                .message
                .starts_with("customers-2.csv: no id column \"code\""),
        "{probe:?}"
    );
    std::fs::remove_file(dir.join("customers-2.csv")).unwrap();
    let probe = source(&conn, options).probe().await;
    assert!(probe.is_ok(), "{probe:?}");
    let known = probe.fields.expect("the header is known");
    assert_eq!(known.names, ["code", "name"]);
    assert_eq!(known.origin, "the header of customers-1.csv");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(left.len(), 1, "the probe moved or made files");
}

/// A target's folder is made on the first write: the probe accepts one that is not there
/// yet, and refuses a path that is a file.
#[tokio::test]
async fn a_target_folder_may_be_missing_but_not_a_file() {
    let root = tempfile::tempdir().unwrap();
    let conn = connector(root.path());
    let ctx = SinkContext {
        entity: Entity::CUSTOMER,
        key_field: "code".into(),
        fields: vec!["code".into()],
    };
    let target = map(json!({"file": "out.csv", "columns": ["code"]}));
    let probe = conn.sink(&target, &ctx).unwrap().probe().await;
    assert!(probe.is_ok(), "{probe:?}");
    assert!(
        !root.path().join("files").exists(),
        "the probe made the folder"
    );

    std::fs::write(root.path().join("files"), "not a folder").unwrap();
    let err = conn.probe().await.unwrap_err();
    assert!(err.message().contains("is not a folder"), "{err}");
    let probe = conn.sink(&target, &ctx).unwrap().probe().await;
    assert!(
        probe.issues.len() == 1 && probe.issues[0].message.contains("is not a folder"),
        "{probe:?}"
    );
}
