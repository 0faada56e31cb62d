//! Writing customers and products (upserts by key), and scanning them back.
//!
//! - **customers**: `customerSet(identifier:, input:)`, Shopify's upsert: the customer
//!   is found by the flow's key held in a metafield (`customId`, default
//!   `erp.customer_no`; set on the customer when it is created) or by `email`, or by the
//!   id an earlier write returned.
//! - **products**: `productSet(identifier: {handle}, input:, synchronous: true)`: the
//!   flow's key is the product's handle. Product fields only; variants are not written.
//!
//! A record Shopify refuses comes back as that record's error with Shopify's own
//! `userErrors` message and field (`customerSet for key `X`: Email is invalid [input.email]`);
//! the rest of the batch is written. Both mutations find what an earlier attempt wrote, so
//! they are sent again after a timeout. Inventory and fulfilments are in `stock.rs` and
//! `fulfil.rs`.

use async_trait::async_trait;
use ferry_kit::sink::{each, key_text, renamed};
use ferry_kit::{Outgoing, Sink, SinkCapabilities, SinkContext, TargetPage, TargetRecord, Written};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Map, Value, json};

use crate::api::Api;
use crate::config::{CustomerKey, TargetObject, TargetSpec};
use crate::gql::{Sel, string};

/// Records written at once.
const CONCURRENCY: usize = 2;

const CUSTOMER_SET: &str = "mutation ($identifier: CustomerSetIdentifiers!, $input: CustomerSetInput!) { customerSet(identifier: $identifier, input: $input) { customer { id } userErrors { field message code } } }";
const PRODUCT_SET: &str = "mutation ($identifier: ProductSetIdentifiers, $input: ProductSetInput!) { productSet(identifier: $identifier, input: $input, synchronous: true) { product { id } userErrors { field message code } } }";

/// One object written by one flow.
pub struct ShopifySink {
    pub(crate) api: Api,
    pub(crate) spec: TargetSpec,
    pub(crate) key_field: String,
    pub(crate) fields: Vec<String>,
    /// Locations by name, once read (inventory).
    pub(crate) locations: tokio::sync::Mutex<Option<Vec<(String, String)>>>,
}

pub type Results = Vec<Result<Written, ConnectorError>>;

impl ShopifySink {
    pub fn new(api: Api, spec: TargetSpec, ctx: &SinkContext) -> Self {
        Self {
            api,
            spec,
            key_field: ctx.key_field.clone(),
            fields: ctx.fields.clone(),
            locations: tokio::sync::Mutex::new(None),
        }
    }

    /// The value of the canonical field that holds `role` (`sku`, `available`,
    /// `tracking_number`, `lines`…: its own name unless `fields:` renames another onto it).
    pub(crate) fn role<'a>(&self, record: &'a Outgoing, role: &str) -> Option<&'a Value> {
        let canonical = self
            .spec
            .fields
            .iter()
            .find(|(_, to)| to.as_deref() == Some(role))
            .map_or(role, |(from, _)| from.as_str());
        record.fields.get(canonical).filter(|v| !v.is_null())
    }

    /// The Shopify field a canonical field is written to: the key only when renamed.
    pub(crate) fn column<'a>(&'a self, canonical: &'a str) -> Option<&'a str> {
        if canonical == self.key_field && !self.spec.fields.contains_key(canonical) {
            return None;
        }
        match canonical {
            "id" => None,
            _ => renamed(&self.spec.fields, canonical),
        }
    }

    fn input(&self, record: &Outgoing) -> Map<String, Value> {
        record
            .fields
            .iter()
            .filter_map(|(k, v)| self.column(k).map(|to| (to.to_owned(), v.clone())))
            .collect()
    }

    /// A record's refusal from a mutation's `userErrors`, if it has any.
    pub(crate) fn refusal(&self, what: &str, key: &str, errors: &Value) -> Option<ConnectorError> {
        let errors = errors.as_array().filter(|e| !e.is_empty())?;
        let said: Vec<String> = errors
            .iter()
            .map(|e| {
                let message = e["message"].as_str().unwrap_or("refused");
                let field: Vec<&str> = e["field"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if field.is_empty() {
                    message.to_owned()
                } else {
                    format!("{message} [{}]", field.join("."))
                }
            })
            .collect();
        Some(ConnectorError::new(
            ErrorKind::Validation,
            format!(
                "{}: {what} for key `{key}`: {}",
                self.api.http.system(),
                said.join("; ")
            ),
        ))
    }

    async fn write_customer(&self, record: &Outgoing) -> Result<Written, ConnectorError> {
        let known = record
            .target_id
            .as_deref()
            .filter(|id| id.starts_with("gid://shopify/Customer/"));
        let identifier = match (known, &self.spec.key) {
            (Some(id), _) => json!({"id": id}),
            (None, CustomerKey::Email) => json!({"email": record.key}),
            (None, CustomerKey::Metafield(ns, key)) => {
                json!({"customId": {"namespace": ns, "key": key, "value": record.key}})
            }
        };
        let vars = json!({"identifier": identifier, "input": self.input(record)});
        let data = self
            .api
            .run(
                CUSTOMER_SET,
                vars,
                crate::gql::MUTATION_COST,
                true,
                "customerSet",
            )
            .await?;
        let answer = &data["customerSet"];
        if let Some(e) = self.refusal("customerSet", &record.key, &answer["userErrors"]) {
            return Err(e);
        }
        written(
            answer["customer"]["id"].as_str(),
            "customerSet",
            self.api.http.system(),
        )
    }

    async fn write_product(&self, record: &Outgoing) -> Result<Written, ConnectorError> {
        let mut input = self.input(record);
        input
            .entry("handle")
            .or_insert_with(|| Value::String(record.key.clone()));
        let identifier = match record.target_id.as_deref() {
            Some(id) if id.starts_with("gid://shopify/Product/") => json!({"id": id}),
            _ => json!({"handle": record.key}),
        };
        let vars = json!({"identifier": identifier, "input": input});
        let data = self
            .api
            .run(
                PRODUCT_SET,
                vars,
                crate::gql::MUTATION_COST,
                true,
                "productSet",
            )
            .await?;
        let answer = &data["productSet"];
        if let Some(e) = self.refusal("productSet", &record.key, &answer["userErrors"]) {
            return Err(e);
        }
        written(
            answer["product"]["id"].as_str(),
            "productSet",
            self.api.http.system(),
        )
    }

    async fn write_one(&self, record: &Outgoing) -> Result<Written, ConnectorError> {
        match self.spec.object {
            TargetObject::Customers => self.write_customer(record).await,
            TargetObject::Products => self.write_product(record).await,
            TargetObject::Inventory => self.write_stock(record).await,
            TargetObject::Fulfillments => self.write_fulfillment(record).await,
        }
    }

    /// Scan: the node fields read back, and the object's query field.
    fn scanned(&self) -> (&'static str, Vec<Sel>) {
        match self.spec.object {
            TargetObject::Products => (
                "products",
                Sel::scalars(&[
                    "id",
                    "handle",
                    "title",
                    "status",
                    "vendor",
                    "productType",
                    "tags",
                ]),
            ),
            _ => {
                let mut f = Sel::scalars(&[
                    "id",
                    "email",
                    "firstName",
                    "lastName",
                    "phone",
                    "note",
                    "tags",
                ]);
                if let CustomerKey::Metafield(ns, key) = &self.spec.key {
                    f.push(
                        Sel::object("metafield", vec![Sel::scalar("value")])
                            .alias("key")
                            .arg("namespace", string(ns))
                            .arg("key", string(key)),
                    );
                }
                ("customers", f)
            }
        }
    }

    fn target_record(&self, node: &Value) -> TargetRecord {
        let key = match (self.spec.object, &self.spec.key) {
            (TargetObject::Products, _) => node["handle"].as_str(),
            (_, CustomerKey::Email) => node["email"].as_str(),
            (_, CustomerKey::Metafield(..)) => node["key"]["value"].as_str(),
        };
        let mut fields = Map::new();
        for canonical in &self.fields {
            if canonical == &self.key_field {
                fields.insert(canonical.clone(), key.map_or(Value::Null, Value::from));
            } else if let Some(column) = self.column(canonical) {
                fields.insert(canonical.clone(), node[column].clone());
            }
        }
        TargetRecord {
            target_id: node["id"].as_str().unwrap_or_default().to_owned(),
            key: key
                .map(str::to_owned)
                .and_then(|k| key_text(&Value::String(k))),
            fields,
        }
    }
}

/// The id a mutation answered, or an error saying it answered none.
pub(crate) fn written(
    id: Option<&str>,
    what: &str,
    system: &str,
) -> Result<Written, ConnectorError> {
    id.map(|id| Written {
        target_id: id.to_owned(),
    })
    .ok_or_else(|| {
        ConnectorError::fatal(format!("{system}: {what} answered no id and no userErrors"))
    })
}

#[async_trait]
impl Sink for ShopifySink {
    async fn upsert(&self, batch: &[Outgoing]) -> Result<Results, ConnectorError> {
        each(batch.len(), CONCURRENCY, |i| self.write_one(&batch[i])).await
    }

    fn capabilities(&self) -> SinkCapabilities {
        let scan = matches!(
            self.spec.object,
            TargetObject::Customers | TargetObject::Products
        );
        SinkCapabilities {
            delete: false,
            update: false,
            scan,
            ..SinkCapabilities::default()
        }
    }

    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        if !self.capabilities().scan {
            return Err(ferry_kit::unsupported("read inventory or fulfilments back"));
        }
        let (name, fields) = self.scanned();
        let mut top =
            Sel::connection(name, limit.clamp(1, 250) as u64, "", fields).arg("sortKey", "ID");
        if let Some(c) = cursor.filter(|c| !c.is_empty()) {
            top = top.arg("after", string(c));
        }
        let data = self
            .api
            .query(&[top], false, &format!("scan {name}"))
            .await?;
        let conn = &data[name];
        let records = conn["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| self.target_record(n))
            .collect();
        Ok(TargetPage {
            records,
            cursor: conn["pageInfo"]["endCursor"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            more: conn["pageInfo"]["hasNextPage"] == Value::Bool(true),
            fields: self.fields.clone(),
        })
    }
}
