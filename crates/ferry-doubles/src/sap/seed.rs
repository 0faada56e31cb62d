//! The starting records: business partners that are customers (with a sales area and a
//! credit account), products with a description and a standard price, sales orders with
//! items, and for the first half of the orders an outbound delivery and a billing document
//! referencing them. Seed times tie: two records per second.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::config::SapSeed;
use super::entity::{KEY, REV};
use super::erp;
use super::orders::CREDIT_SEGMENT;
use super::values;
use crate::store::RecordStore;

/// When the seed's first record was changed: 2024-05-01T08:00:00Z.
pub fn seed_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_714_550_400, 0).unwrap_or_default()
}

/// Every top-level set is a store object keyed by `_key`.
pub const OBJECTS: [&str; 7] = [
    "A_BusinessPartner",
    "A_Customer",
    "A_Product",
    "A_SalesOrder",
    "A_OutbDeliveryHeader",
    "A_BillingDocument",
    "A_CreditManagementAccount",
];

const COMPANIES: [(&str, &str, &str); 6] = [
    ("Inlandkunde DE 1", "Walldorf", "69190"),
    ("Ferry Test Handels GmbH", "Berlin", "10115"),
    ("Nordlicht Maschinenbau AG", "Hamburg", "20095"),
    ("Alpen Logistik KG", "München", "80331"),
    ("Rhein Elektro GmbH", "Köln", "50667"),
    ("Elbe Pumpen GmbH", "Dresden", "01067"),
];

const PRODUCTS: [(&str, &str, &str); 6] = [
    ("TG11", "Trading Good 11, PD, Regular Trading", "10.00"),
    ("TG12", "Trading Good 12, PD, Regular Trading", "25.50"),
    ("TG13", "Trading Good 13, Batch, Regular Trading", "7.25"),
    ("FG126", "Finished Good 126, MTS, Serial", "1200.00"),
    ("RM14", "Raw Material 14, PD", "3.10"),
    ("SV01", "Service 01, Installation (hour)", "95.00"),
];

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The `n`-th seed time: two per second from the epoch.
fn at(n: usize) -> DateTime<Utc> {
    seed_epoch() + Duration::seconds((n / 2) as i64)
}

pub fn fill(store: &RecordStore, seed: &SapSeed) {
    for name in OBJECTS {
        store.define(name, KEY);
    }
    let mut tick = 0;
    let mut next = || {
        tick += 1;
        at(tick - 1)
    };
    let customers: Vec<String> = (0..seed.customers)
        .map(|i| format!("{}", 10_100_001 + i))
        .collect();
    for (i, bp) in customers.iter().enumerate() {
        let (name, city, postal) = COMPANIES[i % COMPANIES.len()];
        let partner = json!({
            "BusinessPartner": bp, "Customer": bp, "BusinessPartnerCategory": "2",
            "BusinessPartnerFullName": name, "OrganizationBPName1": name,
            "SearchTerm1": name.split_whitespace().next().unwrap_or("").to_uppercase(),
            "BusinessPartnerGrouping": "BP02", "BusinessPartnerIsBlocked": false,
            "to_BusinessPartnerAddress": [{"BusinessPartner": bp, "AddressID": "1", "StreetName": "Dietmar-Hopp-Allee",
                "HouseNumber": format!("{}", 16 + i), "PostalCode": postal, "CityName": city, "Region": "", "Country": "DE"}],
            "to_BusinessPartnerRole": [
                {"BusinessPartner": bp, "BusinessPartnerRole": "FLCU00", "ValidFrom": "/Date(1704067200000+0000)/"},
                {"BusinessPartner": bp, "BusinessPartnerRole": "FLCU01", "ValidFrom": "/Date(1704067200000+0000)/"}],
            KEY: bp, REV: 0,
        });
        let t = next();
        let _ = store.insert_at("A_BusinessPartner", object(partner), t);
        let customer = json!({
            "Customer": bp, "CustomerName": name, "CustomerAccountGroup": "CUST",
            "DeletionIndicator": false, "OrderIsBlockedForCustomer": "",
            "to_CustomerSalesArea": [{"Customer": bp, "SalesOrganization": "1010", "DistributionChannel": "10",
                "Division": "00", "Currency": "EUR", "CustomerPaymentTerms": "0004"}],
            KEY: bp, REV: 0,
        });
        let _ = store.insert_at("A_Customer", object(customer), t);
    }
    let products: Vec<(&str, f64)> = (0..seed.products)
        .map(|i| PRODUCTS[i % PRODUCTS.len()])
        .map(|(code, _, price)| (code, price.parse().unwrap_or(0.0)))
        .collect();
    for (i, (code, _)) in products.iter().enumerate() {
        let (_, description, price) = PRODUCTS[i % PRODUCTS.len()];
        let product = json!({
            "Product": code, "ProductType": if code.starts_with("SV") { "SERV" } else { "HAWA" },
            "BaseUnit": if code.starts_with("SV") { "H" } else { "PC" }, "ProductGroup": "L001",
            "GrossWeight": "1.000", "WeightUnit": "KG", "IsMarkedForDeletion": false, "CrossPlantStatus": "",
            "ProductOldID": format!("OLD-{code}"),
            "to_Description": [{"Product": code, "Language": "EN", "ProductDescription": description}],
            "to_Valuation": [{"Product": code, "ValuationArea": "1010", "StandardPrice": price,
                "MovingAveragePrice": price, "PriceUnitQty": "1", "Currency": "EUR"}],
            KEY: code, REV: 0,
        });
        let _ = store.insert_at("A_Product", object(product), next());
    }
    let mut exposure = vec![0.0; customers.len()];
    for n in 0..seed.sales_orders {
        if customers.is_empty() || products.is_empty() {
            break;
        }
        let order = format!("{}", 4_000_001 + n);
        let c = n % customers.len();
        let t = next();
        let items: Vec<Value> = (0..1 + n % 3)
            .map(|k| {
                let (material, price) = products[(n + k) % products.len()];
                let qty = (k + 1) as f64 * 2.0;
                json!({"SalesOrder": order, "SalesOrderItem": format!("{}", (k + 1) * 10), "Material": material,
                       "SalesOrderItemText": "", "RequestedQuantity": values::decimal(qty, 3),
                       "RequestedQuantityUnit": "PC", "NetAmount": values::decimal(qty * price, 2),
                       "TransactionCurrency": "EUR", "Plant": "1010", "SalesOrderItemCategory": "TAN",
                       "SDProcessStatus": if n < seed.sales_orders / 2 { "C" } else { "A" }})
            })
            .collect();
        let total: f64 = items
            .iter()
            .filter_map(|i| i["NetAmount"].as_str()?.parse::<f64>().ok())
            .sum();
        let done = n < seed.sales_orders / 2;
        exposure[c] += total;
        let header = json!({
            "SalesOrder": order, "SalesOrderType": "OR", "SalesOrganization": "1010", "DistributionChannel": "10",
            "OrganizationDivision": "00", "SoldToParty": customers[c], "PurchaseOrderByCustomer": format!("CRM-{:06}", n + 1),
            "SalesOrderDate": values::day(t), "RequestedDeliveryDate": values::day(t + Duration::days(7)),
            "TotalNetAmount": values::decimal(total, 2), "TransactionCurrency": "EUR", "CustomerPaymentTerms": "0004",
            "IncotermsClassification": "EXW", "OverallSDProcessStatus": if done { "C" } else { "A" },
            "OverallTotalDeliveryStatus": if done { "C" } else { "A" }, "OverallDeliveryStatus": if done { "C" } else { "A" },
            "TotalCreditCheckStatus": "A", "TotalBlockStatus": "",
            "to_Item": items, "to_Partner": [{"SalesOrder": order, "PartnerFunction": "SH", "Customer": customers[c]}],
            KEY: order, REV: 0,
        });
        let header = object(header);
        let _ = store.insert_at("A_SalesOrder", header.clone(), t);
        if done {
            documents(store, n, &header, t);
        }
    }
    for (i, bp) in customers.iter().enumerate() {
        let limit = if i == 0 { 500.0 } else { 50_000.0 };
        let account = json!({"BusinessPartner": bp, "CreditSegment": CREDIT_SEGMENT,
            "CustomerCreditLimitAmount": values::decimal(limit, 2), "CreditExposureAmount": values::decimal(exposure[i], 2),
            "CreditSegmentCurrency": "EUR", "CreditLimitIsExceeded": exposure[i] > limit,
            KEY: format!("{bp}|{CREDIT_SEGMENT}"), REV: 0});
        let _ = store.insert_at("A_CreditManagementAccount", object(account), seed_epoch());
    }
}

/// The outbound delivery and the billing document of a completed seed order, an hour later.
fn documents(store: &RecordStore, n: usize, order: &Map<String, Value>, t: DateTime<Utc>) {
    let later = t + Duration::hours(1);
    let delivery = format!("{}", 80_000_001 + n);
    let header = erp::delivery_document(&delivery, order, later);
    let _ = store.insert_at("A_OutbDeliveryHeader", header, later);
    let billing = format!("{}", 90_000_001 + n);
    let document = erp::billing_document(&billing, &delivery, order, later);
    let _ = store.insert_at("A_BillingDocument", document, later);
}
