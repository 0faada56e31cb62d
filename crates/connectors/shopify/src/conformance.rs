//! The conformance suite (`ferry-conformance`) against the Shopify double
//! (`ferry_doubles::shopify`, built from the published documentation, not a real shop):
//! customers read by `updated_at` (a first read by bulk operation, then cursor pages that
//! cut through ties) and written by `customerSet` with the flow's key in the
//! `erp.customer_no` metafield and the name as `lastName`. Seeds go straight into the
//! double's store at one frozen second; each later change is a second on. The double's
//! faults give the 503s, 429s and dropped connections; Shopify's tokens do not expire, so
//! the session check does not apply.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::shopify::{ACCESS_TOKEN, CLIENT_SECRET, ShopifyConfig, ShopifyDouble};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::ShopifyFactory;

const OBJECT: &str = "Customer";

/// The double, its customers emptied before each check.
pub struct Double {
    pub double: RunningDouble,
    pub shop: ShopifyDouble,
    faults: PlanFaults,
}

pub fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl Double {
    pub async fn start() -> Option<Self> {
        Some(Self::with(ShopifyConfig::default()).await)
    }

    pub async fn with(config: ShopifyConfig) -> Self {
        let shop = ShopifyDouble::new(config);
        let double = ferry_doubles::start(shop.clone(), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            .freeze_at("2026-03-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "POST", "/admin/api/**");
        Self {
            double,
            shop,
            faults,
        }
    }

    pub fn tick(&self) {
        self.double.clock().advance(chrono::TimeDelta::seconds(1));
    }
}

#[async_trait]
impl Fixture for Double {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(ShopifyFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": self.double.base_url(),
            "access_token": ACCESS_TOKEN,
            "client_secret": CLIENT_SECRET,
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert("access_token".into(), json!("shpat_wrong0s3cret"));
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec![
            ACCESS_TOKEN.into(),
            CLIENT_SECRET.into(),
            "shpat_wrong0s3cret".into(),
        ]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(
            json!({"object": "customers", "metafields": ["erp.customer_no"],
                   "overlap": "0s", "bulk_poll": "10ms"}),
        )
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({"object": "customers", "key": "erp.customer_no",
                   "fields": {"name": "lastName"}}))
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: vec!["code".into(), "name".into()],
        }
    }
    fn object(&self) -> String {
        "customers".into()
    }

    async fn reset(&self) {
        self.double.faults().clear();
        self.double
            .store()
            .delete_all(OBJECT)
            .expect("customers emptied");
        self.tick();
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        self.tick();
        records
            .iter()
            .map(|(key, name)| {
                let fields = json!({"lastName": name, "state": "ENABLED", "tags": [],
                    "metafields": [{"namespace": "erp", "key": "customer_no", "value": key, "type": "single_line_text_field"}]});
                let stored = self
                    .double
                    .store()
                    .insert(OBJECT, map(fields))
                    .expect("seeded");
                (format!("gid://shopify/Customer/{}", stored.id), key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        let n: u64 = id
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a GID");
        self.double
            .store()
            .update(OBJECT, n, map(json!({"lastName": name})))
            .expect("renamed");
    }

    fn name_of(&self, record: &Record) -> Option<String> {
        record.fields.get("lastName")?.as_str().map(str::to_owned)
    }
    fn key_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("metafields")?
            .get("erp")?
            .get("customer_no")?
            .as_str()
            .map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing("R-1", "Refused");
        out.fields.insert("email".into(), json!("not-an-email"));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "Email is invalid"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults)
    }
}

ferry_conformance::suite!(double, crate::conformance::Double::start().await);
