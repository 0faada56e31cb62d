//! The report as a terminal table and CSV. JSON is the report serialized as it is; the HTML
//! page is the console's own rendering (`ferry_server::html::reconcile`).

use ferry_engine::reconcile::{Report, shown};

use crate::output::{table as text_table, truncate};

/// The width a value gets in a terminal cell.
const CELL: usize = 40;

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// Terminal tables: the counts, then each non-empty list of findings.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "Flow `{}`: {} ({:.0} records/s). Compared fields: {}.\n",
        report.flow,
        report.verdict(),
        report.records_per_second,
        report.compared_fields.join(", ")
    );
    if let Some(line) = report.known_failures() {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = report
        .summary()
        .into_iter()
        .map(|(name, n)| vec![name.to_owned(), n.to_string()])
        .collect();
    out.push_str(&text_table(&["", "count"], &rows));
    if !report.differing.is_empty() {
        let rows: Vec<Vec<String>> = report
            .differing
            .iter()
            .flat_map(|d| {
                d.fields.iter().map(|f| {
                    vec![
                        opt(&d.key),
                        d.source_id.clone(),
                        d.target_id.clone(),
                        f.field.clone(),
                        truncate(&shown(&f.source), CELL),
                        truncate(&shown(&f.target), CELL),
                    ]
                })
            })
            .collect();
        out.push_str(&format!("\nDiffering ({}):\n", report.counts.differing));
        out.push_str(&text_table(
            &["key", "source id", "target id", "field", "source", "target"],
            &rows,
        ));
    }
    for (title, count, list) in [
        (
            "Missing in target",
            report.counts.missing_in_target,
            &report.missing_in_target,
        ),
        (
            "Missing in source",
            report.counts.missing_in_source,
            &report.missing_in_source,
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|m| vec![opt(&m.key), opt(&m.source_id), opt(&m.target_id)])
            .collect();
        out.push_str(&format!("\n{title} ({count}):\n"));
        out.push_str(&text_table(&["key", "source id", "target id"], &rows));
    }
    if !report.duplicate_keys.is_empty() {
        let rows: Vec<Vec<String>> = report
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
        out.push_str("\nDuplicate keys:\n");
        out.push_str(&text_table(&["side", "key", "records"], &rows));
    }
    if !report.unmapped.is_empty() {
        let rows: Vec<Vec<String>> = report
            .unmapped
            .iter()
            .map(|u| vec![u.source_id.clone(), truncate(&u.error, 100)])
            .collect();
        out.push_str(&format!("\nUnmapped ({}):\n", report.counts.unmapped));
        out.push_str(&text_table(&["source id", "error"], &rows));
    }
    if !report.dead_lettered.is_empty() {
        let rows: Vec<Vec<String>> = report
            .dead_lettered
            .iter()
            .map(|k| {
                vec![
                    opt(&k.key),
                    k.source_id.clone(),
                    k.finding.as_str().to_owned(),
                    format!("{} ({})", k.dead_letter_id, k.dead_letter_state.as_str()),
                    truncate(&k.error, 100),
                ]
            })
            .collect();
        out.push_str(&format!(
            "\nKnown failures: dead letters ({}):\n",
            report.counts.dead_lettered
        ));
        out.push_str(&text_table(
            &["key", "source id", "finding", "dead letter", "error"],
            &rows,
        ));
    }
    if report.truncated {
        out.push_str(&format!(
            "\nLists show the first {} entries each (--limit-details); the counts are exact.\n",
            report.details_limit
        ));
    }
    if let Some(repair) = &report.repair {
        out.push('\n');
        out.push_str(&repair.describe());
        out.push('\n');
        for e in &repair.errors {
            out.push_str(&format!("  {e}\n"));
        }
    }
    out
}

/// The CSV header: one row per finding, one per differing field. Values are JSON (`"text"`,
/// `10.5`, `null`) so that null and an empty string stay apart.
pub const CSV_HEADER: [&str; 8] = [
    "finding",
    "key",
    "source_id",
    "target_id",
    "field",
    "source_value",
    "target_value",
    "detail",
];

/// Every finding of the report's lists as CSV rows.
pub fn csv(report: &Report) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    for d in &report.differing {
        for f in &d.fields {
            w.write_record([
                "differing",
                &s(&d.key),
                &d.source_id,
                &d.target_id,
                &f.field,
                &f.source.to_string(),
                &f.target.to_string(),
                "",
            ])?;
        }
    }
    for (finding, list) in [
        ("missing_in_target", &report.missing_in_target),
        ("missing_in_source", &report.missing_in_source),
    ] {
        for m in list {
            w.write_record([
                finding,
                &s(&m.key),
                &s(&m.source_id),
                &s(&m.target_id),
                "",
                "",
                "",
                "",
            ])?;
        }
    }
    for d in &report.duplicate_keys {
        let finding = format!("duplicate_key_{}", d.side.as_str());
        let detail = format!("{} records", d.count);
        w.write_record([finding.as_str(), &d.key, "", "", "", "", "", &detail])?;
    }
    for u in &report.unmapped {
        w.write_record(["unmapped", "", &u.source_id, "", "", "", "", &u.error])?;
    }
    for k in &report.dead_lettered {
        let finding = format!("dead_lettered_{}", k.finding.as_str());
        w.write_record([
            finding.as_str(),
            &s(&k.key),
            &k.source_id,
            &s(&k.target_id),
            "",
            "",
            "",
            &k.detail(),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::reconcile::{
        Counts, DeadLettered, Difference, FieldDifference, Finding, Missing,
    };
    use ferry_store::DeadLetterState;
    use serde_json::json;

    fn report() -> Report {
        Report {
            flow: "customers<script>".into(),
            key_field: "code".into(),
            compared_fields: vec!["code".into(), "name".into()],
            counts: Counts {
                source: 2,
                target: 2,
                matched: 1,
                differing: 1,
                missing_in_target: 1,
                missing_in_source: 1,
                ..Counts::default()
            },
            clean: false,
            differing: vec![Difference {
                key: Some("C1".into()),
                source_id: "1".into(),
                target_id: "C1".into(),
                fields: vec![FieldDifference {
                    field: "name".into(),
                    source: json!("A, \"B\" & <C>"),
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
            duplicate_keys: Vec::new(),
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
    fn csv_keeps_null_apart_from_text_and_quotes_commas() {
        let text = csv(&report()).unwrap();
        let mut rows = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert_eq!(&rows[0][0], "differing");
        assert_eq!(&rows[0][5], "\"A, \\\"B\\\" & <C>\"");
        assert_eq!(&rows[0][6], "null");
        assert_eq!((&rows[1][0], &rows[1][2]), ("missing_in_target", "2"));
        assert_eq!((&rows[2][0], &rows[2][3]), ("missing_in_source", "C9"));
    }

    #[test]
    fn the_table_names_each_finding() {
        let text = table(&report());
        for expected in [
            "DRIFT FOUND",
            "Differing (1)",
            "Missing in target (1)",
            "Missing in source (1)",
            "C9",
        ] {
            assert!(text.contains(expected), "{expected} missing in:\n{text}");
        }
    }

    /// Only known failures: one record missing in the target whose dead letter is open.
    fn known_only() -> Report {
        let mut r = report();
        r.counts = Counts {
            source: 2,
            target: 1,
            matched: 1,
            equal: 1,
            dead_lettered: 1,
            ..Counts::default()
        };
        r.clean = true;
        r.differing.clear();
        r.missing_in_target.clear();
        r.missing_in_source.clear();
        r.dead_lettered = vec![DeadLettered {
            key: Some("C2".into()),
            source_id: "2".into(),
            target_id: None,
            finding: Finding::MissingInTarget,
            dead_letter_id: 7,
            dead_letter_state: DeadLetterState::Open,
            error: "field `email`: not an email address".into(),
        }];
        r
    }

    #[test]
    fn known_failures_alone_are_not_called_drift() {
        let text = table(&known_only());
        assert!(!text.contains("DRIFT"), "{text}");
        for expected in [
            "no drift, known failures only",
            "1 known failure(s)",
            "`ferry dlq list`",
            "Known failures: dead letters (1)",
            "7 (open)",
            "missing_in_target",
            "not an email address",
        ] {
            assert!(text.contains(expected), "{expected} missing in:\n{text}");
        }
        let csv = csv(&known_only()).unwrap();
        assert!(
            csv.lines().any(|l| l
                == "dead_lettered_missing_in_target,C2,2,,,,,\
                    dead letter 7 (open): field `email`: not an email address"),
            "{csv}"
        );
    }
}
