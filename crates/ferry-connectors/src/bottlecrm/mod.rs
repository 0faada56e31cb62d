//! # The `bottlecrm` connector: BottleCRM (django-crm 1.x) over its REST API
//!
//! Accounts, contacts, deals with their line items, invoices with their lines and payments,
//! and the product catalogue of a BottleCRM organization. Checked against django-crm 1.35.0.
//!
//! ```yaml
//! systems:
//!   crm:
//!     kind: bottlecrm
//!     url: https://crm.example.com      # the server's root; requests go to api/…
//!     token: ${CRM_PAT}                 # personal access token (Authorization: Bearer …)
//!     # api_key: ${CRM_ORG_API_KEY}     # or an organization API key (Token: …)
//!     timeout: 30s                      # shared HTTP settings: timeout, retries, backoff,
//!     rate: { per_second: 5, burst: 5 } #   rate, daily_quota (for every flow on `crm`)
//!     concurrency: 4                    # requests in flight per read or batch (default 4)
//!
//! flows:
//!   customers-from-crm:
//!     entity: customer
//!     trigger: { poll: 5m }
//!     source: { system: crm, object: accounts }
//!   orders-from-crm:
//!     entity: sales_order
//!     source: { system: crm, object: opportunities, filter: { stage: CLOSED_WON } }
//!   customers-to-crm:
//!     entity: customer
//!     target:
//!       system: crm
//!       object: accounts
//!       key: custom_fields.erp_id       # default; found with ?cf_erp_id=…
//!       fields: { street: address_line, postal_code: postcode, notes: description, active: is_active }
//!   orders-to-crm:
//!     entity: sales_order
//!     target:
//!       system: crm
//!       object: opportunities
//!       fields: { customer_code: account, lines: line_items, total: amount }
//!       line_fields: { sku: product_id, description: name }
//!       refs: { account: accounts, line_items.product_id: products }
//!   invoices-to-crm:                    # ERP invoices, their payments and status, in the CRM
//!     entity: invoice
//!     depends_on: { customer_code: customers-to-crm }   # fills customer_code_id
//!     target:
//!       system: crm
//!       object: invoices
//!       fields: { customer_code: ~, customer_code_id: account_id, contact: contact_id, total: ~ }
//!       refs: { contact_id: contacts }  # a business key looked up here (no flow syncs it)
//!   invoice-onto-deal:                  # or: the invoice's total and stage onto its deal
//!     entity: invoice
//!     depends_on: { order_number: orders-to-crm }       # fills order_number_id
//!     target:
//!       system: crm
//!       object: opportunities
//!       id_field: order_number_id       # update that deal; never create, keep its key
//!       fields: { order_number: ~, total: amount, status: stage, issue_date: closed_on }
//! ```
//!
//! References: the engine's `depends_on` puts the id BottleCRM knows for a referenced record
//! in `<field>_id` (a UUID string); map that field to the API field (`account`,
//! `account_id`, a line's `product_id`). `refs` does the same by looking the business key up
//! in BottleCRM itself, for records no Ferry flow syncs.
//!
//! ## Objects
//!
//! | object | API | key (default) | update | notes |
//! |---|---|---|---|---|
//! | `accounts` | `api/accounts/` | `custom_fields.erp_id` (or `name`) | PATCH | listed in two halves, active and inactive |
//! | `contacts` | `api/contacts/` | `custom_fields.erp_id` (or `email`) | PATCH | `updated_at` |
//! | `opportunities` | `api/opportunities/` | `custom_fields.erp_id` (or `name`) | PATCH | `line_items`; `CLOSED_WON` is the order |
//! | `invoices` | `api/invoices/` | `custom_fields.erp_id` (or `invoice_number`) | PUT | read in full (lines, payments); status by lifecycle calls |
//! | `products` | `api/invoices/products/` | `sku` (or `name`) | PUT | no stock in BottleCRM |
//! | `payments` | `api/invoices/<id>/payments/` | `reference_number` | — | write only |
//!
//! BottleCRM has no order, shipment or stock API; deals stand for orders.
//!
//! ## Records read
//!
//! `Record.id` is the BottleCRM id (a UUID); fields are the API's JSON as it is
//! (`custom_fields` stays an object: map `custom_fields.erp_id`; a deal's `account` is
//! `{id, name}`; lines are `line_items`), without the fields BottleCRM computes from the
//! clock or from other objects (see `objects::Spec::normalize`), so an untouched record reads
//! the same every time. `updated_at` is set where the API shows it (contacts, invoices,
//! products). Reads are snapshot passes (the cursor contract is in `source.rs`); `fetch`
//! reads each id's detail, and an id BottleCRM answers 404 for comes back `deleted`.
//!
//! ## Writing
//!
//! Upserts by key, record by record; see `sink.rs` for lines, invoice status and payments,
//! and how refusals become per-record errors. For `on_delete` and `ferry reconcile` the sink
//! also deletes (`DELETE` of the record found by id or key; one already gone counts as
//! done), updates without creating (`on_delete: { archive: { active: false } }` with
//! `fields: { active: is_active }`), and reads the object back by snapshot pass (`scan`), in
//! canonical names: the key, renamed and custom fields; not `refs` nor lines. Payments can
//! do none of these.
//!
//! ## Limits of BottleCRM's API that shape this connector
//!
//! - No "modified since" filter, and no `updated_at` on accounts and deals: change detection
//!   is by content hash over full passes; a pass costs one request per page (plus one per
//!   invoice, whose list lacks lines, payments and custom fields).
//! - List replies carry org-wide side lists (the account list has every contact's id and
//!   first name, the deal list every account): bytes per page grow with the organization.
//!   They are skipped while decoding, not kept, and larger pages amortize them.
//! - No webhooks usable without a browser session; Ferry polls.
//! - Credentials refused answer 403 (not 401), which the shared client treats as `auth`.
//! - `custom_fields` keys without a definition in BottleCRM are dropped silently by the
//!   server: define `erp_id` (or your key field) for each object first.
//! - Account names are unique per organization, but two creates with one name at the same
//!   moment race inside BottleCRM: one gets HTTP 500 from its unique index (a transient
//!   error, retried later, when it becomes the usual 400 "already exists").

mod api;
mod config;
mod objects;
mod sink;
mod source;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use reqwest::header::HeaderName;
use serde_json::{Map, Value};

pub use config::{SourceOptions, SystemSettings, TargetOptions};
pub use objects::Object;
pub use source::SnapshotCursor;

use crate::http::{Call, HttpClient, StaticAuth};
use crate::{
    BuildContext, Connector, ConnectorFactory, ConnectorSchemas, FieldInfo, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};
use api::Api;
use config::Credential;

/// Makes `bottlecrm` connectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct BottleCrmFactory;

impl ConnectorFactory for BottleCrmFactory {
    fn kind(&self) -> &'static str {
        "bottlecrm"
    }

    fn summary(&self) -> &'static str {
        "BottleCRM over REST: accounts, contacts, deals with lines, invoices, payments, products (snapshot polling, upsert by key)"
    }

    fn schemas(&self) -> ConnectorSchemas {
        ConnectorSchemas {
            system: schemars::schema_for!(SystemSettings),
            source: schemars::schema_for!(SourceOptions),
            target: schemars::schema_for!(TargetOptions),
        }
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues> {
        Ok(Arc::new(BottleCrmConnector::from_settings(ctx, settings)?))
    }
}

/// One BottleCRM organization.
#[derive(Debug)]
pub struct BottleCrmConnector {
    api: Api,
    concurrency: usize,
}

impl BottleCrmConnector {
    /// Validates the settings and prepares the HTTP client (no request is sent).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let system = config::parse_system(settings)?;
        let (auth, key) = match &system.credential {
            Credential::Token(token) => (StaticAuth::bearer(token), "token"),
            Credential::ApiKey(api_key) => (
                StaticAuth::default().with_header(
                    HeaderName::from_static("token"),
                    api_key,
                    api_key,
                ),
                "api_key",
            ),
        };
        let auth = auth.map_err(|e| vec![ConfigIssue::new([key], e.message().to_owned())])?;
        let http = HttpClient::new(&ctx.system, system.http, Arc::new(auth))
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        Ok(Self {
            api: Api { http },
            concurrency: system.concurrency,
        })
    }
}

#[async_trait]
impl Connector for BottleCrmConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        Ok(Arc::new(source::BottleSource {
            api: self.api.clone(),
            spec: config::parse_source(options)?,
            concurrency: self.concurrency,
        }))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        Ok(Arc::new(sink::BottleSink {
            api: self.api.clone(),
            spec: config::parse_target(options)?,
            key_field: ctx.key_field.clone(),
            fields: ctx.fields.clone(),
            concurrency: self.concurrency,
        }))
    }

    /// Each object with its fields, from the server's own OpenAPI document (the record
    /// schema, plus the write-only fields of its create request) and its custom field
    /// definitions (`custom_fields.<key>`).
    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let http = &self.api.http;
        let openapi: Value = http
            .json(Call::get("schema/").query("format", "json"))
            .await
            .map_err(|e| e.context("reading the OpenAPI document"))?;
        let custom: Value = http
            .json(Call::get("api/custom-fields/"))
            .await
            .map_err(|e| e.context("reading the custom field definitions"))?;
        let schemas = openapi.pointer("/components/schemas").ok_or_else(|| {
            ConnectorError::fatal(format!(
                "{}: the OpenAPI document has no components/schemas",
                http.system()
            ))
        })?;
        let definitions = custom
            .get("definitions")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        Ok(objects::ALL
            .iter()
            .map(|object| discover_object(object.spec(), schemas, definitions))
            .collect())
    }
}

/// The fields of one object.
fn discover_object(spec: &objects::Spec, schemas: &Value, custom: &[Value]) -> ObjectInfo {
    let (read, write) = spec.schema;
    let mut fields: Vec<FieldInfo> = Vec::new();
    let mut add = |schema: &Value, only: &str| {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, prop) in schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if fields.iter().any(|f| f.name == *name) {
                continue;
            }
            let mut ty = type_name(prop, schemas);
            let read_only = prop.get("readOnly").and_then(Value::as_bool) == Some(true);
            if read_only {
                ty.push_str(", read-only");
            } else if !only.is_empty() {
                ty.push_str(only);
            }
            fields.push(FieldInfo {
                name: name.clone(),
                ty,
                nullable: prop.get("nullable").and_then(Value::as_bool) == Some(true)
                    || !required.contains(&name.as_str()),
            });
        }
    };
    if let Some(schema) = schemas.get(read) {
        add(schema, "");
    }
    if let Some(schema) = write.and_then(|w| schemas.get(w)) {
        add(schema, ", write-only");
    }
    let model = match spec.object {
        Object::Accounts => "Account",
        Object::Contacts => "Contact",
        Object::Opportunities => "Opportunity",
        Object::Invoices => "Invoice",
        Object::Products | Object::Payments => "",
    };
    for def in custom {
        let active = def.get("is_active").and_then(Value::as_bool) != Some(false);
        if active
            && def.get("target_model").and_then(Value::as_str) == Some(model)
            && let Some(key) = def.get("key").and_then(Value::as_str)
        {
            let kind = def
                .get("field_type")
                .and_then(Value::as_str)
                .unwrap_or("text");
            fields.push(FieldInfo {
                name: format!("custom_fields.{key}"),
                ty: format!("custom field ({kind})"),
                nullable: def.get("is_required").and_then(Value::as_bool) != Some(true),
            });
        }
    }
    ObjectInfo {
        name: spec.name.to_owned(),
        fields,
    }
}

/// An OpenAPI property's type in a few words: `string (uuid)`, `array of Contact`, or an
/// enumeration's values (`Draft | Sent | …`), which is what a mapping writer needs.
fn type_name(prop: &Value, schemas: &Value) -> String {
    let reference = prop.get("$ref").or_else(|| {
        ["allOf", "oneOf", "anyOf"]
            .iter()
            .find_map(|k| prop.get(*k)?.as_array()?.iter().find_map(|v| v.get("$ref")))
    });
    if let Some(name) = reference
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
    {
        return match schemas
            .get(name)
            .and_then(|s| s.get("enum"))
            .and_then(Value::as_array)
        {
            Some(values) => values
                .iter()
                .filter_map(Value::as_str)
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>()
                .join(" | "),
            None => name.to_owned(),
        };
    }
    match prop.get("type").and_then(Value::as_str) {
        Some("array") => format!(
            "array of {}",
            prop.get("items")
                .map_or_else(|| "any".to_owned(), |items| type_name(items, schemas))
        ),
        Some(ty) => match prop.get("format").and_then(Value::as_str) {
            Some(format) => format!("{ty} ({format})"),
            None => ty.to_owned(),
        },
        None => "any".to_owned(),
    }
}
