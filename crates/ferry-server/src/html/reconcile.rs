//! A reconciliation report as HTML, written once for its two readers: the CLI's
//! self-contained page ([`page`]: inline style, nothing loaded from anywhere) and the
//! console's report page, which places [`body`] inside its own layout. Every value goes
//! through [`escape`]; the wording (counts, repair) is the report's own
//! ([`Report::summary`], [`ferry_engine::reconcile::Repair::describe`]), shared with the CLI's
//! table.

use std::fmt::Write as _;

use ferry_engine::reconcile::{Report, shown};

use super::escape;

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// A titled table of findings; nothing when there are none.
fn table(out: &mut String, title: &str, headers: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h2>{}</h2>\n<table class=\"data\">\n<thead><tr>",
        escape(title)
    );
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The report's content: what was compared, the counts, then each kind of finding (field
/// differences, missing in the target, missing in the source, duplicate keys, unmapped
/// records, known failures with their dead letters) and what a repair did. Every value escaped; no script, no outside reference.
pub fn body(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<p>Business key <code>{}</code>; compared fields: {}. {:.0} records/s over {:.1} s.</p>",
        escape(&report.key_field),
        report
            .compared_fields
            .iter()
            .map(|f| format!("<code>{}</code>", escape(f)))
            .collect::<Vec<_>>()
            .join(", "),
        report.records_per_second,
        report.seconds
    );
    out.push_str("<table class=\"data summary\">\n<tbody>\n");
    for (name, n) in report.summary() {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td class=\"num\">{n}</td></tr>",
            escape(name)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if let Some(line) = report.known_failures() {
        let _ = writeln!(out, "<p>{}</p>", escape(&line));
    }
    let differing: Vec<Vec<String>> = report
        .differing
        .iter()
        .flat_map(|d| {
            d.fields.iter().map(|f| {
                vec![
                    opt(&d.key),
                    d.source_id.clone(),
                    d.target_id.clone(),
                    f.field.clone(),
                    shown(&f.source),
                    shown(&f.target),
                ]
            })
        })
        .collect();
    let c = &report.counts;
    table(
        &mut out,
        &format!("Differing ({})", c.differing),
        &["key", "source id", "target id", "field", "source", "target"],
        &differing,
    );
    for (title, count, list) in [
        (
            "Missing in target",
            c.missing_in_target,
            &report.missing_in_target,
        ),
        (
            "Missing in source",
            c.missing_in_source,
            &report.missing_in_source,
        ),
    ] {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|m| vec![opt(&m.key), opt(&m.source_id), opt(&m.target_id)])
            .collect();
        table(
            &mut out,
            &format!("{title} ({count})"),
            &["key", "source id", "target id"],
            &rows,
        );
    }
    let duplicates: Vec<Vec<String>> = report
        .duplicate_keys
        .iter()
        .map(|d| {
            vec![
                d.side.as_str().to_owned(),
                d.key.clone(),
                d.count.to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        "Duplicate keys",
        &["side", "key", "records"],
        &duplicates,
    );
    let unmapped: Vec<Vec<String>> = report
        .unmapped
        .iter()
        .map(|u| vec![u.source_id.clone(), u.error.clone()])
        .collect();
    table(
        &mut out,
        &format!("Unmapped ({})", c.unmapped),
        &["source id", "error"],
        &unmapped,
    );
    let known: Vec<Vec<String>> = report
        .dead_lettered
        .iter()
        .map(|k| {
            vec![
                opt(&k.key),
                k.source_id.clone(),
                k.finding.as_str().to_owned(),
                format!("{} ({})", k.dead_letter_id, k.dead_letter_state.as_str()),
                k.error.clone(),
            ]
        })
        .collect();
    table(
        &mut out,
        &format!("Known failures: dead letters ({})", c.dead_lettered),
        &["key", "source id", "finding", "dead letter", "error"],
        &known,
    );
    if report.truncated {
        let _ = writeln!(
            out,
            "<p>Lists show the first {} entries each; the counts are exact.</p>",
            report.details_limit
        );
    }
    if let Some(repair) = &report.repair {
        let _ = writeln!(out, "<p>{}</p>", escape(&repair.describe()));
        for e in &repair.errors {
            let _ = writeln!(out, "<p class=\"bad\">{}</p>", escape(e));
        }
    }
    out
}

/// One HTML page with no external CSS, script or font: the verdict, then [`body`].
pub fn page(report: &Report) -> String {
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        out,
        "<title>Ferry reconciliation: {}</title>",
        escape(&report.flow)
    );
    out.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
         table{border-collapse:collapse;margin:1em 0}\
         th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
         th{background:#f3f3f3}td.num{text-align:right}\
         .clean{color:#17692c}.drift,.bad{color:#a11}code{background:#f3f3f3}</style>\n</head>\n<body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>Reconciliation of flow <code>{}</code></h1>\n<p class=\"{}\"><strong>{}</strong></p>",
        escape(&report.flow),
        if report.clean { "clean" } else { "drift" },
        match (report.clean, report.counts.dead_lettered) {
            (false, _) => "Drift found.",
            (true, 0) => "Source and target agree.",
            (true, _) => "No drift: the only differences are known failures.",
        }
    );
    out.push_str(&body(report));
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::reconcile::{
        Counts, Difference, DuplicateKey, FieldDifference, Missing, Side,
    };
    use serde_json::json;

    fn report() -> Report {
        Report {
            flow: "customers<script>".into(),
            key_field: "code".into(),
            compared_fields: vec!["code".into(), "name".into()],
            counts: Counts {
                source: 2,
                target: 3,
                matched: 1,
                differing: 1,
                missing_in_target: 1,
                missing_in_source: 1,
                duplicate_keys_target: 1,
                ..Counts::default()
            },
            clean: false,
            differing: vec![Difference {
                key: Some("C1".into()),
                source_id: "1".into(),
                target_id: "C1".into(),
                fields: vec![FieldDifference {
                    field: "name".into(),
                    source: json!("A, \"B\" & <C> 客户"),
                    target: json!(null),
                }],
            }],
            missing_in_target: vec![Missing {
                key: Some("C2".into()),
                source_id: Some("2".into()),
                target_id: None,
            }],
            missing_in_source: vec![Missing {
                key: Some("C9".into()),
                source_id: None,
                target_id: Some("C9".into()),
            }],
            duplicate_keys: vec![DuplicateKey {
                side: Side::Target,
                key: "C7".into(),
                count: 2,
            }],
            unmapped: Vec::new(),
            dead_lettered: Vec::new(),
            details_limit: 100,
            truncated: false,
            repair: None,
            records_per_second: 1.0,
            seconds: 1.0,
        }
    }

    #[test]
    fn the_page_escapes_every_value_and_loads_nothing_from_outside() {
        let page = page(&report());
        assert!(page.contains("customers&lt;script&gt;"), "{page}");
        assert!(!page.contains("<script"), "{page}");
        assert!(
            page.contains("&quot;A, \\&quot;B\\&quot; &amp; &lt;C&gt; 客户&quot;"),
            "{page}"
        );
        for outside in ["http://", "https://", "<link", "src="] {
            assert!(!page.contains(outside), "{outside} in {page}");
        }
    }

    #[test]
    fn the_body_lists_each_kind_of_finding_with_its_count() {
        let body = body(&report());
        for expected in [
            "<h2>Differing (1)</h2>",
            "<h2>Missing in target (1)</h2>",
            "<h2>Missing in source (1)</h2>",
            "<h2>Duplicate keys</h2>",
            "<td>target</td><td>C7</td><td>2</td>",
            "<tr><th>target records</th><td class=\"num\">3</td></tr>",
        ] {
            assert!(body.contains(expected), "{expected} missing in:\n{body}");
        }
        assert!(!body.contains("Unmapped"), "empty lists are left out");
    }
}
