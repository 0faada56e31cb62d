//! The starting records, the same every run: Accounts (Chinese and English names, a credit
//! limit, `ERP_Id__c`; two share a `Legacy_Code__c` so an upsert by it answers 300), their
//! Contacts, Products, the standard and a channel Price Book with entries, Opportunities
//! with line items, and Orders with items. Each object's records are stamped from
//! [`SEED_EPOCH`] a minute apart, except that three Accounts share one second (a tie at
//! `SystemModstamp`).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::answer::datetime;
use super::ids::sf_id;
use super::schema::sobject;
use crate::store::RecordStore;

/// The modified time of each object's first seeded record.
pub const SEED_EPOCH: &str = "2024-05-01T01:00:00Z";

/// The `SystemModstamp` three seeded Accounts share (C003, C004, C005).
pub const TIED_AT: &str = "2024-05-01T01:02:00Z";

struct Seeder<'a> {
    store: &'a RecordStore,
    epoch: DateTime<Utc>,
}

impl Seeder<'_> {
    /// Inserts `fields` into `object` at the `minute`-th minute after the epoch; its id.
    fn put(&self, object: &str, minute: i64, fields: Value) -> String {
        let at = self.epoch + Duration::minutes(minute);
        let mut fields = fields.as_object().cloned().unwrap_or_default();
        fields.insert("LastModifiedDate".into(), datetime(at).into());
        let record = self
            .store
            .insert_at(object, fields, at)
            .expect("seed records are valid");
        sf_id(sobject(object).expect("a served object"), record.id)
    }
}

/// Fills `store` (its objects are declared by the caller).
pub fn fill(store: &RecordStore) {
    let epoch = SEED_EPOCH.parse().expect("the seed epoch is a time");
    let s = Seeder { store, epoch };
    let accounts = [
        (
            "上海摆渡贸易有限公司",
            "C001",
            500_000,
            "上海",
            "CN",
            "L-EAST",
            "Wholesale",
            0,
        ),
        (
            "Acme Industrial Supply",
            "C002",
            120_000,
            "Chicago",
            "US",
            "L-NA",
            "Manufacturing",
            1,
        ),
        (
            "杭州青禾电子科技有限公司",
            "C003",
            80_000,
            "杭州",
            "CN",
            "L-EAST",
            "Electronics",
            2,
        ),
        (
            "Northwind Traders",
            "C004",
            50_000,
            "Seattle",
            "US",
            "L-NA2",
            "Retail",
            2,
        ),
        (
            "深圳启明星物流有限公司",
            "C005",
            200_000,
            "深圳",
            "CN",
            "L-SOUTH",
            "Transportation",
            2,
        ),
        (
            "Globex Corporation",
            "C006",
            300_000,
            "Springfield",
            "US",
            "L-NA3",
            "Energy",
            3,
        ),
        (
            "Initech GmbH",
            "C008",
            75_000,
            "München",
            "DE",
            "L-EU",
            "Technology",
            4,
        ),
    ];
    let acc: Vec<String> = accounts
        .iter()
        .map(|(name, erp, credit, city, country, legacy, industry, minute)| {
            s.put("Account", *minute, json!({
                "Name": name, "ERP_Id__c": erp, "Credit_Limit__c": credit, "BillingCity": city,
                "BillingCountry": country, "Legacy_Code__c": legacy, "Industry": industry,
                "Type": "Customer - Direct", "Phone": format!("+86 21 5555 01{:02}", minute * 7 % 100),
            }))
        })
        .collect();
    // Not yet synchronised with the ERP: no ERP_Id__c.
    s.put("Account", 5, json!({"Name": "成都天府餐饮管理有限公司", "BillingCity": "成都", "BillingCountry": "CN", "Credit_Limit__c": 30_000, "Type": "Prospect"}));
    for (i, (first, last, email, account)) in [
        ("芳", "王", "wang.fang@baidu-trade.cn", 0),
        ("强", "李", "li.qiang@baidu-trade.cn", 0),
        ("John", "Smith", "john.smith@acme.example", 1),
        ("静", "陈", "chen.jing@qinghe.example", 2),
        ("Maria", "Garcia", "maria@northwind.example", 3),
        ("洋", "刘", "liu.yang@qimingxing.example", 4),
    ]
    .into_iter()
    .enumerate()
    {
        s.put("Contact", i as i64, json!({"FirstName": first, "LastName": last, "Email": email, "AccountId": acc[account], "ERP_Id__c": format!("P{:03}", i + 1)}));
    }
    let products = [
        ("工业传感器 TS-100", "TS-100", "Sensors", 1280.0, "个"),
        ("伺服电机 SM-200", "SM-200", "Motors", 5600.0, "台"),
        ("PLC 控制器 PLC-300", "PLC-300", "Controllers", 9800.0, "台"),
        ("Cable Harness CH-10", "CH-10", "Accessories", 45.5, "Each"),
        (
            "安装服务 Installation",
            "SVC-INST",
            "Services",
            3000.0,
            "次",
        ),
    ];
    let prod: Vec<(String, f64)> = products
        .iter()
        .enumerate()
        .map(|(i, (name, code, family, price, unit))| {
            let id = s.put("Product2", i as i64, json!({"Name": name, "ProductCode": code, "Family": family, "IsActive": true, "QuantityUnitOfMeasure": unit, "StockKeepingUnit": code, "ERP_Id__c": format!("M-{code}")}));
            (id, *price)
        })
        .collect();
    let standard = s.put(
        "Pricebook2",
        0,
        json!({"Name": "Standard Price Book", "IsActive": true, "IsStandard": true}),
    );
    let channel = s.put(
        "Pricebook2",
        1,
        json!({"Name": "2024 渠道价目表 / Channel 2024", "IsActive": true, "IsStandard": false}),
    );
    let mut entries = Vec::new();
    for (i, (product, price)) in prod.iter().enumerate() {
        entries.push(s.put("PricebookEntry", i as i64, json!({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": price, "IsActive": true, "CurrencyIsoCode": "CNY"})));
    }
    for (i, (product, price)) in prod.iter().take(3).enumerate() {
        s.put("PricebookEntry", 5 + i as i64, json!({"Pricebook2Id": channel, "Product2Id": product, "UnitPrice": (price * 0.9 * 100.0).round() / 100.0, "IsActive": true, "CurrencyIsoCode": "CNY"}));
    }
    for (i, (name, account, stage, close, lines)) in [
        (
            "摆渡贸易 2024 产线升级",
            0,
            "Negotiation/Review",
            "2024-07-31",
            &[(1, 4.0), (2, 2.0)][..],
        ),
        (
            "Acme Q3 Replenishment",
            1,
            "Proposal/Price Quote",
            "2024-09-30",
            &[(3, 500.0)][..],
        ),
        (
            "青禾电子 传感器试点",
            2,
            "Closed Won",
            "2024-05-20",
            &[(0, 20.0), (4, 1.0)][..],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let amount: f64 = lines.iter().map(|(p, q)| prod[*p].1 * q).sum();
        let opp = s.put("Opportunity", i as i64, json!({"Name": name, "AccountId": acc[account], "StageName": stage, "CloseDate": close, "Amount": amount, "Pricebook2Id": standard, "ERP_Id__c": format!("OPP-{:03}", i + 1)}));
        for (p, q) in lines {
            s.put("OpportunityLineItem", i as i64, json!({"OpportunityId": opp, "PricebookEntryId": entries[*p], "Product2Id": prod[*p].0, "Quantity": q, "UnitPrice": prod[*p].1}));
        }
    }
    for (i, (account, status, date, lines)) in [
        (0, "Draft", "2024-05-02", &[(0, 10.0), (3, 200.0)][..]),
        (1, "Activated", "2024-05-03", &[(1, 3.0)][..]),
        (4, "Draft", "2024-05-06", &[(2, 1.0), (4, 1.0)][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let order = s.put("Order", i as i64, json!({"AccountId": acc[account], "Status": status, "EffectiveDate": date, "Pricebook2Id": standard, "OrderNumber": format!("{:08}", 100 + i), "ERP_Id__c": format!("SO-2024-{:04}", i + 1)}));
        for (p, q) in lines {
            s.put("OrderItem", i as i64, json!({"OrderId": order, "PricebookEntryId": entries[*p], "Product2Id": prod[*p].0, "Quantity": q, "UnitPrice": prod[*p].1, "ServiceDate": date}));
        }
    }
}

/// Seeded Orders (the next `OrderNumber` follows them).
pub const ORDERS: u64 = 3;
