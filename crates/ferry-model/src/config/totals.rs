//! A document flow's totals check (`totals:`): the mapped lines must add up to the header's
//! total, or the record is dead-lettered instead of written.
//!
//! ```yaml
//! flows:
//!   orders:
//!     entity: sales_order
//!     totals: { field: total, tolerance: "0.01" }   # or just `totals: {}`
//! ```
//!
//! Each line's net amount is its `line_total` when the line has one, else quantity ×
//! unit_price × (1 − discount) − discount_amount, rounded to `scale` places (half away from
//! zero, as invoices do); a line that has both must agree within the tolerance. Its tax is
//! `tax_amount`, else the net amount × `tax_rate`. The lines add up to Σ net + Σ tax (the tax
//! rounded once, over the document, as ERPs round tax by default). When that differs from the
//! header's field by more than `tolerance`, the record is dead-lettered with both amounts in
//! its error and nothing is written. The check runs on the canonical record, after the mapping
//! and the `validate:` rules, so it guards whichever system the flow writes.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConfigIssue, FlowConfig};
use crate::entity::FieldType;

/// Most decimal places `scale` may ask for.
pub const MAX_TOTALS_SCALE: u32 = 10;

/// `totals:` of a flow: the header field its lines must add up to, and how closely.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotalsConfig {
    /// The header field the lines must add up to. Default: `total` (tax included).
    #[serde(default = "default_field")]
    pub field: String,
    /// Whether `field` includes tax (`total`: yes; `subtotal`: no). Default: true.
    #[serde(default = "default_true")]
    pub with_tax: bool,
    /// The largest difference accepted between the lines' sum and the field, for rounding.
    /// Default: `0.01`.
    #[serde(default = "default_tolerance")]
    pub tolerance: Decimal,
    /// Decimal places each line's net amount and the tax are rounded to. Default: 2.
    #[serde(default = "default_scale")]
    pub scale: u32,
}

impl Default for TotalsConfig {
    fn default() -> Self {
        Self {
            field: default_field(),
            with_tax: true,
            tolerance: default_tolerance(),
            scale: default_scale(),
        }
    }
}

fn default_field() -> String {
    "total".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_tolerance() -> Decimal {
    Decimal::new(1, 2)
}

fn default_scale() -> u32 {
    2
}

/// Checks a flow's `totals:` against its entity and mapping; problems are reported at
/// `flows.<flow>.totals.<key>`.
pub(crate) fn check(flow_name: &str, flow: &FlowConfig) -> Vec<ConfigIssue> {
    let Some(totals) = &flow.totals else {
        return Vec::new();
    };
    let at = |rest: &[&str]| {
        let mut p = vec![
            "flows".to_owned(),
            flow_name.to_owned(),
            "totals".to_owned(),
        ];
        p.extend(rest.iter().map(|s| (*s).to_owned()));
        p
    };
    let mut issues = Vec::new();
    let produced =
        |field: &str| flow.mapping.fields.contains_key(field) || flow.mapping.vrl.is_some();
    if flow.entity.field("lines").map(|f| f.ty) != Some(FieldType::Lines) {
        issues.push(ConfigIssue::at(
            at(&[]),
            format!(
                "{} has no lines: totals are checked on documents (sales_order, invoice)",
                flow.entity
            ),
        ));
    } else if !produced("lines") {
        issues.push(ConfigIssue::at(
            at(&[]),
            "the mapping must produce `lines`, the lines whose totals are checked",
        ));
    }
    issues.extend(total_field(
        flow,
        &totals.field,
        at(&["field"]),
        "the total the lines are checked against",
    ));
    if totals.tolerance.is_sign_negative() {
        issues.push(ConfigIssue::at(at(&["tolerance"]), "must not be negative"));
    }
    if totals.scale > MAX_TOTALS_SCALE {
        issues.push(ConfigIssue::at(
            at(&["scale"]),
            format!("at most {MAX_TOTALS_SCALE} decimal places"),
        ));
    }
    issues
}

/// A header field holding a document's total (`totals.field`, `vat.total`): a decimal field
/// of the entity (or an `extra.` one) that the mapping produces. Problems are reported at
/// `at`; `role` says what the field is for.
pub(crate) fn total_field(
    flow: &FlowConfig,
    field: &str,
    at: Vec<String>,
    role: &str,
) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    match flow.entity.field(field) {
        Some(def) if def.ty == FieldType::Decimal => {}
        Some(def) => issues.push(ConfigIssue::at(
            at.clone(),
            format!(
                "`{field}` is a {} field; a total is a decimal",
                def.ty.as_str()
            ),
        )),
        None if field.starts_with("extra.") => {}
        None => issues.push(ConfigIssue::at(
            at.clone(),
            format!("unknown field `{field}` for entity {}", flow.entity),
        )),
    }
    let produced = flow.mapping.fields.contains_key(field) || flow.mapping.vrl.is_some();
    if !produced {
        issues.push(ConfigIssue::at(
            at,
            format!("the mapping must produce `{field}`, {role}"),
        ));
    }
    issues
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::load_str;

    const BASE: &str = "\
systems:
  crm: { kind: sql, url: \"sqlite://crm.db\" }
  erp: { kind: sql, url: \"sqlite://erp.db\" }
flows:
  orders:
    entity: ENTITY
    source: { system: crm, table: deals }
    target: { system: erp, table: sales }
    TOTALS
    mapping:
      KEY: number
      total: amount
      lines: { from: items, fields: { quantity: qty, unit_price: price } }
";

    fn load(entity: &str, totals: &str) -> Result<super::TotalsConfig, Vec<String>> {
        let key = if entity == "customer" {
            "code"
        } else {
            "number"
        };
        let yaml = BASE
            .replace("ENTITY", entity)
            .replace("KEY", key)
            .replace("TOTALS", totals);
        let loaded = load_str(Path::new("ferry.yaml"), &yaml).map_err(|e| e.problems)?;
        Ok(loaded.config.flows["orders"].totals.clone().unwrap())
    }

    #[test]
    fn defaults_and_a_stated_tolerance() {
        let t = load("sales_order", "totals: {}").unwrap();
        assert_eq!(t, super::TotalsConfig::default());
        assert_eq!(t.tolerance.to_string(), "0.01");
        let t = load("invoice", "totals: { tolerance: \"0.05\", scale: 3 }").unwrap();
        assert_eq!((t.tolerance.to_string(), t.scale), ("0.05".to_owned(), 3));
        let t = load("sales_order", "totals: { tolerance: 0.02 }").unwrap();
        assert_eq!(
            t.tolerance.to_string(),
            "0.02",
            "a YAML number reads exactly"
        );
    }

    #[test]
    fn misplaced_totals_are_refused_at_their_keys() {
        let problems = load("customer", "totals: {}").unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("totals: customer has no lines")),
            "{problems:?}"
        );
        let problems = load("sales_order", "totals: { field: status }").unwrap_err();
        assert!(
            problems[0].contains("totals.field: `status` is a text field"),
            "{problems:?}"
        );
        let problems = load("sales_order", "totals: { field: subtotal }").unwrap_err();
        assert!(
            problems[0].contains("the mapping must produce `subtotal`"),
            "{problems:?}"
        );
        let problems = load("sales_order", "totals: { tolerance: \"-1\", scale: 30 }").unwrap_err();
        assert!(
            problems[0].contains("totals.tolerance: must not be negative")
                && problems[1].contains("totals.scale: at most 10"),
            "{problems:?}"
        );
        let problems = load("sales_order", "totals: { colour: blue }").unwrap_err();
        assert!(problems[0].contains("colour"), "{problems:?}");
    }
}
