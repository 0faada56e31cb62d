//! A document flow's VAT (增值税) rule (`vat:`): each line's amounts computed from its price,
//! quantity and rate, rounded to the fen (分) per line as Chinese ERPs do, and the header's
//! sums set from them.
//!
//! ```yaml
//! flows:
//!   orders:
//!     entity: sales_order
//!     vat:
//!       prices: gross            # the mapped unit_price includes VAT (含税); `net`: it does not (不含税)
//!       total: total             # the source's own total (含税): a rounding difference goes to a line
//!       difference_to: largest_line
//! ```
//!
//! Per line, with quantity `q`, the mapped `unit_price` `p`, `discount` `d`, `discount_amount`
//! `a` (in the same basis as `p`) and `tax_rate` `r` (a fraction, one of `rates`):
//!
//! - `prices: gross` (含税): `gross_amount` (价税合计) = round(q × p × (1 − d) − a),
//!   `line_total` (金额) = round(gross_amount ÷ (1 + r)), `tax_amount` (税额) = gross_amount −
//!   line_total; `gross_price` = p and `unit_price` becomes the net price, line_total ÷ q.
//! - `prices: net` (不含税): `line_total` = round(q × p × (1 − d) − a), `tax_amount` =
//!   round(line_total × r), `gross_amount` = line_total + tax_amount, `gross_price` = p × (1 + r).
//!
//! Amounts round to `scale` places (2: 分) and prices to `price_scale` (6, as K/3 Cloud and
//! YonBIP keep unit prices), half away from zero. The header's `subtotal`, `tax_total` and
//! `total` become the sums of the lines (where the entity has them). With `total:`, the
//! header's total as the source gave it is kept: a difference to the lines' sum up to
//! `tolerance` (rounding) is put on one line's tax and gross amount (`difference_to`), so the
//! document adds up to the fen the way the source printed it; a larger difference dead-letters
//! the record with both amounts. A line whose rate is not one of `rates` is dead-lettered too.
//! The rule runs after the mapping and before `validate:` and `totals:`.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConfigIssue, FlowConfig};
use crate::entity::FieldType;

/// Most decimal places `scale` and `price_scale` may ask for.
pub const MAX_VAT_SCALE: u32 = 10;

/// `vat:` of a document flow.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VatConfig {
    /// What the mapped lines' `unit_price` holds: `gross` (含税, default) or `net` (不含税).
    #[serde(default)]
    pub prices: PriceBasis,
    /// The rates a line may carry, as fractions. Default: 0.13, 0.09, 0.06, 0 (China's VAT).
    #[serde(default = "default_rates")]
    pub rates: Vec<Decimal>,
    /// Decimal places of amounts. Default: 2 (分).
    #[serde(default = "default_scale")]
    pub scale: u32,
    /// Decimal places of unit prices. Default: 6.
    #[serde(default = "default_price_scale")]
    pub price_scale: u32,
    /// A header field holding the source's own total including tax: the lines are made to
    /// add up to it (within `tolerance`). Default: none (the total becomes the lines' sum).
    #[serde(default)]
    pub total: Option<String>,
    /// The largest rounding difference put on a line. Default: 0.05.
    #[serde(default = "default_tolerance")]
    pub tolerance: Decimal,
    /// The line that takes a rounding difference. Default: `largest_line`.
    #[serde(default)]
    pub difference_to: DifferenceTo,
}

/// Whether prices include VAT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceBasis {
    /// 含税: prices include VAT.
    #[default]
    Gross,
    /// 不含税: prices exclude VAT.
    Net,
}

/// Which line takes a document's rounding difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceTo {
    /// The line with the largest gross amount (the first of equals).
    #[default]
    LargestLine,
    /// The last line.
    LastLine,
}

fn default_rates() -> Vec<Decimal> {
    ["0.13", "0.09", "0.06", "0"]
        .iter()
        .map(|r| r.parse().expect("a rate"))
        .collect()
}

fn default_scale() -> u32 {
    2
}

fn default_price_scale() -> u32 {
    6
}

fn default_tolerance() -> Decimal {
    Decimal::new(5, 2)
}

/// Checks a flow's `vat:` against its entity and mapping; problems are reported at
/// `flows.<flow>.vat.<key>`.
pub(crate) fn check(flow_name: &str, flow: &FlowConfig) -> Vec<ConfigIssue> {
    let Some(vat) = &flow.vat else {
        return Vec::new();
    };
    let at = |rest: &[&str]| {
        let mut p = vec!["flows".to_owned(), flow_name.to_owned(), "vat".to_owned()];
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
                "{} has no lines: VAT is computed on documents (sales_order, invoice)",
                flow.entity
            ),
        ));
    } else if !produced("lines") {
        issues.push(ConfigIssue::at(
            at(&[]),
            "the mapping must produce `lines`, whose amounts VAT is computed on",
        ));
    }
    if vat.rates.is_empty() {
        issues.push(ConfigIssue::at(
            at(&["rates"]),
            "list at least one rate (0.13 for 13 %)",
        ));
    }
    for (i, rate) in vat.rates.iter().enumerate() {
        if rate.is_sign_negative() || *rate >= Decimal::ONE {
            issues.push(ConfigIssue::at(
                at(&["rates", &i.to_string()]),
                format!("{rate} is not a rate: write 13 % as 0.13"),
            ));
        }
    }
    for (key, scale) in [("scale", vat.scale), ("price_scale", vat.price_scale)] {
        if scale > MAX_VAT_SCALE {
            issues.push(ConfigIssue::at(
                at(&[key]),
                format!("at most {MAX_VAT_SCALE} decimal places"),
            ));
        }
    }
    if vat.tolerance.is_sign_negative() {
        issues.push(ConfigIssue::at(at(&["tolerance"]), "must not be negative"));
    }
    if let Some(total) = &vat.total {
        issues.extend(super::totals::total_field(
            flow,
            total,
            at(&["total"]),
            "the source's total the lines are made to match",
        ));
    }
    issues
}
