//! The same tests on SQLite (a temp file), PostgreSQL and MariaDB/MySQL (the servers of the
//! development machine; URLs overridable with `FERRY_TEST_PG_URL` / `FERRY_TEST_MYSQL_URL`).
//! An unreachable server skips its tests with a visible `SKIPPED:` line, or fails them when
//! `CI=true`.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use ferry_model::{Entity, ErrorKind, Record};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::SqlConnector;
use super::db::Stmt;
use super::value::Val;
use ferry_kit::{BuildContext, Connector, ConnectorFactory, Outgoing, Sink, SinkContext, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

struct Env {
    kind: Kind,
    conn: SqlConnector,
    tables: std::sync::Mutex<Vec<String>>,
    _dir: tempfile::TempDir,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

fn ctx(dir: &std::path::Path) -> BuildContext {
    BuildContext {
        system: "db".to_owned(),
        base_dir: dir.to_path_buf(),
    }
}

async fn env(kind: Kind) -> Option<Env> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match kind {
        Kind::Sqlite => "sqlite://data/test.db".to_owned(),
        Kind::Postgres => std::env::var("FERRY_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        Kind::MySql => std::env::var("FERRY_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned()),
    };
    if kind == Kind::Sqlite {
        std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    }
    let conn = SqlConnector::from_settings(
        &ctx(dir.path()),
        &obj(json!({"url": url, "connect_timeout": "5s"})),
    )
    .expect("valid settings");
    if let Err(e) = conn.db.query("SELECT 1", Vec::new()).await {
        let name = conn.db.backend.name();
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} not reachable at {}: {e}", conn.db.display);
        }
        eprintln!("SKIPPED: {name} not reachable at {}: {e}", conn.db.display);
        return None;
    }
    Some(Env {
        kind,
        conn,
        tables: std::sync::Mutex::new(Vec::new()),
        _dir: dir,
    })
}

impl Env {
    /// A fresh table name, dropped by [`Env::cleanup`].
    fn table(&self, name: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let t = format!("ferry_{name}_{}_{n}", std::process::id());
        self.tables.lock().unwrap().push(t.clone());
        t
    }

    fn ts(&self) -> &'static str {
        match self.kind {
            Kind::Postgres => "TIMESTAMPTZ",
            Kind::MySql => "DATETIME(6)",
            Kind::Sqlite => "DATETIME",
        }
    }

    async fn exec(&self, sql: &str) {
        self.conn
            .db
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Inserts rows with bound values.
    async fn insert(&self, table: &str, columns: &[&str], rows: Vec<Vec<Val>>) {
        let b = self.conn.db.backend;
        let mut stmts = Vec::new();
        for row in rows {
            let marks: Vec<String> = (1..=row.len()).map(|n| b.placeholder(n)).collect();
            let cols: Vec<String> = columns.iter().map(|c| b.ident(c)).collect();
            stmts.push(Stmt::new(
                format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    b.table(table),
                    cols.join(", "),
                    marks.join(", ")
                ),
                row,
            ));
        }
        self.conn.db.transaction(stmts).await.expect("insert");
    }

    async fn count(&self, table: &str) -> i64 {
        let rows = self
            .conn
            .db
            .query(
                &format!("SELECT COUNT(*) FROM {}", self.conn.db.backend.table(table)),
                Vec::new(),
            )
            .await
            .unwrap();
        rows[0].values[0].as_i64().unwrap()
    }

    fn source(&self, options: Value) -> Arc<dyn Source> {
        self.conn
            .source(&obj(options))
            .expect("valid source options")
    }

    fn sink(&self, options: Value, key: &str) -> Arc<dyn Sink> {
        self.conn
            .sink(
                &obj(options),
                &SinkContext {
                    entity: Entity::CUSTOMER,
                    key_field: key.to_owned(),
                    fields: Vec::new(),
                },
            )
            .expect("valid target options")
    }

    async fn cleanup(self) {
        let tables = self.tables.lock().unwrap().clone();
        for t in tables.iter().rev() {
            let _ = self
                .conn
                .db
                .execute(&format!(
                    "DROP TABLE IF EXISTS {}",
                    self.conn.db.backend.table(t)
                ))
                .await;
        }
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Reads until `more` is false; returns the records and the final cursor.
async fn scan(
    source: &dyn Source,
    cursor: Option<String>,
    limit: usize,
) -> (Vec<Record>, String, Vec<usize>) {
    let mut cursor = cursor;
    let mut out = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..1000 {
        let page = source.read(cursor.as_deref(), limit).await.expect("read");
        sizes.push(page.records.len());
        out.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            return (out, cursor.unwrap(), sizes);
        }
    }
    panic!("scan did not end");
}

fn ids(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

fn out(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.to_owned(),
        target_id: None,
        fields: obj(fields),
    }
}

async fn case_keyset_ties(env: &Env) {
    let t = env.table("ties");
    env.exec(&format!(
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(50), updated_at {} )",
        env.ts()
    ))
    .await;
    let rows = (1..=25)
        .map(|i| vec![Val::Int(i), Val::Text(format!("n{i}")), Val::Ts(t0())])
        .collect();
    env.insert(&t, &["id", "name", "updated_at"], rows).await;
    let source = env.source(json!({"table": t, "watermark": {"column": "updated_at"}}));
    let (records, _, sizes) = scan(source.as_ref(), None, 10).await;
    let mut got = ids(&records);
    assert_eq!(sizes, vec![10, 10, 5]);
    got.dedup();
    assert_eq!(
        got,
        (1..=25).map(|i| i.to_string()).collect::<Vec<_>>(),
        "every row exactly once, in order"
    );
    assert_eq!(records[0].updated_at, Some(t0()));
    assert_eq!(records[0].fields["name"], json!("n1"));
    assert_eq!(records[0].fields["id"], json!(1));
    assert_eq!(
        records[0].fields["updated_at"],
        json!("2024-05-01T10:00:00Z")
    );
}

async fn case_overlap(env: &Env) {
    let t = env.table("overlap");
    env.exec(&format!(
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(50), updated_at {})",
        env.ts()
    ))
    .await;
    let rows = (1..=5)
        .map(|i| {
            vec![
                Val::Int(i),
                Val::Text(format!("n{i}")),
                Val::Ts(t0() + TimeDelta::seconds(i * 10)),
            ]
        })
        .collect();
    env.insert(&t, &["id", "name", "updated_at"], rows).await;
    let source =
        env.source(json!({"table": t, "watermark": {"column": "updated_at", "overlap": "5s"}}));
    let (records, cursor, _) = scan(source.as_ref(), None, 2).await;
    assert_eq!(records.len(), 5);
    // Committed late with a stamp 3 s older than the newest row seen: inside the overlap.
    let late = t0() + TimeDelta::seconds(47);
    // Older than the overlap window: not expected by design.
    let too_late = t0() + TimeDelta::seconds(30);
    env.insert(
        &t,
        &["id", "name", "updated_at"],
        vec![
            vec![Val::Int(100), Val::Text("late".into()), Val::Ts(late)],
            vec![
                Val::Int(101),
                Val::Text("too late".into()),
                Val::Ts(too_late),
            ],
        ],
    )
    .await;
    let (records, cursor2, _) = scan(source.as_ref(), Some(cursor), 2).await;
    let got = ids(&records);
    assert!(got.contains(&"100".to_owned()), "late row found: {got:?}");
    assert!(
        !got.contains(&"101".to_owned()),
        "row before the window: {got:?}"
    );
    assert!(
        got.contains(&"5".to_owned()),
        "the window is re-read: {got:?}"
    );
    // The next scan is stable: it reads the same window again and ends where the last one
    // did (or, should 5 s have passed since the newest row was read, right after it).
    let (again, cursor3, _) = scan(source.as_ref(), Some(cursor2.clone()), 2).await;
    assert_eq!(ids(&again), got);
    let settled: Value = serde_json::from_str(&cursor3).unwrap();
    assert!(
        cursor3 == cursor2 || settled["id"] == json!({"t": "int", "v": 5}),
        "{cursor3}"
    );
}

/// Once the overlap has passed since the newest row was read, a scan reads the window one
/// last time and the cursor settles right after that row: later scans read nothing.
async fn case_overlap_settles(env: &Env) {
    let t = env.table("settles");
    env.exec(&format!(
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(50), updated_at {})",
        env.ts()
    ))
    .await;
    // One mass update: every row with one stamp.
    let rows = (1..=30)
        .map(|i| vec![Val::Int(i), Val::Text(format!("n{i}")), Val::Ts(t0())])
        .collect();
    env.insert(&t, &["id", "name", "updated_at"], rows).await;
    let source =
        env.source(json!({"table": t, "watermark": {"column": "updated_at", "overlap": "300ms"}}));
    let (records, mut cursor, _) = scan(source.as_ref(), None, 7).await;
    assert_eq!(records.len(), 30);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut rereads = 0;
    loop {
        let (records, next, _) = scan(source.as_ref(), Some(cursor), 7).await;
        cursor = next;
        if records.is_empty() {
            break;
        }
        assert_eq!(records.len(), 30, "the window is read whole");
        rereads += 1;
        assert!(std::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(rereads >= 1, "the window is read again before it settles");
    let (records, again, _) = scan(source.as_ref(), Some(cursor.clone()), 7).await;
    assert!(records.is_empty());
    assert_eq!(
        again, cursor,
        "an idle scan leaves a settled cursor as it is"
    );
    // A newer row is read once the cursor has settled.
    env.insert(
        &t,
        &["id", "name", "updated_at"],
        vec![vec![
            Val::Int(31),
            Val::Text("new".into()),
            Val::Ts(t0() + TimeDelta::seconds(1)),
        ]],
    )
    .await;
    let (records, _, _) = scan(source.as_ref(), Some(cursor), 7).await;
    assert_eq!(ids(&records), ["31"]);
}

async fn case_integer_watermark(env: &Env) {
    let t = env.table("intwm");
    env.exec(&format!(
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(50), version BIGINT)"
    ))
    .await;
    let rows = (1..=5)
        .map(|i| {
            vec![
                Val::Int(i),
                Val::Text(format!("n{i}")),
                Val::Int(if i < 4 { 7 } else { i }),
            ]
        })
        .collect();
    env.insert(&t, &["id", "name", "version"], rows).await;
    let source =
        env.source(json!({"table": t, "watermark": {"column": "version", "kind": "integer"}}));
    let (records, cursor, _) = scan(source.as_ref(), None, 2).await;
    assert_eq!(ids(&records), ["4", "5", "1", "2", "3"]);
    assert_eq!(records[0].updated_at, None);
    let (none, cursor, _) = scan(source.as_ref(), Some(cursor), 2).await;
    assert!(none.is_empty(), "nothing new: {:?}", ids(&none));
    env.exec(&format!(
        "UPDATE {t} SET version = 8, name = 'changed' WHERE id = 2"
    ))
    .await;
    let (changed, _, _) = scan(source.as_ref(), Some(cursor), 2).await;
    assert_eq!(ids(&changed), ["2"]);
    assert_eq!(changed[0].fields["name"], json!("changed"));
}

async fn case_full_scan(env: &Env) {
    let t = env.table("full");
    env.exec(&format!(
        "CREATE TABLE {t} (code VARCHAR(20) PRIMARY KEY, name VARCHAR(50), deleted BOOLEAN)"
    ))
    .await;
    let rows = (1..=7)
        .map(|i| {
            vec![
                Val::Text(format!("C{i:02}")),
                Val::Text(format!("n{i}")),
                Val::Bool(i == 3),
            ]
        })
        .collect();
    env.insert(&t, &["code", "name", "deleted"], rows).await;
    let source = env.source(json!({"table": t, "id": "code", "columns": ["name"], "deleted_column": "deleted", "where": "name <> 'n7'"}));
    let (records, cursor, sizes) = scan(source.as_ref(), None, 3).await;
    assert_eq!(sizes, vec![3, 3]);
    assert_eq!(ids(&records), ["C01", "C02", "C03", "C04", "C05", "C06"]);
    assert!(records[2].deleted && !records[1].deleted);
    assert_eq!(
        records[0].fields.keys().collect::<Vec<_>>(),
        ["name", "code", "deleted"]
    );
    // A finished scan starts over.
    let (again, _, _) = scan(source.as_ref(), Some(cursor), 3).await;
    assert_eq!(again.len(), 6);
}

async fn case_decimals(env: &Env) {
    let t = env.table("money");
    env.exec(&format!("CREATE TABLE {t} (code VARCHAR(20) PRIMARY KEY, amount NUMERIC(12,2), rate NUMERIC(10,4), qty INTEGER, f DOUBLE PRECISION)")).await;
    let sink = env.sink(json!({"table": t}), "code");
    let res = sink
        .upsert(&[
            out(
                "A",
                json!({"code": "A", "amount": "1234.50", "rate": "0.1", "qty": "3", "f": 1.5}),
            ),
            out(
                "B",
                json!({"code": "B", "amount": "0.1", "rate": "0.1300", "qty": 4, "f": "2.25"}),
            ),
            out(
                "C",
                json!({"code": "C", "amount": "99999999.99", "rate": null, "qty": null, "f": null}),
            ),
        ])
        .await
        .expect("upsert");
    assert!(res.iter().all(Result::is_ok), "{res:?}");
    let source = env.source(json!({"table": t, "id": "code"}));
    let (records, _, _) = scan(source.as_ref(), None, 10).await;
    let dec = |r: &Record, f: &str| {
        Decimal::from_str(
            r.fields[f]
                .as_str()
                .unwrap_or_else(|| panic!("{f} is a string: {:?}", r.fields[f])),
        )
        .unwrap()
    };
    assert_eq!(records[0].fields["amount"], json!("1234.50"));
    assert_eq!(dec(&records[0], "rate"), Decimal::from_str("0.1").unwrap());
    assert_eq!(records[1].fields["amount"], json!("0.10"));
    assert_eq!(records[1].fields["rate"], json!("0.1300"));
    assert_eq!(records[2].fields["amount"], json!("99999999.99"));
    assert_eq!(records[2].fields["rate"], Value::Null);
    assert_eq!(records[0].fields["qty"], json!(3));
    assert_eq!(records[1].fields["f"], json!(2.25));
}

async fn case_upsert_and_bad_row(env: &Env) {
    let t = env.table("cust");
    env.exec(&format!("CREATE TABLE {t} (code VARCHAR(20) PRIMARY KEY, customer_name VARCHAR(100) NOT NULL, city VARCHAR(50), since DATE, seen {})", env.ts())).await;
    let sink = env.sink(
        json!({"table": t, "columns": {"name": "customer_name", "notes": null}}),
        "code",
    );
    let batch = [
        out(
            "C1",
            json!({"code": "C1", "name": "上海贸易有限公司", "city": "上海", "notes": "x", "since": "2020-02-29", "seen": "2024-05-01T12:00:00+02:00"}),
        ),
        out("C2", json!({"code": "C2", "name": "Beta", "city": null})),
    ];
    let res = sink.upsert(&batch).await.expect("upsert");
    let targets: Vec<String> = res
        .into_iter()
        .map(|r| r.expect("written").target_id)
        .collect();
    assert_eq!(targets, ["C1", "C2"]);
    let res = sink
        .upsert(&[out(
            "C1",
            json!({"code": "C1", "name": "上海贸易有限公司 (新)", "city": "北京"}),
        )])
        .await
        .unwrap();
    assert!(res[0].is_ok());
    assert_eq!(env.count(&t).await, 2, "updated, not duplicated");
    let source = env.source(json!({"table": t, "id": "code"}));
    let got = source
        .fetch(&["C1".into(), "nope".into(), "C2".into()])
        .await
        .unwrap();
    assert_eq!(
        got[0].fields["customer_name"],
        json!("上海贸易有限公司 (新)")
    );
    assert_eq!(got[0].fields["city"], json!("北京"));
    assert_eq!(
        got[0].fields["since"],
        json!("2020-02-29"),
        "untouched columns keep their value"
    );
    assert_eq!(got[0].fields["seen"], json!("2024-05-01T10:00:00Z"));
    assert!(got[1].deleted && got[1].fields.is_empty() && got[1].id == "nope");
    assert!(!got[2].deleted);

    // One bad row: refused alone, the others written.
    let res = sink
        .upsert(&[
            out("D1", json!({"code": "D1", "name": "ok 1"})),
            out("D2", json!({"code": "D2", "name": null})),
            out("D3", json!({"code": "D3", "name": "ok 3"})),
            out(
                "D4",
                json!({"code": "D4", "name": "bad date", "since": "tomorrow"}),
            ),
        ])
        .await
        .expect("upsert");
    assert!(res[0].is_ok() && res[2].is_ok(), "{res:?}");
    let e = res[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(
        e.message().contains("key `D2`") && e.message().contains(&t),
        "{e}"
    );
    let e = res[3].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("since"), "{e}");
    assert_eq!(env.count(&t).await, 4);

    // An unknown column stops the batch.
    let err = sink
        .upsert(&[out("E", json!({"code": "E", "name": "e", "colour": "red"}))])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal);
    assert!(
        err.message().contains("colour") && err.message().contains(&t),
        "{err}"
    );
}

async fn case_lines(env: &Env) {
    let orders = env.table("orders");
    let lines = env.table("order_lines");
    env.exec(&format!(
        "CREATE TABLE {orders} (id INTEGER PRIMARY KEY, number VARCHAR(20), updated_at {})",
        env.ts()
    ))
    .await;
    env.exec(&format!("CREATE TABLE {lines} (id INTEGER PRIMARY KEY, order_id INTEGER, pos INTEGER, sku VARCHAR(20), qty NUMERIC(10,3))")).await;
    env.insert(
        &orders,
        &["id", "number", "updated_at"],
        (1..=3)
            .map(|i| vec![Val::Int(i), Val::Text(format!("SO{i}")), Val::Ts(t0())])
            .collect(),
    )
    .await;
    env.insert(
        &lines,
        &["id", "order_id", "pos", "sku", "qty"],
        vec![
            vec![
                Val::Int(1),
                Val::Int(1),
                Val::Int(2),
                Val::Text("B".into()),
                Val::Dec(Decimal::from_str("1.5").unwrap()),
            ],
            vec![
                Val::Int(2),
                Val::Int(1),
                Val::Int(1),
                Val::Text("A".into()),
                Val::Dec(Decimal::from_str("2").unwrap()),
            ],
            vec![
                Val::Int(3),
                Val::Int(3),
                Val::Int(1),
                Val::Text("C".into()),
                Val::Dec(Decimal::from_str("0.25").unwrap()),
            ],
        ],
    )
    .await;
    let source = env.source(
        json!({"table": orders, "watermark": {"column": "updated_at"},
        "lines": {"table": lines, "parent_column": "order_id", "order_by": "pos"}}),
    );
    let (records, _, _) = scan(source.as_ref(), None, 2).await;
    let skus = |r: &Record| {
        r.fields["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["sku"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(skus(&records[0]), ["A", "B"]);
    assert_eq!(records[0].fields["lines"][1]["qty"], json!("1.500"));
    assert!(skus(&records[1]).is_empty());
    assert_eq!(skus(&records[2]), ["C"]);
    let fetched = source.fetch(&["3".into()]).await.unwrap();
    assert_eq!(skus(&fetched[0]), ["C"]);

    // Writing: the parent upserted, its lines replaced, line_no added.
    let t_orders = env.table("so_out");
    let t_lines = env.table("so_lines_out");
    env.exec(&format!(
        "CREATE TABLE {t_orders} (number VARCHAR(20) PRIMARY KEY, customer VARCHAR(50))"
    ))
    .await;
    env.exec(&format!("CREATE TABLE {t_lines} (order_number VARCHAR(20) NOT NULL, line_no INTEGER, item VARCHAR(20), qty NUMERIC(10,2))")).await;
    let sink = env.sink(json!({"table": t_orders, "lines": {"table": t_lines, "parent_column": "order_number", "columns": {"sku": "item"}}}), "number");
    let order =
        |n: &str, lines: Value| out(n, json!({"number": n, "customer": "客户", "lines": lines}));
    let res = sink
        .upsert(&[
            order(
                "SO1",
                json!([{"sku": "A", "qty": "1.50"}, {"sku": "B", "qty": "2"}]),
            ),
            order("SO2", json!([{"sku": "Z", "qty": "9"}])),
        ])
        .await
        .unwrap();
    assert!(res.iter().all(Result::is_ok), "{res:?}");
    let res = sink
        .upsert(&[order("SO1", json!([{"sku": "C", "qty": "0.1"}]))])
        .await
        .unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    assert_eq!(env.count(&t_orders).await, 2);
    assert_eq!(env.count(&t_lines).await, 2);
    let read = env.source(json!({"table": t_orders, "id": "number", "lines": {"table": t_lines, "parent_column": "order_number", "order_by": "line_no", "id": "line_no"}}));
    let got = read.fetch(&["SO1".into()]).await.unwrap();
    assert_eq!(got[0].fields["customer"], json!("客户"));
    assert_eq!(
        got[0].fields["lines"],
        json!([{"order_number": "SO1", "line_no": 1, "item": "C", "qty": "0.10"}])
    );
}

async fn case_create_table_and_discover(env: &Env) {
    let t = env.table("created");
    let sink = env.sink(
        json!({"table": t, "create_table": true, "columns": {"code": "customer_code"}}),
        "code",
    );
    let res = sink
        .upsert(&[out(
            "K1",
            json!({"code": "K1", "name": "名字", "total": "12.30"}),
        )])
        .await
        .unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    let res = sink
        .upsert(&[out(
            "K1",
            json!({"code": "K1", "name": "改名", "total": "12.30"}),
        )])
        .await
        .unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    assert_eq!(env.count(&t).await, 1);
    let objects = env.conn.discover().await.unwrap();
    let table = objects
        .iter()
        .find(|o| o.name == t)
        .unwrap_or_else(|| panic!("{t} discovered"));
    let names: Vec<&str> = table.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["customer_code", "name", "total"]);
    assert!(!table.fields[0].nullable && table.fields[1].nullable);
    let source = env.source(json!({"table": t, "id": "customer_code"}));
    let got = source.fetch(&["K1".into()]).await.unwrap();
    assert_eq!(got[0].fields["name"], json!("改名"));
    assert_eq!(got[0].fields["total"], json!("12.30"));
}

async fn case_missing_table(env: &Env) {
    let source =
        env.source(json!({"table": "ferry_no_such_table", "watermark": {"column": "updated_at"}}));
    let err = source.read(None, 10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(err.message().contains("ferry_no_such_table"), "{err}");
}

async fn case_delete_update_and_scan(env: &Env) {
    let t = env.table("accounts");
    let lines = env.table("account_lines");
    env.exec(&format!(
        "CREATE TABLE {t} (customer_code VARCHAR(20) PRIMARY KEY, name VARCHAR(50), active INTEGER, credit NUMERIC(10,2), notes VARCHAR(50))"
    ))
    .await;
    env.exec(&format!(
        "CREATE TABLE {lines} (parent VARCHAR(20) NOT NULL, line_no INTEGER, sku VARCHAR(20))"
    ))
    .await;
    let sink = env.sink(
        json!({"table": t, "columns": {"code": "customer_code", "notes": null},
               "lines": {"table": lines, "parent_column": "parent"}}),
        "code",
    );
    assert_eq!(
        sink.capabilities(),
        ferry_kit::SinkCapabilities {
            delete: true,
            update: true,
            scan: true,
            ..ferry_kit::SinkCapabilities::default()
        }
    );
    let batch: Vec<Outgoing> = (1..=5)
        .map(|i| {
            out(
                &format!("K{i}"),
                json!({"code": format!("K{i}"), "name": format!("n{i}"), "active": true,
                       "credit": "10.50", "lines": [{"sku": "A"}]}),
            )
        })
        .collect();
    let res = sink.upsert(&batch).await.unwrap();
    assert!(res.iter().all(Result::is_ok), "{res:?}");

    // Delete by target id and by key; a key already gone counts as deleted; lines go too.
    let res = sink
        .delete(&[
            ferry_kit::Removal {
                key: "ignored".into(),
                target_id: Some("K2".into()),
            },
            ferry_kit::Removal {
                key: "K3".into(),
                target_id: None,
            },
            ferry_kit::Removal {
                key: "K99".into(),
                target_id: None,
            },
        ])
        .await
        .unwrap();
    assert!(res.iter().all(Result::is_ok), "{res:?}");
    assert_eq!(env.count(&t).await, 3);
    assert_eq!(env.count(&lines).await, 3);

    // Update writes only the given fields of existing rows and never creates one.
    let res = sink
        .update(&[
            out("K4", json!({"active": false})),
            out("K98", json!({"active": false})),
        ])
        .await
        .unwrap();
    assert!(res.iter().all(Result::is_ok), "{res:?}");
    assert_eq!(res[0].as_ref().unwrap().target_id, "K4");
    assert_eq!(env.count(&t).await, 3);
    let res = sink
        .update(&[out("K4", json!({"active": "maybe"}))])
        .await
        .unwrap();
    assert!(
        res[0]
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Validation),
        "{res:?}"
    );

    // Scanning reads the table back in canonical names (the rename reversed, the skipped
    // field's column not a field), in key order, page by page.
    let mut cursor: Option<String> = None;
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let page = sink.scan(cursor.as_deref(), 2).await.unwrap();
        pages += 1;
        assert_eq!(page.fields, ["code", "name", "active", "credit"]);
        got.extend(page.records);
        if !page.more {
            break;
        }
        cursor = Some(page.cursor);
    }
    assert_eq!(pages, 2);
    let keys: Vec<&str> = got.iter().map(|r| r.target_id.as_str()).collect();
    assert_eq!(keys, ["K1", "K4", "K5"]);
    assert_eq!(got[1].key.as_deref(), Some("K4"));
    assert_eq!(got[1].fields["code"], json!("K4"));
    assert_eq!(got[1].fields["name"], json!("n4"));
    assert_eq!(got[1].fields["active"], json!(0));
    assert_eq!(got[1].fields["credit"], json!("10.50"));
    assert!(!got[1].fields.contains_key("notes"));
}

macro_rules! on_all_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $case() { super::run(super::Kind::Sqlite, |e| Box::pin(async move { super::$case(e).await })).await; } )* }
        mod postgres { $( #[tokio::test] async fn $case() { super::run(super::Kind::Postgres, |e| Box::pin(async move { super::$case(e).await })).await; } )* }
        mod mysql { $( #[tokio::test] async fn $case() { super::run(super::Kind::MySql, |e| Box::pin(async move { super::$case(e).await })).await; } )* }
    };
}

type Case = for<'a> fn(&'a Env) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

async fn run(kind: Kind, case: Case) {
    let Some(env) = env(kind).await else { return };
    case(&env).await;
    env.cleanup().await;
}

on_all_backends!(
    case_keyset_ties,
    case_overlap,
    case_overlap_settles,
    case_integer_watermark,
    case_full_scan,
    case_decimals,
    case_upsert_and_bad_row,
    case_lines,
    case_create_table_and_discover,
    case_missing_table,
    case_delete_update_and_scan,
    case_probe_source,
    case_probe_sink,
);

/// Where each problem of a probe points, and its message.
fn probed(probe: &ferry_kit::Probe) -> Vec<(String, String)> {
    probe
        .issues
        .iter()
        .map(|i| {
            let at = match &i.at {
                ferry_kit::ProbeAt::Option(path) => path.join("."),
                ferry_kit::ProbeAt::Mapped(field) => format!("mapping.{field}"),
            };
            (at, i.message.clone())
        })
        .collect()
}

/// `ferry check --live` on a source: a table or column that is not there is named where the
/// config names it, with the near miss; a good source lists the fields its records carry.
async fn case_probe_source(env: &Env) {
    let t = env.table("probe_src");
    env.exec(&format!(
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, customer_name TEXT, updated_at {})",
        env.ts()
    ))
    .await;
    let good = env.source(json!({"table": t, "watermark": {"column": "updated_at"}}));
    let probe = good.probe().await;
    assert!(probe.is_ok(), "{:?}", probe.issues);
    let fields = probe.fields.expect("a table's columns are known").names;
    assert_eq!(fields, ["id", "customer_name", "updated_at"]);

    let typo = format!("{t}x");
    let probe = env.source(json!({"table": typo})).probe().await;
    let found = probed(&probe);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "table");
    assert!(
        found[0].1.contains(&format!("table `{typo}` not found"))
            && found[0].1.contains(&format!("did you mean `{t}`?")),
        "{found:?}"
    );

    let source = env.source(json!({"table": t, "watermark": {"column": "updated"},
        "columns": ["customer_nam"], "where": "no_such_column = 1"}));
    let found = probed(&source.probe().await);
    assert_eq!(
        found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["watermark.column", "columns"],
        "{found:?}"
    );
    assert!(
        found[0]
            .1
            .contains("no column `updated` (did you mean `updated_at`?)")
    );
    assert!(
        found[1]
            .1
            .contains("no column `customer_nam` (did you mean `customer_name`?)")
    );

    let bad_where = env.source(json!({"table": t, "where": "no_such_column = 1"}));
    let found = probed(&bad_where.probe().await);
    assert!(
        found.len() == 1 && found[0].0 == "where" && found[0].1.contains("no_such_column"),
        "{found:?}"
    );
}

/// `ferry check --live` on a target: the key column and the column of each mapped field,
/// pointed at the mapping rule (or the `columns:` entry that renames it); a missing table is
/// fine when `create_table` will make it.
async fn case_probe_sink(env: &Env) {
    let t = env.table("probe_sink");
    env.exec(&format!(
        "CREATE TABLE {t} (code VARCHAR(20) PRIMARY KEY, name TEXT, mail TEXT)"
    ))
    .await;
    let sink = |options: Value, fields: &[&str]| {
        env.conn
            .sink(
                &obj(options),
                &SinkContext {
                    entity: Entity::CUSTOMER,
                    key_field: "code".to_owned(),
                    fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                },
            )
            .expect("valid target options")
    };
    let good = sink(
        json!({"table": t, "columns": {"email": "mail"}}),
        &["code", "name", "email"],
    );
    let probe = good.probe().await;
    assert!(probe.is_ok(), "{:?}", probe.issues);

    let bad = sink(
        json!({"table": t, "columns": {"phone": "fone"}}),
        &["code", "nme", "email", "phone"],
    );
    let found = probed(&bad.probe().await);
    let at: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        at,
        ["mapping.nme", "mapping.email", "columns.phone"],
        "{found:?}"
    );
    assert!(
        found[0]
            .1
            .contains("no column `nme` (did you mean `name`?)"),
        "{found:?}"
    );
    assert!(
        found[1]
            .1
            .contains("no column `email` (did you mean `mail`?)"),
        "{found:?}"
    );
    assert!(
        found[2].1.contains("no column `fone` for field `phone`"),
        "{found:?}"
    );

    let key = sink(json!({"table": t, "key_column": "kode"}), &["code"]);
    let found = probed(&key.probe().await);
    assert!(
        found.len() == 1 && found[0].0 == "key_column" && found[0].1.contains("`kode` for the key"),
        "{found:?}"
    );

    let missing = format!("{t}_new");
    let made_later = sink(json!({"table": missing, "create_table": true}), &["code"]);
    assert!(made_later.probe().await.is_ok());
    let found = probed(&sink(json!({"table": missing}), &["code"]).probe().await);
    assert!(
        found.len() == 1 && found[0].1.contains("set `create_table: true`"),
        "{found:?}"
    );
}

/// A live check opens a SQLite file read-only: a file that does not exist is reported, not
/// created, and the connection itself is no problem (a run would create the file).
#[tokio::test]
async fn probing_sqlite_never_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let conn =
        SqlConnector::from_settings(&ctx(dir.path()), &obj(json!({"url": "sqlite://later.db"})))
            .unwrap();
    conn.probe()
        .await
        .expect("nothing to connect to yet is fine");
    let source = conn.source(&obj(json!({"table": "customers"}))).unwrap();
    let found = probed(&source.probe().await);
    assert!(
        found.len() == 1 && found[0].1.contains("later.db does not exist"),
        "{found:?}"
    );
    assert!(
        !dir.path().join("later.db").exists(),
        "the probe created the file"
    );
}

/// PostgreSQL writes a batch as one array per column (`UNNEST`): every column class travels
/// that way, NULLs included, types bound as text are cast (uuid, an enum), and a key seen twice
/// in one batch goes in a second statement, so the later record wins.
#[tokio::test]
async fn postgres_writes_every_column_class_through_arrays() {
    let Some(env) = env(Kind::Postgres).await else {
        return;
    };
    let t = env.table("classes");
    let mood = format!("{t}_mood");
    env.exec(&format!("CREATE TYPE {mood} AS ENUM ('calm', 'busy')"))
        .await;
    env.exec(&format!(
        "CREATE TABLE {t} (code TEXT PRIMARY KEY, n INTEGER, big BIGINT, f DOUBLE PRECISION, \
         amount NUMERIC(12,2), ok BOOLEAN, day DATE, at_time TIME, local TIMESTAMP, \
         seen TIMESTAMPTZ, doc JSONB, raw_doc JSON, bin BYTEA, ref UUID, mood {mood})"
    ))
    .await;
    let sink = env.sink(json!({"table": t}), "code");
    let full = json!({"code": "A", "n": 7, "big": "9007199254740993", "f": 2.5,
        "amount": "1234.5", "ok": "yes", "day": "2026-02-28", "at_time": "13:45:00",
        "local": "2026-03-01 08:00:00", "seen": "2026-03-01T08:00:00+08:00",
        "doc": {"k": [1, "二"]}, "raw_doc": {"x": 1}, "bin": "00ff10",
        "ref": "6f1c2a4e-9d1b-4c55-8a2e-0b7d7c1e2f30", "mood": "busy"});
    let nulls = json!({"code": "B", "n": null, "big": null, "f": null, "amount": null,
        "ok": null, "day": null, "at_time": null, "local": null, "seen": null, "doc": null,
        "raw_doc": null, "bin": null, "ref": null, "mood": null});
    let mut again = full.clone();
    again["n"] = json!(8);
    let res = sink
        .upsert(&[out("A", full), out("B", nulls), out("A", again)])
        .await
        .expect("upsert");
    assert!(res.iter().all(Result::is_ok), "{res:?}");
    assert_eq!(env.count(&t).await, 2);

    let rows = env
        .conn
        .db
        .query(
            &format!(
                "SELECT n, big::text, f, amount::text, ok, day::text, at_time::text, local::text, \
                 seen AT TIME ZONE 'UTC', doc::text, raw_doc::text, encode(bin, 'hex'), ref::text, \
                 mood::text FROM {t} ORDER BY code"
            ),
            Vec::new(),
        )
        .await
        .expect("read back");
    let text = |row: usize, col: usize| rows[row].values[col].to_id_string();
    assert_eq!(
        rows[0].values[0],
        Val::Int(8),
        "the later record of key A wins"
    );
    assert_eq!(text(0, 1), "9007199254740993");
    assert_eq!(rows[0].values[2], Val::Float(2.5));
    assert_eq!(text(0, 3), "1234.50");
    assert_eq!(rows[0].values[4], Val::Bool(true));
    assert_eq!(text(0, 5), "2026-02-28");
    assert_eq!(text(0, 6), "13:45:00");
    assert_eq!(text(0, 7), "2026-03-01 08:00:00");
    assert_eq!(text(0, 8), "2026-03-01T00:00:00Z");
    assert_eq!(text(0, 9), r#"{"k": [1, "二"]}"#);
    assert_eq!(text(0, 10), r#"{"x": 1}"#, "bound as jsonb, stored as json");
    assert_eq!(text(0, 11), "00ff10");
    assert_eq!(text(0, 12), "6f1c2a4e-9d1b-4c55-8a2e-0b7d7c1e2f30");
    assert_eq!(text(0, 13), "busy");
    assert!(
        rows[1].values.iter().all(Val::is_null),
        "every column of B is NULL: {:?}",
        rows[1].values
    );

    // A value the enum does not know is that record's error; the others are written.
    let res = sink
        .upsert(&[
            out("C", json!({"code": "C", "mood": "calm"})),
            out("D", json!({"code": "D", "mood": "sleepy"})),
        ])
        .await
        .expect("upsert");
    assert!(res[0].is_ok(), "{res:?}");
    let e = res[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("key `D`"), "{e}");
    assert_eq!(env.count(&t).await, 3);

    // A row Ferry did not write (no target id for it) is still replaced, not refused: the
    // insert meant for a new record falls back to the upsert.
    env.exec(&format!("INSERT INTO {t} (code, n) VALUES ('E', 1)"))
        .await;
    let res = sink
        .upsert(&[
            out("E", json!({"code": "E", "n": 2})),
            out("F", json!({"code": "F", "n": 3})),
        ])
        .await
        .expect("upsert");
    assert!(res.iter().all(Result::is_ok), "{res:?}");
    let rows = env
        .conn
        .db
        .query(
            &format!("SELECT code, n FROM {t} WHERE code IN ('E', 'F') ORDER BY code"),
            Vec::new(),
        )
        .await
        .expect("read back");
    let got: Vec<(String, Val)> = rows
        .iter()
        .map(|r| (r.values[0].to_id_string(), r.values[1].clone()))
        .collect();
    assert_eq!(
        got,
        [("E".to_owned(), Val::Int(2)), ("F".to_owned(), Val::Int(3))]
    );
    env.exec(&format!("DROP TABLE {t}")).await;
    env.exec(&format!("DROP TYPE {mood}")).await;
    env.cleanup().await;
}

// --- Without a database ---------------------------------------------------------------------

#[tokio::test]
async fn closed_port_is_retryable() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "postgres://u:s3cret@127.0.0.1:1/db",
        "mysql://u:s3cret@127.0.0.1:1/db",
    ] {
        let conn = SqlConnector::from_settings(
            &ctx(dir.path()),
            &obj(json!({"url": url, "connect_timeout": "2s"})),
        )
        .unwrap();
        let source = conn.source(&obj(json!({"table": "t"}))).unwrap();
        let err = source.read(None, 10).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Retryable, "{url}: {err}");
        assert!(!err.message().contains("s3cret"), "{err}");
        assert!(err.message().contains("u:****@127.0.0.1:1"), "{err}");
    }
}

#[test]
fn settings_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = super::SqlFactory;
    let issues = |v: Value| f.build(&ctx(dir.path()), &obj(v)).map(|_| ()).unwrap_err();
    let paths = |v: Value| issues(v).iter().map(|i| i.dotted()).collect::<Vec<_>>();
    assert_eq!(paths(json!({})), ["url"]);
    assert_eq!(paths(json!({"url": "oracle://x"})), ["url"]);
    assert_eq!(
        paths(json!({"url": "sqlite://a.db", "max_connection": 3})),
        ["max_connection"]
    );
    assert_eq!(
        paths(json!({"url": "sqlite://a.db", "max_connections": "many"})),
        ["max_connections"]
    );
    assert_eq!(
        paths(json!({"url": "sqlite://a.db", "max_connections": 0})),
        ["max_connections"]
    );
    let secret = issues(json!({"url": "ftp://me:hunter2@x/db"}));
    assert!(!secret[0].message.contains("hunter2"), "{secret:?}");

    let conn = SqlConnector::from_settings(&ctx(dir.path()), &obj(json!({"url": "sqlite://a.db"})))
        .unwrap();
    assert!(!dir.path().join("a.db").exists(), "build does no I/O");
    let source_paths = |v: Value| {
        conn.source(&obj(v))
            .map(|_| ())
            .unwrap_err()
            .iter()
            .map(|i| i.dotted())
            .collect::<Vec<_>>()
    };
    assert_eq!(source_paths(json!({"id": "x"})), ["table"]);
    assert_eq!(
        source_paths(json!({"table": "t", "watermark": {"column": "u", "overlap": "soon"}})),
        ["watermark.overlap"]
    );
    assert_eq!(
        source_paths(json!({"table": "t", "watermark": {"colum": "u"}})),
        ["watermark.colum"]
    );
    assert_eq!(
        source_paths(json!({"table": "t", "watermark": {"column": "u", "kind": "date"}})),
        ["watermark.kind"]
    );
    assert_eq!(
        source_paths(json!({"table": "t", "watermark": {"column": ""}})),
        ["watermark.column"]
    );
    assert_eq!(
        source_paths(json!({"table": "t", "lines": {"table": "l"}})),
        ["lines.parent_column"]
    );
    let ctx_ = SinkContext {
        entity: Entity::CUSTOMER,
        key_field: "code".into(),
        fields: Vec::new(),
    };
    let target_paths = |v: Value| {
        conn.sink(&obj(v), &ctx_)
            .map(|_| ())
            .unwrap_err()
            .iter()
            .map(|i| i.dotted())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        target_paths(json!({"table": "t", "create_table": "yes"})),
        ["create_table"]
    );
    assert_eq!(
        target_paths(json!({"table": "t", "columns": {"name": ""}})),
        ["columns.name"]
    );
    assert_eq!(target_paths(json!({"tabel": "t"})), ["tabel"]);
}

#[test]
fn schemas_and_masking() {
    let s = super::SqlFactory.schemas();
    assert!(s.system.as_value().to_string().contains("max_connections"));
    assert!(s.source.as_value().to_string().contains("watermark"));
    assert!(s.target.as_value().to_string().contains("create_table"));
    assert_eq!(
        super::config::mask_url("postgres://u:p%40ss@h:5432/db?sslmode=require"),
        "postgres://u:****@h:5432/db?sslmode=require"
    );
    assert_eq!(
        super::config::mask_url("mysql://root@h/db"),
        "mysql://root@h/db"
    );
}

#[test]
fn text_watermarks_keep_their_layout() {
    let back = |s: &str| match Val::Text(s.into()).minus(TimeDelta::seconds(5)).unwrap() {
        Val::Text(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(back("2024-05-01 10:00:00"), "2024-05-01 09:59:55");
    assert_eq!(back("2024-05-01T10:00:00.250Z"), "2024-05-01T09:59:55.250Z");
    assert_eq!(
        back("2024-05-01T10:00:03+00:00"),
        "2024-05-01T09:59:58+00:00"
    );
    assert_eq!(
        Val::Int(1_714_557_600).minus(TimeDelta::seconds(5)),
        Some(Val::Int(1_714_557_595))
    );
    assert_eq!(
        Val::Int(1_714_557_600_000).minus(TimeDelta::seconds(5)),
        Some(Val::Int(1_714_557_595_000))
    );
}
