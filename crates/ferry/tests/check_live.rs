//! `ferry check --live`: the configuration checked against the systems themselves, through the
//! binary. Every problem is printed (`file:line:col: key.path: message`), the exit code is 1,
//! and no password shows. PostgreSQL and MariaDB are the development machine's servers
//! (`FERRY_TEST_PG_URL` / `FERRY_TEST_MYSQL_URL`), SQLite and folders are made here; Tryton
//! and BottleCRM are the peers `scripts/peers/` starts. An absent server skips its test
//! visibly, or fails it with `CI=true`.

mod common;

use std::path::Path;

use common::*;
use sqlx::Connection;

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn mysql_url() -> String {
    std::env::var("FERRY_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// `url` with the user's password set to `password` (a server that trusts local connections
/// ignores it; one that checks it refuses it).
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, host) = rest.split_once('@').expect("a user in the URL");
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    format!("{scheme}://{user}:{password}@{host}")
}

/// `url` naming database `db` instead of its own.
fn with_database(url: &str, db: &str) -> String {
    format!(
        "{}/{db}",
        url.rsplit_once('/').expect("a database in the URL").0
    )
}

/// The 1-based number of the line of `text` holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line holds {needle:?}"))
        + 1
}

/// Runs `ferry check [--live] ferry.yaml` in `dir`: (success, stdout, stderr).
fn check(dir: &Path, live: bool, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = ferry();
    cmd.current_dir(dir).arg("check");
    if live {
        cmd.arg("--live");
    }
    let out = cmd
        .arg("ferry.yaml")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The one problem line naming `key` (a dotted key path followed by `: `).
fn problem<'a>(stderr: &'a str, key: &str) -> &'a str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(&format!(" {key}: ")))
        .collect();
    assert_eq!(lines.len(), 1, "one problem at {key} in:\n{stderr}");
    lines[0]
}

/// A PostgreSQL table of this test's own, dropped when the test ends.
struct PgTable {
    conn: sqlx::PgConnection,
    name: String,
}

impl PgTable {
    async fn create(columns: &str) -> Option<Self> {
        let conn = sqlx::PgConnection::connect(&pg_url()).await;
        if !require_server("PostgreSQL", conn.is_ok()) {
            return None;
        }
        let mut conn = conn.unwrap();
        let name = format!("ferry_live_{}", std::process::id());
        let sql = format!("DROP TABLE IF EXISTS {name}; CREATE TABLE {name} ({columns})");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        Some(Self { conn, name })
    }

    async fn drop_it(mut self) {
        let sql = format!("DROP TABLE IF EXISTS {}", self.name);
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await;
    }
}

const PROBLEMS: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  pg:
    kind: sql
    url: "PG_URL"
  pg_gone:
    kind: sql
    url: "PG_GONE_URL"
  inbox: { kind: files, dir: ./inbox }
flows:
  customers:
    entity: customer
    source:
      system: crm
      table: custmers
    target:
      system: pg
      table: PG_TABLE
    mapping:
      code: customer_no
      name: name
      email: email
  orders:
    entity: customer
    source: { system: crm, table: customers, watermark: { column: updated } }
    target: { system: pg_gone, table: anything }
    mapping:
      code: customer_no
  imports:
    entity: customer
    source: { system: inbox, pattern: "*.csv", id: code }
    target: { system: pg, table: PG_TABLE }
    mapping:
      code: code
"#;

/// A missing table, a missing column (in the source and in a PostgreSQL target), a database
/// that does not exist and a missing folder: all reported in one run, each at its line and
/// key, with the near miss, and the password of no URL in sight.
#[tokio::test(flavor = "multi_thread")]
async fn every_live_problem_is_named_at_its_line_and_no_password_shows() {
    let Some(table) = PgTable::create("code TEXT PRIMARY KEY, name TEXT, mail TEXT").await else {
        return;
    };
    let tmp = scratch();
    let dir = tmp.path();
    customer_tables(dir, &[(1, "C1", "Ada", "ada@example.com")]).await;
    let secret = "pg-Secret-0f9a";
    let gone = with_database(&with_password(&pg_url(), secret), "ferry_live_no_such_db");
    let config = PROBLEMS
        .replace("PG_URL", &with_password(&pg_url(), secret))
        .replace("PG_GONE_URL", &gone)
        .replace("PG_TABLE", &table.name);
    std::fs::write(dir.join("ferry.yaml"), &config).unwrap();

    let (offline_ok, _, offline_err) = check(dir, false, &[]);
    assert!(offline_ok, "the offline check passes: {offline_err}");
    let (ok, out, err) = check(dir, true, &[]);
    let table_name = table.name.clone();
    table.drop_it().await;
    assert!(!ok, "exit 1 expected:\n{out}\n{err}");
    assert!(!format!("{out}{err}").contains(secret), "{err}");

    let gone_line = problem(&err, "systems.pg_gone");
    assert!(
        gone_line.starts_with(&format!("ferry.yaml:{}:", line_of(&config, "pg_gone:")))
            && gone_line.contains("database \"ferry_live_no_such_db\" does not exist"),
        "{gone_line}"
    );
    let missing = problem(&err, "flows.customers.source.table");
    assert!(
        missing.starts_with(&format!(
            "ferry.yaml:{}:",
            line_of(&config, "table: custmers")
        )) && missing.contains("table `custmers` not found")
            && missing.contains("did you mean `customers`?"),
        "{missing}"
    );
    let column = problem(&err, "flows.customers.mapping.email");
    assert!(
        column.starts_with(&format!("ferry.yaml:{}:", line_of(&config, "email: email")))
            && column.contains(&format!("table `{table_name}` has no column `email`"))
            && column.contains("did you mean `mail`?"),
        "{column}"
    );
    let watermark = problem(&err, "flows.orders.source.watermark.column");
    assert!(
        watermark.contains("has no column `updated` (did you mean `updated_at`?)"),
        "{watermark}"
    );
    let folder = problem(&err, "flows.imports.source");
    assert!(folder.contains("inbox does not exist"), "{folder}");
    assert_eq!(err.lines().count(), 5, "only these five problems:\n{err}");
    assert!(
        !dir.join("inbox").exists(),
        "the check made the source's folder"
    );
}

/// Credentials MariaDB refuses are named at the system, with the password masked, whether it
/// was written in the URL or came from the environment.
#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_are_named_at_the_system_without_the_password() {
    let reachable = sqlx::MySqlConnection::connect(&mysql_url()).await.is_ok();
    if !require_server("MariaDB", reachable) {
        return;
    }
    let tmp = scratch();
    let dir = tmp.path();
    customer_tables(dir, &[]).await;
    let literal = "Literal-pw-77";
    let from_env = "Env-pw-secret-88";
    let config = format!(
        "systems:\n  crm: {{ kind: sql, url: \"sqlite://crm.db\" }}\n  shop:\n    kind: sql\n    \
         url: \"{}\"\n  shop_env:\n    kind: sql\n    url: \"{}\"\nflows:\n  customers:\n    \
         entity: customer\n    source: {{ system: crm, table: customers }}\n    \
         target: {{ system: shop, table: t }}\n    mapping:\n      code: customer_no\n",
        with_password(&mysql_url(), literal),
        with_password(&mysql_url(), "${FERRY_LIVE_TEST_PASSWORD}"),
    );
    std::fs::write(dir.join("ferry.yaml"), &config).unwrap();
    let (ok, out, err) = check(dir, true, &[("FERRY_LIVE_TEST_PASSWORD", from_env)]);
    assert!(!ok, "exit 1 expected:\n{out}\n{err}");
    for (key, line) in [("shop", "  shop:"), ("shop_env", "  shop_env:")] {
        let refused = problem(&err, &format!("systems.{key}"));
        assert!(
            refused.starts_with(&format!("ferry.yaml:{}:", line_of(&config, line)))
                && refused.contains("the credentials were refused")
                && refused.contains("Access denied"),
            "{refused}"
        );
    }
    assert!(
        !err.contains(literal) && !err.contains(from_env),
        "a password shows:\n{err}"
    );
    // The target of a system that cannot be reached is not probed on top.
    assert_eq!(err.lines().count(), 2, "{err}");
}

/// A configuration whose tables, columns and folders all exist passes, and the check writes
/// nothing: the SQLite files keep their bytes, no store or cursor is made. (A reader of a
/// database in WAL mode, as these are, leaves its empty `-wal` and `-shm` companions; that
/// is all that may appear.)
#[tokio::test(flavor = "multi_thread")]
async fn a_good_configuration_passes_and_changes_nothing() {
    let tmp = scratch();
    let dir = tmp.path();
    let tables = [
        (
            "crm.db",
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT, \
            name TEXT, email TEXT, updated_at TEXT); \
            INSERT INTO customers VALUES (1, 'C1', 'Ada', 'a@x', '2026-01-01 00:00:00')",
        ),
        (
            "erp.db",
            "CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT, email TEXT)",
        ),
    ];
    for (file, sql) in tables {
        let mut db = sqlite(&dir.join(file)).await;
        sqlx::raw_sql(sql).execute(&mut db).await.unwrap();
        // Closed, so the write-ahead log is folded in and removed before the check runs.
        db.close().await.unwrap();
    }
    std::fs::create_dir(dir.join("inbox")).unwrap();
    std::fs::write(dir.join("inbox/c.csv"), "code,name\nC9,Zed\n").unwrap();
    let config = "systems:\n  crm: { kind: sql, url: \"sqlite://crm.db\" }\n  \
        erp: { kind: sql, url: \"sqlite://erp.db\" }\n  inbox: { kind: files, dir: ./inbox }\n\
        flows:\n  customers:\n    entity: customer\n    \
        source: { system: crm, table: customers, watermark: { column: updated_at } }\n    \
        target: { system: erp, table: erp_customers }\n    mapping:\n      \
        code: customer_no\n      name: name\n      email: email\n  imports:\n    \
        entity: customer\n    source: { system: inbox, pattern: \"*.csv\", id: code }\n    \
        target: { system: erp, table: erp_customers }\n    mapping:\n      code: code\n      \
        name: name\n";
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let before = listing(dir);
    let (ok, out, err) = check(dir, true, &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("OK, live (3 systems reached, 2 flows probed)"),
        "{out}"
    );
    let after: Vec<_> = listing(dir)
        .into_iter()
        .filter(|(name, _)| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect();
    assert_eq!(after, before, "the check changed the folder");
}

/// Every file under `dir` with a digest of its bytes, sorted.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(listing(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            let digest = bytes.iter().fold(0u64, |h, b| {
                h.wrapping_mul(0x100_0000_01b3).wrapping_add(u64::from(*b))
            });
            out.push((path.display().to_string(), digest));
        }
    }
    out.sort();
    out
}

/// With an offline problem, `--live` stops there: no system is contacted (the unreachable
/// database would otherwise be reported too).
#[test]
fn offline_problems_stop_the_live_check() {
    let tmp = scratch();
    let dir = tmp.path();
    let config = "systems:\n  a: { kind: sql, url: \"postgres://u:pw-Hidden-1@127.0.0.1:1/x\" }\n\
        flows:\n  f:\n    entity: customer\n    source: { system: a, table: t }\n    \
        target: { system: a, table: u }\n    trigerr: manual\n    mapping: { code: id }\n";
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let (ok, _, err) = check(dir, true, &[]);
    assert!(!ok);
    assert!(err.contains("trigerr"), "{err}");
    assert!(!err.contains("systems.a"), "a system was contacted:\n{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The real CRM and ERP: the peers' configuration passes, and a model field and a CRM field
/// that do not exist are named at their lines.
#[test]
fn the_peers_fields_are_checked_against_tryton_and_bottlecrm() {
    let (Some(erp), Some(crm)) = (peer("tryton"), peer("crm")) else {
        return;
    };
    let tmp = scratch();
    let dir = tmp.path();
    let config = "systems:\n  crm:\n    kind: bottlecrm\n    url: ${CRM_URL}\n    \
        token: ${CRM_PAT}\n  erp:\n    kind: tryton\n    url: ${TRYTON_URL}\n    \
        database: ${TRYTON_DB}\n    user: ${TRYTON_USER}\n    password: ${TRYTON_PASSWORD}\n\
        flows:\n  parties:\n    entity: customer\n    source:\n      system: erp\n      \
        model: party.party\n      fields: [name, cod]\n    target: { system: crm, object: accounts }\n    \
        mapping:\n      code: cod\n      name: name\n";
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let env: Vec<(&str, &str)> = erp
        .iter()
        .chain(crm.iter())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (ok, out, err) = check(dir, true, &env);
    assert!(!ok, "{out}\n{err}");
    let field = problem(&err, "flows.parties.source.fields");
    assert!(
        field.starts_with(&format!(
            "ferry.yaml:{}:",
            line_of(config, "fields: [name, cod]")
        )) && field.contains("model `party.party` has no field `cod` (did you mean `code`?)"),
        "{field}"
    );
    let password = erp.get("TRYTON_PASSWORD").map_or("", String::as_str);
    assert!(password.len() < 4 || !err.contains(password), "{err}");

    std::fs::write(
        dir.join("ferry.yaml"),
        config
            .replace("[name, cod]", "[name, code]")
            .replace("code: cod\n", "code: code\n"),
    )
    .unwrap();
    let (ok, out, err) = check(dir, true, &env);
    assert!(ok, "{out}\n{err}");
}
