//! The conformance suite (`ferry-conformance`) against the reference double: the customers
//! object read incrementally (`updated_since`, page-numbered, four a page so that page edges
//! fall inside ties) and written by key (`PUT …/by-key/{{ key }}`). Seeds are stored at one
//! frozen second; each later change one second on. Faults are the double's own.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::reference::{ReferenceConfig, ReferenceDouble, Seed};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::RestFactory;

/// The reference double, seeded with nothing.
pub struct Reference {
    double: RunningDouble,
    faults: PlanFaults,
}

impl Reference {
    pub async fn double() -> Option<Self> {
        let config = ReferenceConfig {
            seed: Seed {
                customers: 0,
                products: 0,
                orders: 0,
                ties: 1,
            },
            ..Default::default()
        };
        let double = ferry_doubles::start(ReferenceDouble::new(config), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            .freeze_at("2026-03-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "*", "/api/**").reads("GET", "/api/**");
        Some(Self { double, faults })
    }

    fn tick(&self) {
        self.double.clock().advance(chrono::TimeDelta::seconds(1));
    }
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[async_trait]
impl Fixture for Reference {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(RestFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": self.double.base_url(), "retries": 3, "backoff": "10ms",
            "auth": {"type": "api_key", "header": "X-API-Key", "key": "ref-api-key"},
            "objects": {"customers": {
                "path": "/api/customers", "records": "/data", "paging": {"style": "page"}, "page_size": 4,
                "since": {"param": "updated_since", "field": "updated_at"},
                "upsert": {"path": "/api/customers/by-key/{{ key }}"},
                "delete": {"path": "/api/customers/{{ id }}"},
            }},
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert(
            "auth".into(),
            json!({"type": "api_key", "header": "X-API-Key", "key": "wrong-s3cret"}),
        );
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec!["ref-api-key".into(), "wrong-s3cret".into()]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"object": "customers"}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({"object": "customers"}))
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
        self.double.store().clear();
        self.tick();
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        self.tick();
        records
            .iter()
            .map(|(key, name)| {
                let stored = self
                    .double
                    .store()
                    .insert("customers", map(json!({"code": key, "name": name})))
                    .expect("seeded");
                (stored.id.to_string(), key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        self.double
            .store()
            .update(
                "customers",
                id.parse().expect("a numeric id"),
                map(json!({"name": name})),
            )
            .expect("renamed");
    }

    fn key_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing("R-1", "Refused");
        out.fields.insert("email".into(), json!("not-an-email"));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "is not an email address"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults) // api_key auth: no session to expire
    }
}

ferry_conformance::suite!(
    reference_double,
    crate::conformance::Reference::double().await
);
