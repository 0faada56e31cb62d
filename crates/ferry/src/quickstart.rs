//! `ferry quickstart`: a demo workspace that shows what Ferry does, with no server to install.
//!
//! It creates `crm.db` (a CRM export: customers — mostly Chinese companies, some German,
//! Spanish and British, each coherent ([`customers`]) — with status codes, sales orders with
//! lines) and `erp.db` (an ERP staging schema: products, and the tables Ferry
//! writes customers and orders into), a `ferry.yaml` with three flows, and syncs them.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ferry_engine::SyncOptions;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

mod customers;

use crate::commands::sync::{Spinner, summary_table};
use crate::output::{out, outln};
use crate::workspace;

const CONFIG: &str = include_str!("quickstart.yaml");

/// Creates the workspace (if needed), syncs every flow, prints the summary.
pub async fn run(dir: &Path, no_serve: bool, customers: u32) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = dir.join("ferry.yaml");
    // Record counts per flow, for progress bars; unknown when the workspace already existed.
    let mut totals = std::collections::HashMap::new();
    if !config.exists() {
        eprintln!("Creating a demo workspace in {} …", dir.display());
        let counts = generate(dir, customers).await?;
        totals.insert("customers", u64::from(counts.customers));
        totals.insert("products", u64::from(counts.products));
        totals.insert("orders", u64::from(counts.orders));
        std::fs::write(&config, CONFIG)?;
    } else {
        eprintln!(
            "Using the demo workspace in {} (delete it to start over).",
            dir.display()
        );
    }
    let ws = workspace::open(&config).await?;
    let cancel = workspace::shutdown_token();
    let mut reports = Vec::new();
    for flow in ws.engine.flows() {
        let spinner = Spinner::new(&flow.name, totals.get(flow.name.as_str()).copied());
        let report = ws
            .engine
            .sync(&flow.name, &SyncOptions::default(), &spinner, &cancel)
            .await;
        spinner.finish();
        reports.push(report.map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    outln!();
    out!("{}", summary_table(&reports));
    let failed: u64 = reports.iter().map(|r| r.stats.failed).sum();
    let cfg = config.display();
    outln!(
        "\nThe CRM is {0}/crm.db, the ERP is {0}/erp.db (open them with any SQLite tool).",
        dir.display()
    );
    if failed > 0 {
        outln!(
            "{failed} record(s) were refused by validation (bad e-mail or tax id) and wait in dead letters."
        );
    }
    let fix = format!(
        "sqlite3 {}/crm.db \"UPDATE customers SET contact_email = 'fixed' || id || '@example.com', \
         updated_at = datetime('now') WHERE contact_email LIKE '%@@%'\"",
        dir.display()
    );
    let next = [
        (
            format!("ferry status -c {cfg}"),
            "flows, records, queue and dead letters",
        ),
        (
            format!("ferry dlq list -c {cfg}"),
            "which records failed: flow, record, field, reason",
        ),
        (
            format!("ferry ledger -c {cfg} --key C000042"),
            "everything Ferry did with one customer",
        ),
        (
            format!("ferry sync customers -c {cfg}"),
            "nothing changed, so nothing is written",
        ),
        (fix, "fix the bad e-mails at the source (needs sqlite3)…"),
        (
            format!("ferry dlq replay --all -c {cfg}"),
            "…and deliver the dead letters",
        ),
        (
            format!("ferry check {cfg}"),
            "validate a config; errors point at file:line",
        ),
    ];
    outln!("\nTry next:");
    let width = next
        .iter()
        .map(|(c, _)| c.chars().count())
        .filter(|w| *w < 70)
        .max()
        .unwrap_or(0);
    for (command, why) in &next {
        let pad = width.saturating_sub(command.chars().count());
        outln!("  {command}{}  # {why}", " ".repeat(pad));
    }
    if no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "\nFerry keeps running these flows (polling every 5 s); change crm.db and watch. Ctrl-C to stop."
    );
    ws.engine.clone().run(cancel).await;
    Ok(ExitCode::SUCCESS)
}

const STATUS: &[&str] = &["潜在客户", "已成交", "已成交", "已成交", "已停用"];
const ORDER_STATUS: &[&str] = &["草稿", "已确认", "已确认", "已发货", "已开票"];
const USCC_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A valid unified social credit code for a number, registered in the administrative
/// `division` (six digits: `310000` is Shanghai), with its check digit.
fn uscc(division: &str, n: u32) -> String {
    let mut body: Vec<u8> = b"91".to_vec();
    body.extend_from_slice(division.as_bytes());
    let mut x = n;
    for _ in 0..9 {
        body.push(USCC_CHARS[(x % 31) as usize]);
        x /= 31;
    }
    let sum: u32 = body
        .iter()
        .zip(USCC_WEIGHTS)
        .map(|(c, w)| USCC_CHARS.iter().position(|d| d == c).unwrap_or(0) as u32 * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    body.push(USCC_CHARS[check as usize]);
    String::from_utf8(body).unwrap_or_default()
}

async fn open(path: &Path) -> anyhow::Result<SqliteConnection> {
    Ok(SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await?)
}

/// How many records [`generate`] made.
struct Counts {
    customers: u32,
    products: u32,
    orders: u32,
}

async fn generate(dir: &Path, customers: u32) -> anyhow::Result<Counts> {
    let mut rng = StdRng::seed_from_u64(42);
    let products = (customers / 5).max(10);
    let orders = customers * 2;
    let now = chrono::Utc::now();
    let stamp = |rng: &mut StdRng| {
        (now - chrono::Duration::seconds(rng.random_range(60..86_400 * 30)))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };

    let mut crm = open(&dir.join("crm.db")).await?;
    sqlx::raw_sql(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL UNIQUE, name TEXT NOT NULL, \
           contact_email TEXT, phone TEXT, status TEXT, credit_limit NUMERIC, currency TEXT, tax_no TEXT, city TEXT, \
           province TEXT, country TEXT, updated_at TEXT NOT NULL);\n\
         CREATE TABLE orders (id INTEGER PRIMARY KEY, order_no TEXT NOT NULL UNIQUE, customer_no TEXT NOT NULL, order_date TEXT, \
           status TEXT, currency TEXT, updated_at TEXT NOT NULL);\n\
         CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, sku TEXT NOT NULL, qty NUMERIC NOT NULL, unit_price NUMERIC NOT NULL);\n\
         CREATE INDEX order_lines_order ON order_lines(order_id);\n\
         CREATE TABLE crm_products (sku TEXT PRIMARY KEY, name TEXT, uom TEXT, list_price NUMERIC, currency TEXT, active INTEGER);",
    )
    .execute(&mut crm)
    .await?;
    let mut tx = crm.begin().await?;
    for i in 1..=customers {
        let customer = customers::customer(&mut rng, i);
        // One customer in 200 has a broken e-mail, to show dead letters.
        let email = if i % 200 == 7 {
            format!("sales{i}@@example")
        } else {
            format!("sales{i}@example.com")
        };
        let credit = format!(
            "{}.{:02}",
            rng.random_range(1_000..500_000),
            rng.random_range(0..100)
        );
        sqlx::query("INSERT INTO customers VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)")
            .bind(i64::from(i))
            .bind(format!("C{i:06}"))
            .bind(customer.name)
            .bind(email)
            .bind(customer.phone)
            .bind(STATUS[rng.random_range(0..STATUS.len())])
            .bind(credit)
            .bind(customer.currency)
            .bind(customer.division.map(|d| uscc(d, i)))
            .bind(customer.city)
            .bind(customer.province)
            .bind(customer.country)
            .bind(stamp(&mut rng))
            .execute(&mut *tx)
            .await?;
    }
    let mut line_id = 0i64;
    for i in 1..=orders {
        let customer = rng.random_range(1..=customers);
        sqlx::query("INSERT INTO orders VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(i64::from(i))
            .bind(format!("SO{i:07}"))
            .bind(format!("C{customer:06}"))
            .bind(
                (now - chrono::Duration::days(rng.random_range(0..365)))
                    .format("%Y-%m-%d")
                    .to_string(),
            )
            .bind(ORDER_STATUS[rng.random_range(0..ORDER_STATUS.len())])
            .bind("CNY")
            .bind(stamp(&mut rng))
            .execute(&mut *tx)
            .await?;
        for _ in 0..rng.random_range(1..=5) {
            line_id += 1;
            sqlx::query("INSERT INTO order_lines VALUES ($1,$2,$3,$4,$5)")
                .bind(line_id)
                .bind(i64::from(i))
                .bind(format!("P{:05}", rng.random_range(1..=products)))
                .bind(rng.random_range(1..50).to_string())
                .bind(format!(
                    "{}.{:02}",
                    rng.random_range(5..2_000),
                    rng.random_range(0..100)
                ))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    crm.close().await?;

    let mut erp = open(&dir.join("erp.db")).await?;
    sqlx::raw_sql(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL, uom TEXT, price NUMERIC, \
           discontinued INTEGER NOT NULL DEFAULT 0, write_date TEXT NOT NULL);\n\
         CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT, phone TEXT, status TEXT, \
           credit_limit_cny NUMERIC, tax_id TEXT, city TEXT, region TEXT, country TEXT);\n\
         CREATE TABLE erp_sales_orders (number TEXT PRIMARY KEY, customer_code TEXT NOT NULL, order_date TEXT, state TEXT, currency TEXT);\n\
         CREATE TABLE erp_sales_order_lines (number TEXT NOT NULL, line_no INTEGER NOT NULL, sku TEXT, quantity NUMERIC, unit_price NUMERIC, \
           PRIMARY KEY (number, line_no));",
    )
    .execute(&mut erp)
    .await?;
    let mut tx = erp.begin().await?;
    for i in 1..=products {
        sqlx::query("INSERT INTO products VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(i64::from(i))
            .bind(format!("P{i:05}"))
            .bind(format!("产品 {i} Product"))
            .bind(if i % 3 == 0 { "box" } else { "pcs" })
            .bind(format!(
                "{}.{:02}",
                rng.random_range(5..2_000),
                rng.random_range(0..100)
            ))
            .bind(i64::from(i % 50 == 0))
            .bind(stamp(&mut rng))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    erp.close().await?;
    Ok(Counts {
        customers,
        products,
        orders,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ferry_mapping::CompiledMapping;
    use ferry_model::Record;

    #[test]
    fn generated_tax_ids_pass_the_unified_social_credit_code_check() {
        // Checked by the mapping's own `uscc` rule, not by a second copy of the algorithm.
        let yaml = "systems:\n  a: { kind: sql, url: \"sqlite://a.db\" }\n  b: { kind: sql, url: \"sqlite://b.db\" }\n\
                    flows:\n  c:\n    entity: customer\n    source: { system: a, table: t }\n    target: { system: b, table: t }\n\
                    \x20   mapping: { code: id, tax_id: tax }\n    validate: { tax_id: [uscc] }\n";
        let config = ferry_model::config::load_str(Path::new("ferry.yaml"), yaml)
            .unwrap()
            .config;
        let mapping = CompiledMapping::compile(&config, "c").unwrap();
        for n in [1, 42, 9_999, 10_000] {
            let code = super::uscc("310000", n);
            assert_eq!(code.len(), 18);
            let fields = serde_json::json!({"id": format!("C{n}"), "tax": code});
            let record = Record::new(n.to_string(), fields.as_object().unwrap().clone());
            assert!(mapping.apply(&record).is_ok(), "{code} fails the check");
        }
        assert_ne!(super::uscc("310000", 1), super::uscc("310000", 2));
        // Every division the demo's cities use makes valid codes too.
        for place in super::customers::CHINA.places {
            let code = super::uscc(place.division.unwrap(), 7);
            let fields = serde_json::json!({"id": "C7", "tax": code});
            let record = Record::new("7", fields.as_object().unwrap().clone());
            assert!(mapping.apply(&record).is_ok(), "{code} fails the check");
        }
        // And the rule does reject a wrong check digit, so the loops above can fail.
        let mut bad = super::uscc("310000", 42);
        let last = if bad.ends_with('0') { "1" } else { "0" };
        bad.replace_range(17.., last);
        let fields = serde_json::json!({"id": "C42", "tax": bad});
        assert!(
            mapping
                .apply(&Record::new("42", fields.as_object().unwrap().clone()))
                .is_err()
        );
    }
}
