//! The VAT rule of a document flow (`vat:`, see `ferry_model::config::vat`): each line's net
//! amount, tax and gross amount from its price, quantity and rate, rounded to the fen per
//! line; a source total's rounding difference put on one line; the header's sums set. All in
//! exact decimals.

use ferry_model::Entity;
use ferry_model::config::VatConfig;
use ferry_model::config::vat::{DifferenceTo, PriceBasis};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};

use crate::totals::Failure;
use crate::values::{is_empty, to_decimal};

/// One line's amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Amounts {
    net: Decimal,
    tax: Decimal,
    gross: Decimal,
}

/// Computes the lines' amounts and the header's sums in `mapped`.
pub(crate) fn apply(
    config: &VatConfig,
    entity: Entity,
    mapped: &mut Map<String, Value>,
) -> Result<(), Failure> {
    let source_total = match &config.total {
        Some(field) => match mapped.get(field) {
            Some(v) if !is_empty(v) => Some(to_decimal(v).map_err(|why| (field.clone(), why))?),
            _ => None,
        },
        None => None,
    };
    let mut amounts = Vec::new();
    if let Some(Value::Array(lines)) = mapped.get_mut("lines") {
        for (i, line) in lines.iter_mut().enumerate() {
            let at = |name: &str| format!("lines[{}].{name}", i + 1);
            let Some(line) = line.as_object_mut() else {
                return Err((format!("lines[{}]", i + 1), "is not an object".to_owned()));
            };
            amounts.push(line_amounts(config, line).map_err(|(name, why)| (at(name), why))?);
        }
    } else if !mapped.get("lines").is_none_or(Value::is_null) {
        return Err(("lines".to_owned(), "is not a list of lines".to_owned()));
    }
    if let (Some(total), Some(field)) = (source_total, &config.total) {
        settle(config, field, total, &mut amounts)?;
    }
    if let Some(Value::Array(lines)) = mapped.get_mut("lines") {
        for (line, a) in lines.iter_mut().zip(&amounts) {
            if let Some(line) = line.as_object_mut() {
                put(line, "line_total", a.net);
                put(line, "tax_amount", a.tax);
                put(line, "gross_amount", a.gross);
            }
        }
    }
    let sum = |f: fn(&Amounts) -> Decimal| amounts.iter().map(f).sum::<Decimal>();
    for (field, value) in [
        ("subtotal", sum(|a| a.net)),
        ("tax_total", sum(|a| a.tax)),
        ("total", sum(|a| a.gross)),
    ] {
        if entity.field(field).is_some() {
            put(mapped, field, value);
        }
    }
    Ok(())
}

/// One line's amounts; sets its net and gross unit prices.
fn line_amounts(
    config: &VatConfig,
    line: &mut Map<String, Value>,
) -> Result<Amounts, (&'static str, String)> {
    let get = |name: &'static str| match line.get(name) {
        Some(v) if !is_empty(v) => to_decimal(v).map(Some).map_err(|why| (name, why)),
        _ => Ok(None),
    };
    let quantity = get("quantity")?.ok_or(("quantity", needed()))?;
    let price = get("unit_price")?.ok_or(("unit_price", needed()))?;
    let rate = get("tax_rate")?.ok_or(("tax_rate", needed()))?;
    if !config.rates.contains(&rate) {
        let known: Vec<String> = config.rates.iter().map(Decimal::to_string).collect();
        return Err((
            "tax_rate",
            format!(
                "{rate} is not one of the flow's VAT rates ({}); a rate is a fraction: 13 % is 0.13",
                known.join(", ")
            ),
        ));
    }
    let discount = get("discount")?.unwrap_or_default();
    let discount_amount = get("discount_amount")?.unwrap_or_default();
    let base = round(
        quantity * price * (Decimal::ONE - discount) - discount_amount,
        config.scale,
    );
    let one_plus = Decimal::ONE + rate;
    let (amounts, net_price, gross_price) = match config.prices {
        PriceBasis::Gross => {
            let net = round(base / one_plus, config.scale);
            let net_price = if quantity.is_zero() {
                price / one_plus
            } else {
                net / quantity
            };
            (
                Amounts {
                    net,
                    tax: base - net,
                    gross: base,
                },
                net_price,
                price,
            )
        }
        PriceBasis::Net => {
            let tax = round(base * rate, config.scale);
            let amounts = Amounts {
                net: base,
                tax,
                gross: base + tax,
            };
            (amounts, price, price * one_plus)
        }
    };
    put(line, "unit_price", round(net_price, config.price_scale));
    put(line, "gross_price", round(gross_price, config.price_scale));
    Ok(amounts)
}

/// Makes the lines add up to the source's `total`: a difference within the tolerance goes on
/// one line's tax and gross amount.
fn settle(
    config: &VatConfig,
    field: &str,
    total: Decimal,
    amounts: &mut [Amounts],
) -> Result<(), Failure> {
    let sum: Decimal = amounts.iter().map(|a| a.gross).sum();
    let off = total - sum;
    if off.is_zero() {
        return Ok(());
    }
    if off.abs() > config.tolerance || amounts.is_empty() {
        return Err((
            field.to_owned(),
            format!(
                "the lines add up to {sum} including VAT but `{field}` is {total}: off by {}, more than the rounding tolerance {}",
                off.abs(),
                config.tolerance
            ),
        ));
    }
    let index = match config.difference_to {
        DifferenceTo::LastLine => amounts.len() - 1,
        DifferenceTo::LargestLine => {
            let mut best = 0;
            for (i, a) in amounts.iter().enumerate() {
                if a.gross > amounts[best].gross {
                    best = i;
                }
            }
            best
        }
    };
    amounts[index].tax += off;
    amounts[index].gross += off;
    Ok(())
}

fn put(map: &mut Map<String, Value>, field: &str, value: Decimal) {
    map.insert(
        field.to_owned(),
        Value::String(value.normalize().to_string()),
    );
}

fn needed() -> String {
    "is missing: the line's VAT cannot be computed without it".to_owned()
}

/// Half away from zero, as invoices round.
fn round(d: Decimal, scale: u32) -> Decimal {
    d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(prices: &str, total: Option<&str>) -> VatConfig {
        serde_json::from_value(json!({"prices": prices, "total": total})).unwrap()
    }

    fn lines(mapped: &Map<String, Value>, field: &str) -> Vec<String> {
        mapped["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l[field].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn gross_prices_are_split_per_line_to_the_fen() {
        // Three lines of ¥33.33 at 13 %: per line, 33.33 / 1.13 = 29.495… → 29.50, tax 3.83.
        let line = json!({"quantity": "1", "unit_price": "33.33", "tax_rate": "0.13"});
        let mut mapped = json!({"number": "SO-1", "lines": [line, line, line]})
            .as_object()
            .cloned()
            .unwrap();
        apply(&config("gross", None), Entity::SALES_ORDER, &mut mapped).unwrap();
        assert_eq!(lines(&mapped, "line_total"), ["29.5", "29.5", "29.5"]);
        assert_eq!(lines(&mapped, "tax_amount"), ["3.83", "3.83", "3.83"]);
        assert_eq!(lines(&mapped, "gross_amount"), ["33.33", "33.33", "33.33"]);
        assert_eq!(lines(&mapped, "unit_price"), ["29.5", "29.5", "29.5"]);
        assert_eq!(mapped["subtotal"], json!("88.5"));
        assert_eq!(
            mapped["tax_total"],
            json!("11.49"),
            "per line, not 99.99 − 88.49"
        );
        assert_eq!(mapped["total"], json!("99.99"));
    }

    #[test]
    fn net_prices_gain_their_tax_per_line_with_discounts() {
        let mut mapped = json!({"lines": [
            {"quantity": "3", "unit_price": "10.00", "tax_rate": "0.09", "discount": "0.1"},
            {"quantity": "2", "unit_price": "4.99", "tax_rate": "0.06", "discount_amount": "1"},
            {"quantity": "1", "unit_price": "5", "tax_rate": "0"},
        ]})
        .as_object()
        .cloned()
        .unwrap();
        apply(&config("net", None), Entity::INVOICE, &mut mapped).unwrap();
        assert_eq!(lines(&mapped, "line_total"), ["27", "8.98", "5"]);
        assert_eq!(lines(&mapped, "tax_amount"), ["2.43", "0.54", "0"]);
        assert_eq!(lines(&mapped, "gross_price"), ["10.9", "5.2894", "5"]);
        assert_eq!(mapped["total"], json!("43.95"));
    }

    #[test]
    fn a_source_total_within_rounding_is_kept_and_the_difference_goes_on_one_line() {
        let line = |q: &str| json!({"quantity": q, "unit_price": "0.333", "tax_rate": "0.13"});
        let doc = |total: &str| {
            json!({"total": total, "lines": [line("10"), line("100"), line("1")]})
                .as_object()
                .cloned()
                .unwrap()
        };
        // Lines: 3.33 + 33.30 + 0.33 = 36.96; the source printed 36.97.
        let mut mapped = doc("36.97");
        apply(
            &config("gross", Some("total")),
            Entity::SALES_ORDER,
            &mut mapped,
        )
        .unwrap();
        assert_eq!(
            lines(&mapped, "gross_amount"),
            ["3.33", "33.31", "0.33"],
            "the largest line"
        );
        assert_eq!(mapped["total"], json!("36.97"));
        let tax: Decimal = lines(&mapped, "tax_amount")
            .iter()
            .map(|t| t.parse::<Decimal>().unwrap())
            .sum();
        let net: Decimal = lines(&mapped, "line_total")
            .iter()
            .map(|t| t.parse::<Decimal>().unwrap())
            .sum();
        assert_eq!(net + tax, "36.97".parse::<Decimal>().unwrap());

        let mut last = doc("36.95");
        let mut cfg = config("gross", Some("total"));
        cfg.difference_to = DifferenceTo::LastLine;
        apply(&cfg, Entity::SALES_ORDER, &mut last).unwrap();
        assert_eq!(lines(&last, "gross_amount"), ["3.33", "33.3", "0.32"]);

        let (field, why) = apply(
            &config("gross", Some("total")),
            Entity::SALES_ORDER,
            &mut doc("40"),
        )
        .unwrap_err();
        assert_eq!(field, "total");
        assert!(
            why.contains("36.96") && why.contains("off by 3.04"),
            "{why}"
        );
    }

    #[test]
    fn a_rate_outside_the_list_names_its_line() {
        let mut mapped = json!({"lines": [
            {"quantity": "1", "unit_price": "1", "tax_rate": "0.13"},
            {"quantity": "1", "unit_price": "1", "tax_rate": "13"},
        ]})
        .as_object()
        .cloned()
        .unwrap();
        let (field, why) =
            apply(&config("gross", None), Entity::SALES_ORDER, &mut mapped).unwrap_err();
        assert_eq!(field, "lines[2].tax_rate");
        assert!(why.contains("13 % is 0.13"), "{why}");
    }
}
