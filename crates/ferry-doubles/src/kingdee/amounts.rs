//! Amounts the server computes on save: each line's amount and tax-included amount from
//! its quantity, prices and tax rate, and the bill's total. A client's values for them are
//! ignored.

use serde_json::{Map, Value};

use super::columns::number_of;
use super::forms::Form;

/// Fills the computed amounts of `fields` (a bill's header with its lines) in place.
pub fn compute(form: &Form, fields: &mut Map<String, Value>) {
    let Some(entry) = form.entry else {
        return;
    };
    if let Some(pricing) = form.pricing
        && let Some(Value::Array(lines)) = fields.get_mut(entry.key)
    {
        for line in lines.iter_mut().filter_map(Value::as_object_mut) {
            price_line(line, pricing.qty, pricing.amount, pricing.all_amount);
        }
    }
    if let Some(total) = form.total {
        let sum: f64 = fields
            .get(entry.key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get(total.line).and_then(number_of))
            .sum();
        fields.insert(total.header.into(), round(sum, 2).into());
    }
}

fn price_line(line: &mut Map<String, Value>, qty: &str, amount: &str, all_amount: &str) {
    let get = |line: &Map<String, Value>, key: &str| line.get(key).and_then(number_of);
    let rate = get(line, "FEntryTaxRate").unwrap_or(0.0);
    let factor = 1.0 + rate / 100.0;
    let (price, tax_price) = match (get(line, "FPrice"), get(line, "FTaxPrice")) {
        (Some(p), Some(t)) => (p, t),
        (Some(p), None) => (p, round(p * factor, 6)),
        (None, Some(t)) => (round(t / factor, 6), t),
        (None, None) => (0.0, 0.0),
    };
    let qty = get(line, qty).unwrap_or(0.0);
    line.insert("FPrice".into(), price.into());
    line.insert("FTaxPrice".into(), tax_price.into());
    line.insert(amount.into(), round(qty * price, 2).into());
    line.insert(all_amount.into(), round(qty * tax_price, 2).into());
}

/// `value` rounded to `digits` decimals.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kingdee::forms::SAL_SALEORDER;

    #[test]
    fn lines_and_the_total_are_computed_from_qty_prices_and_rate() {
        let mut fields = json!({"FSaleOrderEntry": [
            {"FQty": 2.0, "FPrice": 100.0, "FEntryTaxRate": 13.0},
            {"FQty": 3.0, "FTaxPrice": 11.3, "FEntryTaxRate": 13.0, "FAllAmount": 1.0},
        ]})
        .as_object()
        .unwrap()
        .clone();
        compute(&SAL_SALEORDER, &mut fields);
        let lines = fields["FSaleOrderEntry"].as_array().unwrap();
        assert_eq!(lines[0]["FTaxPrice"], json!(113.0));
        assert_eq!(lines[0]["FAllAmount"], json!(226.0));
        assert_eq!(lines[1]["FPrice"], json!(10.0));
        assert_eq!(lines[1]["FAmount"], json!(30.0));
        assert_eq!(lines[1]["FAllAmount"], json!(33.9));
        assert_eq!(fields["FBillAllAmount"], json!(259.9));
    }
}
