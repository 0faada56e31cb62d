//! Behaviour of whole flows, built from YAML the way users write it.

use std::path::Path;

use ferry_model::Record;
use ferry_model::config::{ConfigIssue, load_str};
use serde_json::{Map, Value, json};

use super::*;

const HEAD: &str = r#"code_tables:
  order_status: { "已确认": confirmed, "草稿": draft, "1": active }
currency:
  base: CNY
  rates: { USD: "7.1", EUR: "7.7" }
units:
  - { from: box, to: pcs, factor: 12 }
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  f:
    source: { system: crm, table: a }
    target: { system: erp, table: b }
"#;

/// A flow `f` of `entity` with the given mapping and validate blocks (written unindented).
fn try_compile(
    entity: &str,
    mapping: &str,
    validate: &str,
) -> Result<CompiledMapping, Vec<ConfigIssue>> {
    let indent = |block: &str| {
        block
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    };
    let mut yaml = format!(
        "{HEAD}    entity: {entity}\n    mapping:\n{}",
        indent(mapping)
    );
    if !validate.is_empty() {
        yaml.push_str(&format!("    validate:\n{}", indent(validate)));
    }
    let loaded =
        load_str(Path::new("ferry.yaml"), &yaml).unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"));
    CompiledMapping::compile(&loaded.config, "f")
}

fn compile(entity: &str, mapping: &str, validate: &str) -> CompiledMapping {
    try_compile(entity, mapping, validate).unwrap_or_else(|issues| panic!("{issues:#?}"))
}

fn record(id: &str, fields: Value) -> Record {
    let Value::Object(fields) = fields else {
        panic!("fields must be an object")
    };
    Record::new(id, fields)
}

fn map(m: &CompiledMapping, fields: Value) -> Map<String, Value> {
    m.apply(&record("42", fields))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn fails(m: &CompiledMapping, fields: Value) -> MappingError {
    match m.apply(&record("42", fields)) {
        Ok(out) => panic!("expected an error, got {out:?}"),
        Err(e) => e,
    }
}

#[test]
fn compiled_mapping_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledMapping>();
    assert_send_sync::<MappingError>();
}

#[test]
fn renames_nested_paths_and_text() {
    let m = compile(
        "customer",
        "code: customer_no\nname: { from: company.name }\ncity: address.city\nphone: phone\nnotes: remark\nextra.wechat: wx\ncountry: { value: CN }\nindustry: { from: ind, default: other }",
        "",
    );
    assert!(!m.uses_vrl());
    let out = map(
        &m,
        json!({
            "customer_no": 1001, "company": {"name": "Acme 有限公司"}, "address": {"city": "Fuzhou"},
            "phone": 13800000000_i64, "wx": {"id": "abc"}, "ind": ""
        }),
    );
    assert_eq!(
        Value::Object(out),
        json!({
            "code": "1001", "name": "Acme 有限公司", "city": "Fuzhou", "phone": "13800000000",
            "notes": null, "extra.wechat": {"id": "abc"}, "country": "CN", "industry": "other"
        })
    );
    // Field order follows the mapping.
    let out = map(&m, json!({"customer_no": "C1"}));
    let keys: Vec<_> = out.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "code",
            "name",
            "city",
            "phone",
            "notes",
            "extra.wechat",
            "country",
            "industry"
        ]
    );
    // A key containing a dot is found before the nested path.
    let m = compile("customer", "code: customer_no\ncity: address.city", "");
    assert_eq!(
        map(&m, json!({"customer_no": "C1", "address.city": "Xiamen"}))["city"],
        "Xiamen"
    );
}

#[test]
fn expressions_run_as_one_program() {
    let m = compile(
        "customer",
        "code: { expr: '\"C-\" + to_string!(.id)' }\nname: { expr: 'upcase(string!(.first)) + \" \" + string!(.last)' }\nemail: { expr: 'downcase(string!(.mail))', case: trim }\nphone: tel",
        "",
    );
    assert!(m.uses_vrl());
    let out = map(
        &m,
        json!({"id": 7, "first": "ada", "last": "Lovelace", "mail": " ADA@Example.COM", "tel": "1"}),
    );
    assert_eq!(out["code"], "C-7");
    assert_eq!(out["name"], "ADA Lovelace");
    assert_eq!(out["email"], "ada@example.com");
    assert_eq!(out["phone"], "1");

    // A runtime failure is blamed on the field whose expression failed.
    let e = fails(
        &m,
        json!({"id": 7, "first": "ada", "last": null, "mail": "x"}),
    );
    assert_eq!(e.field, "name", "{e}");
    assert!(e.reason.contains("expression failed"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Validation);
    let e = fails(&m, json!({"id": 7, "first": "ada", "last": "L", "mail": 3}));
    assert_eq!(e.field, "email", "{e}");
}

#[test]
fn vrl_compile_errors_point_at_the_expression() {
    let issues = try_compile(
        "customer",
        "code: c\nname: { expr: 'upcse!(.name)' }\nemail: { expr: 'downcase!(.mail)' }",
        "",
    )
    .expect_err("must not compile");
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(issues[0].path, ["flows", "f", "mapping", "name", "expr"]);
    assert!(
        issues[0].message.contains("undefined function"),
        "{}",
        issues[0].message
    );
    assert!(
        issues[0].message.contains("upcase"),
        "{}",
        issues[0].message
    ); // "did you mean"

    let issues =
        try_compile("customer", "code: c\nvrl: '.name = '", "").expect_err("must not compile");
    assert_eq!(issues[0].path, ["flows", "f", "mapping", "vrl"]);

    // An unhandled fallible call is a compile error too.
    let issues = try_compile("customer", "code: c\nname: { expr: 'upcase(.name)' }", "")
        .expect_err("fallible");
    assert_eq!(issues[0].path, ["flows", "f", "mapping", "name", "expr"]);
}

#[test]
fn code_tables_and_unknown_codes() {
    let m = compile(
        "customer",
        "code: c\nstatus: { from: s, code_table: order_status }",
        "",
    );
    assert_eq!(
        map(&m, json!({"c": "1", "s": "已确认"}))["status"],
        "confirmed"
    );
    assert_eq!(map(&m, json!({"c": "1", "s": 1}))["status"], "active"); // numbers look up as text
    assert_eq!(map(&m, json!({"c": "1"}))["status"], Value::Null);
    let e = fails(&m, json!({"c": "1", "s": "作废"}));
    assert_eq!(
        e.to_string(),
        "flow `f`, record `42`, field `status`: unknown code \"作废\" (not in code table `order_status`)"
    );

    // A default is looked up too, and kept when it already is a canonical value.
    let m = compile(
        "customer",
        "code: c\nstatus: { from: s, code_table: order_status, default: prospect }",
        "",
    );
    assert_eq!(map(&m, json!({"c": "1"}))["status"], "prospect");
    let m = compile(
        "customer",
        "code: c\nstatus: { from: s, code_table: order_status, default: 草稿 }",
        "",
    );
    assert_eq!(map(&m, json!({"c": "1", "s": ""}))["status"], "draft");

    let m = compile(
        "customer",
        "code: c\nstatus: { from: s, code_table: order_status, unknown_code: keep }",
        "",
    );
    assert_eq!(map(&m, json!({"c": "1", "s": "作废"}))["status"], "作废");

    let m = compile(
        "customer",
        "code: c\nstatus: { from: s, codes: { A: active, B: blocked }, unknown_code: default, default: prospect }",
        "",
    );
    assert_eq!(map(&m, json!({"c": "1", "s": "B"}))["status"], "blocked");
    assert_eq!(map(&m, json!({"c": "1", "s": "Z"}))["status"], "prospect");
    assert_eq!(map(&m, json!({"c": "1", "s": ""}))["status"], "prospect");
}

#[test]
fn case_changes() {
    let m = compile(
        "customer",
        "code: { from: c, case: upper }\nemail: { from: e, case: lower }\nname: { from: n, case: trim }",
        "",
    );
    let out = map(&m, json!({"c": " c-1 ", "e": "A@B.CN", "n": "  Ada  "}));
    assert_eq!(
        Value::Object(out),
        json!({"code": "C-1", "email": "a@b.cn", "name": "Ada"})
    );
}

#[test]
fn units_fixed_and_from_a_field() {
    let m = compile(
        "stock",
        "code: c\non_hand: { from: boxes, unit: { from: box, to: pcs } }\nreserved: { from: r, unit: { from_field: r_unit, to: box } }",
        "",
    );
    let out = map(
        &m,
        json!({"c": "W1:S1", "boxes": 2, "r": "24", "r_unit": "pcs"}),
    );
    assert_eq!(out["on_hand"], "24");
    assert_eq!(out["reserved"], "2");
    let e = fails(&m, json!({"c": "x", "boxes": 1, "r": "3", "r_unit": "kg"}));
    assert_eq!(e.field, "reserved");
    assert!(
        e.reason.contains("no conversion from unit `kg` to `box`"),
        "{e}"
    );
}

#[test]
fn currency_conversion_via_the_base() {
    let m = compile(
        "customer",
        "code: c\ncredit_limit: { from: credit, currency: { from: USD, to: CNY }, scale: 2 }\nnotes: { from: credit, currency: { from: USD, to: EUR }, scale: 2 }",
        "",
    );
    let out = map(&m, json!({"c": "1", "credit": 100}));
    assert_eq!(out["credit_limit"], "710.00");
    // 100 USD = 710 CNY = 92.207… EUR
    assert_eq!(out["notes"], "92.21");

    let m = compile(
        "customer",
        "code: c\ncredit_limit: { from: credit, currency: { from_field: cur, to: CNY } }",
        "",
    );
    assert_eq!(
        map(&m, json!({"c": "1", "credit": "10", "cur": "EUR"}))["credit_limit"],
        "77.0"
    );
    assert_eq!(
        map(&m, json!({"c": "1", "credit": "10", "cur": "CNY"}))["credit_limit"],
        "10"
    );
    let e = fails(&m, json!({"c": "1", "credit": "10", "cur": "JPY"}));
    assert!(
        e.reason.contains("no exchange rate for currency `JPY`"),
        "{e}"
    );
    let e = fails(&m, json!({"c": "1", "credit": "10"}));
    assert!(
        e.reason.contains("no currency in source field `cur`"),
        "{e}"
    );
}

#[test]
fn tax_add_and_remove_with_scale() {
    let m = compile(
        "product",
        "sku: s\nlist_price: { from: net, tax: { add: \"0.13\" }, scale: 2 }\ncost_price: { from: gross, tax: { remove: \"0.13\" }, scale: 2 }\ntax_rate: { from: gross, tax: { rate_field: rate, direction: remove }, scale: 2 }",
        "",
    );
    let out = map(
        &m,
        json!({"s": "A", "net": "100", "gross": 113, "rate": "0.13"}),
    );
    assert_eq!(out["list_price"], "113.00");
    assert_eq!(out["cost_price"], "100.00");
    assert_eq!(out["tax_rate"], "100.00");
    // 10.005 × 1.13 = 11.30565 → 11.31; 1.005 → 1.01 (half away from zero, not banker's)
    let out = map(
        &m,
        json!({"s": "A", "net": "10.005", "gross": "1.01005", "rate": 0}),
    );
    assert_eq!(out["list_price"], "11.31");
    assert_eq!(out["tax_rate"], "1.01");
    let e = fails(&m, json!({"s": "A", "net": "abc"}));
    assert_eq!(e.field, "list_price");
    assert!(e.reason.contains("not a decimal number: \"abc\""), "{e}");
}

#[test]
fn decimals_are_never_floats() {
    let m = compile(
        "customer",
        "code: c\ncredit_limit: { from: a }\nnotes: { from: b }\nextra.x: { from: a, scale: 2 }",
        "",
    );
    let out = map(&m, json!({"c": "1", "a": 0.1, "b": 0.1}));
    assert_eq!(out["credit_limit"], json!("0.1"));
    assert_eq!(out["notes"], json!("0.1"));
    assert_eq!(out["extra.x"], json!("0.10"));
    let m = compile(
        "customer",
        "code: c\ncredit_limit: { from: a, scale: 2 }",
        "",
    );
    assert_eq!(
        map(&m, json!({"c": "1", "a": 1234.5}))["credit_limit"],
        json!("1234.50")
    );
    assert_eq!(
        map(&m, json!({"c": "1", "a": "1234.565"}))["credit_limit"],
        json!("1234.57")
    );
    assert_eq!(
        map(&m, json!({"c": "1", "a": "-2.345"}))["credit_limit"],
        json!("-2.35")
    );
    assert_eq!(
        map(&m, json!({"c": "1", "a": ""}))["credit_limit"],
        Value::Null
    );
    assert_eq!(
        map(&m, json!({"c": "1", "a": null}))["credit_limit"],
        Value::Null
    );
    // Trailing zeros as given are kept without a scale.
    let m = compile("customer", "code: c\ncredit_limit: a", "");
    assert_eq!(
        map(&m, json!({"c": "1", "a": "1234.50"}))["credit_limit"],
        json!("1234.50")
    );
    // A float out of an expression is read through its text, too.
    let m = compile("customer", "code: c\ncredit_limit: { expr: '.a' }", "");
    assert_eq!(
        map(&m, json!({"c": "1", "a": 0.1}))["credit_limit"],
        json!("0.1")
    );
}

#[test]
fn dates_and_time_zones() {
    let m = compile(
        "sales_order",
        "number: nr\nupdated_at: { from: t, date: { format: \"%Y/%m/%d %H:%M\", timezone: Asia/Shanghai } }\norder_date: { from: t, date: { format: \"%Y/%m/%d %H:%M\", timezone: Asia/Shanghai, to_timezone: Asia/Shanghai } }",
        "",
    );
    let out = map(&m, json!({"nr": "SO1", "t": "2024/03/01 16:00"}));
    assert_eq!(out["updated_at"], "2024-03-01T08:00:00Z");
    assert_eq!(out["order_date"], "2024-03-01");
    // 07:00 in Shanghai is the previous day in UTC; the order date stays in Shanghai.
    let out = map(&m, json!({"nr": "SO1", "t": "2024/03/02 07:00"}));
    assert_eq!(out["updated_at"], "2024-03-01T23:00:00Z");
    assert_eq!(out["order_date"], "2024-03-02");
    let e = fails(&m, json!({"nr": "SO1", "t": "2024-03-02"}));
    assert_eq!(e.field, "updated_at");
    assert!(e.reason.contains("format `%Y/%m/%d %H:%M`"), "{e}");

    // Default parsing: RFC 3339, dates, naive date-times (UTC) and Unix seconds.
    let m = compile(
        "sales_order",
        "number: nr\nupdated_at: t\norder_date: d",
        "",
    );
    let at = |t: Value, d: Value| {
        let out = map(&m, json!({"nr": "SO1", "t": t, "d": d}));
        (out["updated_at"].clone(), out["order_date"].clone())
    };
    assert_eq!(
        at(json!("2024-03-01T16:00:00+08:00"), json!("2024-03-01")),
        (json!("2024-03-01T08:00:00Z"), json!("2024-03-01"))
    );
    assert_eq!(
        at(json!("2024-03-01 08:00:00"), json!("2024-03-01T23:30:00Z")),
        (json!("2024-03-01T08:00:00Z"), json!("2024-03-01"))
    );
    assert_eq!(
        at(json!(1_709_280_000), json!(1_709_280_000)),
        (json!("2024-03-01T08:00:00Z"), json!("2024-03-01"))
    );
    assert_eq!(
        at(json!("2024-03-01"), json!(null)),
        (json!("2024-03-01T00:00:00Z"), json!(null))
    );

    // A date-only format for an instant field is midnight in the given zone.
    let m = compile(
        "sales_order",
        "number: nr\nupdated_at: { from: d, date: { format: \"%d.%m.%Y\", timezone: Asia/Shanghai } }",
        "",
    );
    assert_eq!(
        map(&m, json!({"nr": "1", "d": "01.03.2024"}))["updated_at"],
        "2024-02-29T16:00:00Z"
    );

    let issues = try_compile(
        "sales_order",
        "number: nr\nupdated_at: { from: d, date: { timezone: Mars/Base } }",
        "",
    )
    .expect_err("bad zone");
    assert_eq!(
        issues[0].path,
        ["flows", "f", "mapping", "updated_at", "date"]
    );
}

#[test]
fn booleans_and_integers() {
    let m = compile("customer", "code: c\nactive: a", "");
    for (input, expected) in [
        (json!("是"), true),
        (json!("否"), false),
        (json!("Y"), true),
        (json!(0), false),
        (json!("yes"), true),
    ] {
        assert_eq!(
            map(&m, json!({"c": "1", "a": input}))["active"],
            json!(expected),
            "{input}"
        );
    }
    let e = fails(&m, json!({"c": "1", "a": "perhaps"}));
    assert_eq!(
        e.to_string(),
        "flow `f`, record `42`, field `active`: not a yes/no value: \"perhaps\""
    );

    let m = compile(
        "sales_order",
        "number: nr\nlines: { from: items, fields: { line_no: pos } }",
        "",
    );
    let out = map(
        &m,
        json!({"nr": "1", "items": [{"pos": "3"}, {"pos": 4.0}, {"pos": 5}]}),
    );
    assert_eq!(
        out["lines"],
        json!([{"line_no": 3}, {"line_no": 4}, {"line_no": 5}])
    );
    let e = fails(&m, json!({"nr": "1", "items": [{"pos": "3.5"}]}));
    assert_eq!(e.field, "lines[1].line_no");
}

#[test]
fn lines_map_each_element_and_name_the_failing_line() {
    let m = compile(
        "sales_order",
        "number: ordno\ntotal: total\nlines:\n  from: items\n  fields:\n    sku: { from: code, case: upper }\n    quantity: { from: qty, unit: { from: box, to: pcs } }\n    unit_price: { from: price, scale: 2 }\n    description: { expr: 'string!(.name) + \" (\" + to_string!(.qty) + \")\"' }",
        "",
    );
    let items = json!([
        {"code": "a-1", "qty": 1, "price": 9.5, "name": "Tea"},
        {"code": "b-2", "qty": "2", "price": "10", "name": "Cup"},
        {"code": "c-3", "qty": 3, "price": 0.1, "name": "Pot"}
    ]);
    let out = map(&m, json!({"ordno": "SO-1", "total": "12", "items": items}));
    assert_eq!(
        out["lines"],
        json!([
            {"sku": "A-1", "quantity": "12", "unit_price": "9.50", "description": "Tea (1)"},
            {"sku": "B-2", "quantity": "24", "unit_price": "10.00", "description": "Cup (2)"},
            {"sku": "C-3", "quantity": "36", "unit_price": "0.10", "description": "Pot (3)"}
        ])
    );
    let bad = json!([
        {"code": "a", "qty": 1, "price": 1, "name": "x"},
        {"code": "b", "qty": "two", "price": 1, "name": "y"},
        {"code": "c", "qty": 3, "price": 1, "name": "z"}
    ]);
    let e = fails(&m, json!({"ordno": "SO-1", "items": bad}));
    assert_eq!(e.field, "lines[2].quantity", "{e}");
    assert_eq!(
        e.to_string(),
        "flow `f`, record `42`, field `lines[2].quantity`: not a decimal number: \"two\""
    );
    let e = fails(
        &m,
        json!({"ordno": "SO-1", "items": [{"code": "a", "qty": 1, "price": 1}]}),
    );
    assert_eq!(e.field, "lines[1].description", "{e}");
    assert_eq!(map(&m, json!({"ordno": "SO-1"}))["lines"], Value::Null);
    let e = fails(&m, json!({"ordno": "SO-1", "items": {"code": "a"}}));
    assert_eq!(e.field, "lines");
}

#[test]
fn vrl_block_runs_after_the_field_rules() {
    let m = compile(
        "customer",
        "code: c\nname: nm\ncredit_limit: { from: cl, scale: 2 }\nvrl: |\n  .name = upcase!(.name)\n  .notes = \"from \" + string!(%source.origin) + \" #\" + string!(%id)\n  .credit_limit = 12.5\n  .\"extra.seen\" = true",
        "name: [required]",
    );
    assert!(m.uses_vrl());
    let out = map(
        &m,
        json!({"c": "1", "nm": "ada", "cl": "3", "origin": "crm"}),
    );
    assert_eq!(
        Value::Object(out.clone()),
        json!({"code": "1", "name": "ADA", "credit_limit": "12.5", "notes": "from crm #42", "extra.seen": true})
    );
    assert_eq!(out.keys().next().map(String::as_str), Some("code"));
    let e = fails(&m, json!({"c": "1", "nm": null, "origin": "crm"}));
    assert_eq!(e.field, "vrl", "{e}");

    let m = compile("customer", "code: c\nvrl: '. = [1]'", "");
    let e = fails(&m, json!({"c": "1"}));
    assert!(e.reason.contains("must leave `.` an object"), "{e}");
}

#[test]
fn validation_rules() {
    let m = compile(
        "customer",
        "code: c\nname: nm\nemail: e\ntax_id: t\nstatus: s\ncredit_limit: cl\nphone: p",
        "code: [required, { regex: \"^C-\\\\d+$\" }]\nname: [{ max_len: 4 }]\nemail: [email]\ntax_id: [uscc]\nstatus: [{ one_of: [active, blocked] }]\ncredit_limit: [{ min: \"0\" }, { max: \"1000.00\" }]\nphone: [required]",
    );
    let good = json!({"c": "C-1", "nm": "张三丰", "e": "a@b.cn", "t": "91350100M000100Y43", "s": "active", "cl": "1000", "p": "1"});
    map(&m, good.clone());
    // Missing values fail only `required`.
    map(&m, json!({"c": "C-1", "p": "1"}));

    let with = |key: &str, value: Value| {
        let mut input = good.clone();
        input[key] = value;
        fails(&m, input).to_string()
    };
    assert_eq!(
        with("e", json!("foo@")),
        "flow `f`, record `42`, field `email`: not a valid e-mail address: \"foo@\""
    );
    assert_eq!(
        with("t", json!("91350100M000100Y44")),
        "flow `f`, record `42`, field `tax_id`: not a valid unified social credit code: \"91350100M000100Y44\""
    );
    assert!(with("c", json!("X-1")).contains("field `code`: does not match `^C-\\d+$`: \"X-1\""));
    assert!(with("c", json!("")).contains("field `code`: required but missing"));
    assert!(with("p", Value::Null).contains("field `phone`: required but missing"));
    assert!(with("nm", json!("张三丰丰丰")).contains("field `name`: longer than 4 characters (5)"));
    assert!(
        with("s", json!("gone")).contains("field `status`: not one of active, blocked: \"gone\"")
    );
    assert!(with("cl", json!("-0.01")).contains("field `credit_limit`: less than 0: \"-0.01\""));
    assert!(
        with("cl", json!(1000.01)).contains("field `credit_limit`: more than 1000.00: \"1000.01\"")
    );
    let long = "x".repeat(200) + "@";
    let message = with("e", json!(long));
    assert!(message.len() < 200, "{message}");
    assert!(message.ends_with('…'), "{message}");

    let issues =
        try_compile("customer", "code: c", "code: [{ regex: \"(\" }]").expect_err("bad regex");
    assert_eq!(issues[0].path, ["flows", "f", "validate", "code"]);
}

#[test]
fn unknown_flow_is_an_issue() {
    let loaded = load_str(
        Path::new("ferry.yaml"),
        &format!("{HEAD}    entity: customer\n    mapping: {{ code: c }}\n"),
    )
    .unwrap();
    let issues = CompiledMapping::compile(&loaded.config, "nope").expect_err("unknown flow");
    assert!(issues[0].message.contains("unknown flow `nope`"));
}

/// Rough throughput, not a timed test: `cargo test -p ferry-mapping --release -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run by hand"]
fn throughput() {
    let rules = "code: id\nname: { expr: 'upcase!(.name)' }\nemail: { from: mail, case: lower }\nstatus: { from: s, code_table: order_status, unknown_code: keep }\ncredit_limit: { from: credit, currency: { from: USD, to: CNY }, scale: 2 }\ncreated_at: { from: created, date: { format: \"%Y/%m/%d %H:%M\", timezone: Asia/Shanghai } }\nactive: enabled";
    for (label, mapping) in [
        (
            "field rules only",
            rules.replace("{ expr: 'upcase!(.name)' }", "name"),
        ),
        ("with one expr", rules.to_owned()),
    ] {
        let m = compile("customer", &mapping, "email: [email]");
        let records: Vec<Record> = (0..1000)
            .map(|i| {
                record(
                    &i.to_string(),
                    json!({"id": format!("C{i}"), "name": "acme", "mail": "A@B.CN", "s": "已确认", "credit": "1234.5", "created": "2024/03/01 16:00", "enabled": "是"}),
                )
            })
            .collect();
        let n = 200_000;
        let start = std::time::Instant::now();
        for i in 0..n {
            m.apply(&records[i % records.len()]).unwrap();
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{label}: {per:.2} µs per record");
    }
}

/// A flow `f` of `entity` with `mapping` and a `vat:` block (inline YAML).
fn try_compile_vat(
    entity: &str,
    mapping: &str,
    vat: &str,
) -> Result<CompiledMapping, Vec<ConfigIssue>> {
    let indent = |block: &str| {
        block
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    };
    let yaml = format!(
        "{HEAD}    entity: {entity}\n    vat: {vat}\n    mapping:\n{}",
        indent(mapping)
    );
    let loaded = load_str(Path::new("ferry.yaml"), &yaml);
    match loaded {
        Ok(loaded) => CompiledMapping::compile(&loaded.config, "f"),
        Err(e) => Err(e
            .problems
            .iter()
            .map(|p| ConfigIssue::new(["load"], p.clone()))
            .collect()),
    }
}

#[test]
fn vat_splits_crm_gross_prices_per_line_and_keeps_the_crms_total() {
    let mapping = "number: order_no\ntotal: amount\nlines:\n  from: items\n  fields: { sku: code, quantity: qty, unit_price: price, tax_rate: rate }";
    let m = try_compile_vat("sales_order", mapping, "{ prices: gross, total: total }")
        .unwrap_or_else(|i| panic!("{i:#?}"));
    let item =
        |code: &str, qty: &str| json!({"code": code, "qty": qty, "price": "0.333", "rate": "0.13"});
    let out = map(
        &m,
        json!({"order_no": "SO-9", "amount": "36.97", "items": [item("A", "10"), item("B", "100"), item("C", "1")]}),
    );
    assert_eq!(
        out["total"],
        json!("36.97"),
        "the CRM's own total, to the fen"
    );
    assert_eq!(
        out["lines"][1]["gross_amount"],
        json!("33.31"),
        "the rounding on the largest line"
    );
    assert_eq!(out["lines"][0]["line_total"], json!("2.95"));
    assert_eq!(
        out["lines"][0]["unit_price"],
        json!("0.295"),
        "the net price"
    );
    assert_eq!(out["lines"][0]["gross_price"], json!("0.333"));

    let e = fails(
        &m,
        json!({"order_no": "SO-10", "amount": "50", "items": [item("A", "10")]}),
    );
    assert_eq!(e.field, "total");
    assert_eq!(
        e.key.as_deref(),
        Some("SO-10"),
        "the dead letter is found by key"
    );
    assert!(e.reason.contains("3.33") && e.reason.contains("50"), "{e}");
}

#[test]
fn vat_is_checked_against_the_entity_and_its_rates() {
    let Err(issues) = try_compile_vat("customer", "code: id", "{ prices: gross }") else {
        panic!("a customer has no lines");
    };
    assert!(format!("{issues:?}").contains("has no lines"), "{issues:?}");
    let Err(issues) = try_compile_vat(
        "sales_order",
        "number: order_no\nlines: items",
        "{ rates: [13] }",
    ) else {
        panic!("13 is not a fraction");
    };
    assert!(
        format!("{issues:?}").contains("write 13 % as 0.13"),
        "{issues:?}"
    );
}
