//! The totals check of a document flow (`totals:`, see `ferry_model::config::totals`): the
//! mapped lines must add up to the header's total within the stated tolerance. All in exact
//! decimals.

use ferry_model::config::TotalsConfig;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};

use crate::values::{is_empty, to_decimal};

/// What the lines of a document add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sum {
    pub net: Decimal,
    pub tax: Decimal,
}

/// A failed check: the canonical field at fault (`total`, `lines[2].quantity`) and why.
pub(crate) type Failure = (String, String);

/// Checks a mapped record's lines against its total.
pub(crate) fn check(config: &TotalsConfig, mapped: &Map<String, Value>) -> Result<(), Failure> {
    let field = config.field.as_str();
    let total = match mapped.get(field) {
        Some(v) if !is_empty(v) => to_decimal(v).map_err(|why| (field.to_owned(), why))?,
        _ => {
            return Err((
                field.to_owned(),
                "is empty, so the lines cannot be checked against it".to_owned(),
            ));
        }
    };
    let sum = sum_lines(config, mapped.get("lines"))?;
    let expected = if config.with_tax {
        sum.net + sum.tax
    } else {
        sum.net
    };
    let off = (expected - total).abs();
    if off <= config.tolerance {
        return Ok(());
    }
    let parts = if config.with_tax {
        format!(" (net {} + tax {})", sum.net, sum.tax)
    } else {
        String::new()
    };
    Err((
        field.to_owned(),
        format!(
            "the lines add up to {expected}{parts} but `{field}` is {total}: off by {off}, more than the tolerance {}",
            config.tolerance
        ),
    ))
}

/// The net amount and tax of the lines (none: zero).
pub(crate) fn sum_lines(config: &TotalsConfig, lines: Option<&Value>) -> Result<Sum, Failure> {
    let lines: &[Value] = match lines {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => return Err(("lines".to_owned(), "is not a list of lines".to_owned())),
    };
    let mut sum = Sum {
        net: Decimal::ZERO,
        tax: Decimal::ZERO,
    };
    for (i, line) in lines.iter().enumerate() {
        // Lines are numbered from 1 in errors, like `line_no`.
        let at = |name: &str| format!("lines[{}].{name}", i + 1);
        let Some(line) = line.as_object() else {
            return Err((format!("lines[{}]", i + 1), "is not an object".to_owned()));
        };
        let net = line_net(config, line).map_err(|(name, why)| (at(name), why))?;
        let tax = match amount(line, "tax_amount").map_err(|why| (at("tax_amount"), why))? {
            Some(tax) => tax,
            None => {
                let rate = amount(line, "tax_rate").map_err(|why| (at("tax_rate"), why))?;
                net * rate.unwrap_or_default()
            }
        };
        sum.net += net;
        sum.tax += tax;
    }
    sum.tax = round(sum.tax, config.scale);
    Ok(sum)
}

/// A line's net amount: its `line_total`, which must agree with quantity × unit_price ×
/// (1 − discount) − discount_amount when the line gives those, else that product, rounded.
fn line_net(
    config: &TotalsConfig,
    line: &Map<String, Value>,
) -> Result<Decimal, (&'static str, String)> {
    let get = |name: &'static str| amount(line, name).map_err(|why| (name, why));
    let (quantity, price) = (get("quantity")?, get("unit_price")?);
    let given = get("line_total")?;
    let (quantity, price) = match (quantity, price, given) {
        (Some(q), Some(p), _) => (q, p),
        (_, _, Some(total)) => return Ok(total),
        (None, _, None) => return Err(("quantity", needed())),
        (_, None, None) => return Err(("unit_price", needed())),
    };
    let discount = get("discount")?.unwrap_or_default();
    let discount_amount = get("discount_amount")?.unwrap_or_default();
    let computed = round(
        quantity * price * (Decimal::ONE - discount) - discount_amount,
        config.scale,
    );
    match given {
        None => Ok(computed),
        Some(total) if (total - computed).abs() <= config.tolerance => Ok(total),
        Some(total) => Err((
            "line_total",
            format!(
                "is {total}, but quantity {quantity} × unit_price {price} less its discount gives {computed}"
            ),
        )),
    }
}

fn needed() -> String {
    "is missing: the line's amount cannot be checked without it (or give `line_total`)".to_owned()
}

/// A decimal field of a line; absent or empty is `None`.
fn amount(line: &Map<String, Value>, name: &str) -> Result<Option<Decimal>, String> {
    match line.get(name) {
        Some(v) if !is_empty(v) => to_decimal(v).map(Some),
        _ => Ok(None),
    }
}

/// Half away from zero, as invoices round.
fn round(d: Decimal, scale: u32) -> Decimal {
    d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn totals() -> TotalsConfig {
        TotalsConfig::default()
    }

    /// Three lines: 3 × 10.00 less 10 % = 27.00; 1 × 150.00 = 150.00; 2 × 10.05 less 1.00 =
    /// 19.10. Net 196.10, VAT 13 % = 25.493 → 25.49, total 221.59.
    fn order(total: &str) -> Map<String, Value> {
        record(json!({"number": "SO-1", "total": total, "lines": [
            {"quantity": "3", "unit_price": "10.00", "discount": "0.1", "tax_rate": "0.13"},
            {"quantity": 1, "unit_price": 150, "tax_rate": "0.13", "line_total": "150.00"},
            {"quantity": "2", "unit_price": "10.05", "discount_amount": "1.00", "tax_rate": "0.13"},
        ]}))
    }

    #[test]
    fn lines_that_add_up_to_the_total_pass() {
        assert_eq!(check(&totals(), &order("221.59")), Ok(()));
        let sum = sum_lines(&totals(), order("0").get("lines")).unwrap();
        assert_eq!(
            (sum.net.to_string(), sum.tax.to_string()),
            ("196.10".to_owned(), "25.49".to_owned())
        );
        // Within the stated rounding.
        assert_eq!(check(&totals(), &order("221.60")), Ok(()));
    }

    #[test]
    fn a_mismatch_names_both_amounts() {
        let (field, why) = check(&totals(), &order("210.00")).unwrap_err();
        assert_eq!(field, "total");
        assert!(
            why.contains("221.59") && why.contains("210.00") && why.contains("11.59"),
            "{why}"
        );
        let loose = TotalsConfig {
            tolerance: Decimal::new(12, 0),
            ..totals()
        };
        assert_eq!(check(&loose, &order("210.00")), Ok(()));
    }

    #[test]
    fn a_total_before_tax_and_per_line_tax_amounts() {
        let subtotal = TotalsConfig {
            field: "subtotal".into(),
            with_tax: false,
            ..totals()
        };
        let mut o = order("0");
        o.insert("subtotal".into(), json!("196.10"));
        assert_eq!(check(&subtotal, &o), Ok(()));
        let o = record(json!({"total": "11.30", "lines": [
            {"line_total": "10.00", "tax_amount": "1.30"}]}));
        assert_eq!(check(&totals(), &o), Ok(()));
    }

    #[test]
    fn lines_that_cannot_be_checked_say_which_field() {
        let o = record(json!({"total": "10", "lines": [{"unit_price": "10"}]}));
        assert_eq!(check(&totals(), &o).unwrap_err().0, "lines[1].quantity");
        let o = record(json!({"total": "10", "lines": [{"quantity": "1", "unit_price": "x"}]}));
        assert_eq!(check(&totals(), &o).unwrap_err().0, "lines[1].unit_price");
        let o = record(json!({"lines": []}));
        assert_eq!(check(&totals(), &o).unwrap_err().0, "total");
        let o = record(json!({"total": "9", "lines": [
            {"quantity": "1", "unit_price": "10", "line_total": "9"}]}));
        let (field, why) = check(&totals(), &o).unwrap_err();
        assert_eq!(field, "lines[1].line_total");
        assert!(why.contains("10"), "{why}");
        // No lines: they add up to zero.
        assert_eq!(check(&totals(), &record(json!({"total": "0"}))), Ok(()));
    }
}
