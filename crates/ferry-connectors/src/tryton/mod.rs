//! # The `tryton` connector
//!
//! Reads and writes the models of a Tryton database (tested with Tryton 8.2) over its
//! JSON-RPC API, through the shared [`http`](crate::http) client: one client per system, so
//! every flow on the system shares its session, rate limit and daily quota.
//!
//! ```yaml
//! systems:
//!   erp:
//!     kind: tryton
//!     url: https://erp.example.com          # the server; also timeout, retries, rate, daily_quota
//!     database: erp
//!     user: ferry
//!     password: ${TRYTON_PASSWORD}
//!     context: { company: 1 }               # passed with every call
//!     language: en                          # default en
//! flows:
//!   customers_from_erp:
//!     entity: customer
//!     source:
//!       system: erp
//!       model: party.party
//!       fields: [name, code, identifiers.code, contact_mechanisms.value, addresses.city]
//!       domain: [["active", "=", true]]    # optional extra filter
//!       overlap: 5s                         # default 5s
//!     …
//!   orders_to_erp:
//!     entity: sales_order
//!     target:
//!       system: erp
//!       model: sale.sale
//!       key: reference                      # found by `reference`, written there on create
//!       fields: { order_date: sale_date, customer_code: ~, total: ~ }
//!       defaults: { company: 1, currency: 1, warehouse: 5, payment_term: 1 }
//!       lookup:
//!         party: { model: party.party, by: identifiers.code, from: customer_code }
//!         invoice_address: { model: party.address, by: party.identifiers.code, from: customer_code }
//!         shipment_address: { model: party.address, by: party.identifiers.code, from: customer_code }
//!       children:
//!         - field: lines
//!           from: lines
//!           values: { type: line }
//!           fields: { sku: product, uom: unit, line_no: ~, amount: ~ }
//!           lookup:
//!             product: { model: product.product, by: code }
//!             unit: { model: product.uom, by: name }
//!       on_create: [quote, confirm]
//!   customers_to_erp:
//!     entity: customer
//!     target:
//!       system: erp
//!       model: party.party
//!       key: identifiers.code               # a new party gets an identifier with the code
//!       fields: { tax_id: ~, status: ~ }
//!       children:
//!         - { field: contact_mechanisms, values: { type: email }, fields: { email: value } }
//!         - { field: contact_mechanisms, values: { type: phone }, fields: { phone: value } }
//!         - field: addresses
//!           fields: { street: street, city: city, postal_code: postal_code, country: country }
//!           lookup: { country: { model: country.country, by: code } }
//! ```
//!
//! ## Reading
//!
//! A source reads one model with `search_read`, keyset-paged by `(last_modified_at, id)`
//! (`last_modified_at` is `write_date`, or `create_date` for a record never written). The
//! cursor is `{"v":1,"w":"<RFC 3339, µs>","id":42}`: the next page is
//! `last_modified_at > w OR (last_modified_at = w AND id > 42)`, so records sharing one
//! timestamp across a page boundary are read once each. When a scan ends, the cursor moves
//! back by `overlap` (`"end":true`, no id), so records committed late with an older
//! timestamp are found by the next scan; the engine's read hashes make the re-read records
//! cost no writes. Once the overlap has passed with nothing newer the window settles at the
//! exact position after the newest record, as the sql source's does (`crate::keyset`). Archived records are read too (archiving is a change). Dotted fields read
//! through relations (`party.name`; through a one2many, `identifiers.code` is a list), and
//! `children: {lines: [product.code, quantity]}` reads lines as objects. Values are plain
//! JSON: decimals as strings (money stays exact), dates `YYYY-MM-DD`, datetimes RFC 3339
//! UTC. `fetch` returns the current state; an id that no longer exists comes back deleted.
//!
//! Two Tryton gotchas decide what to read:
//! - **Prices live on `product.template`**: a price change does not move the variant's
//!   (`product.product`) timestamp. Read prices from `model: product.template`
//!   (`fields: [code, list_price, products.code]`).
//! - **Stock moves touch no product timestamp.** Read stock levels with `poll: all` (every
//!   product at each scan; only changed levels are written, thanks to the read hashes) and
//!   the warehouse in the context: `model: product.product, poll: all, fields: [code,
//!   quantity, forecast_quantity], context: {locations: [5]}`. Without `locations` Tryton
//!   answers 0.
//!
//! ## Writing
//!
//! An upsert writes by target id when the engine knows it and the record still exists,
//! else searches `key` (archived records included; Tryton does not make identifiers unique,
//! so the lowest id wins), else creates. Many2one fields can be given by code (`lookup`,
//! searched once per batch for all codes). One2many children are created with the record;
//! on update a child made of the record's own fields is written in place (the contact
//! mechanism with `type: email`), a list (`lines`) is replaced (`on_update: keep` leaves it).
//! After a create, the `on_create` buttons run in order; a record a button refuses is
//! deleted again (when Tryton allows) so the next attempt starts afresh. Each batch is one
//! `create` and one `write` call; when Tryton refuses one, the records are sent one by one,
//! so a bad record gets its own error with Tryton's message (`A value is required for field
//! "Sale UoM"…`) and the others are written.
//!
//! ## Deleting, archiving, reading back
//!
//! For `on_delete` and `ferry reconcile` the sink also deletes (`delete` on the records found
//! by target id or key; one Tryton refuses, such as a party a confirmed sale uses, gets its
//! own error), updates without creating (`on_delete: { archive: { active: false } }`: a
//! `write` of the fields that differ; a record not found is left alone), and reads the model
//! back (`scan`, in `scan.rs`): by id, archived records included, only records holding a key,
//! and only the fields the flow's mapping makes, each from where the sink writes it.
//!
//! ## Errors
//!
//! Tryton's `UserError` and `UserWarning` are `Validation` errors carrying Tryton's own
//! message, `ConcurrencyException` is `Conflict`, an expired session (401) logs in again
//! once, a 403 (method not exposed) is `Fatal`; the HTTP failures are classified by the
//! shared client (`crate::http`).

mod config;
mod probe;
mod rpc;
mod scan;
mod sink;
mod source;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use serde_json::{Map, Value, json};

use crate::http::HttpClient;
use crate::{
    BuildContext, Connector, ConnectorFactory, ConnectorSchemas, FieldInfo, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};

pub use config::{
    ChildOptions, Lookup, OnUpdate, Password, Poll, TrytonSettings, TrytonSourceOptions,
    TrytonTargetOptions,
};
use rpc::{Effect, Rpc, Session};

/// Models whose `required` flags `discover` reads with `fields_get` (one call each, so not
/// for every model); the fields of other models are listed from `ir.model.field`, which
/// does not say whether a field is required, and shown as optional.
const COMMON_MODELS: &[&str] = &[
    "party.party",
    "party.address",
    "party.contact_mechanism",
    "party.identifier",
    "product.template",
    "product.product",
    "sale.sale",
    "sale.line",
    "account.invoice",
    "account.invoice.line",
    "stock.shipment.out",
    "stock.move",
];

/// Makes `tryton` connectors.
pub struct TrytonFactory;

impl ConnectorFactory for TrytonFactory {
    fn kind(&self) -> &'static str {
        "tryton"
    }

    fn summary(&self) -> &'static str {
        "Tryton ERP over JSON-RPC (reads by last_modified_at, upserts by business key, children, workflow buttons)"
    }

    fn schemas(&self) -> ConnectorSchemas {
        ConnectorSchemas {
            system: schemars::schema_for!(TrytonSettings),
            source: schemars::schema_for!(TrytonSourceOptions),
            target: schemars::schema_for!(TrytonTargetOptions),
        }
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues> {
        Ok(Arc::new(TrytonConnector::from_settings(ctx, settings)?))
    }
}

/// One configured Tryton database.
#[derive(Debug)]
pub struct TrytonConnector {
    rpc: Arc<Rpc>,
    /// The session, for tests to count logins.
    #[cfg(test)]
    session: Arc<Session>,
}

impl TrytonConnector {
    /// Validates the settings and prepares the client (no I/O: the session opens on the
    /// first call).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let settings = config::parse_settings(settings)?;
        let options = settings.validate()?;
        let session = Session::new(
            &settings.database,
            &settings.user,
            settings.password.clone(),
            settings.language.as_deref().unwrap_or("en"),
        );
        let session = Arc::new(session);
        let http = HttpClient::new(&ctx.system, options, session.clone())
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message())])?;
        Ok(Self {
            rpc: Arc::new(Rpc::new(http, &settings.database, settings.context)),
            #[cfg(test)]
            session,
        })
    }

    /// The system's HTTP client (shared by every source and sink made from it).
    pub fn http(&self) -> &HttpClient {
        &self.rpc.http
    }
}

#[async_trait]
impl Connector for TrytonConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: TrytonSourceOptions = config::parse(options)?;
        let overlap = options.validate()?;
        Ok(Arc::new(source::TrytonSource::new(
            self.rpc.clone(),
            options,
            overlap,
        )))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        let options: TrytonTargetOptions = config::parse(options)?;
        options.validate()?;
        Ok(Arc::new(sink::TrytonSink::new(
            self.rpc.clone(),
            options,
            ctx,
        )))
    }

    /// The stored models (those with a `create_date`) and their fields, from one read of
    /// `ir.model.field`; `required` from `fields_get` for the common models (parties,
    /// products, sales, invoices, shipments).
    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let none = Map::new();
        let fields = self
            .rpc
            .model(
                "ir.model.field",
                "search_read",
                vec![
                    json!([]),
                    json!(0),
                    Value::Null,
                    json!([["model", "ASC"], ["name", "ASC"]]),
                    json!(["model", "name", "ttype", "relation"]),
                ],
                &none,
                Effect::Read,
            )
            .await?;
        let mut models: Vec<ObjectInfo> = Vec::new();
        for row in fields.as_array().into_iter().flatten() {
            let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default();
            let ty = match row.get("relation").and_then(Value::as_str) {
                Some(r) if !r.is_empty() => format!("{}({r})", text("ttype")),
                _ => text("ttype").to_owned(),
            };
            let field = FieldInfo {
                name: text("name").to_owned(),
                ty,
                nullable: true,
            };
            match models.last_mut() {
                Some(last) if last.name == text("model") => last.fields.push(field),
                _ => models.push(ObjectInfo {
                    name: text("model").to_owned(),
                    fields: vec![field],
                }),
            }
        }
        models.retain(|m| m.fields.iter().any(|f| f.name == "create_date"));
        for model in models
            .iter_mut()
            .filter(|m| COMMON_MODELS.contains(&m.name.as_str()))
        {
            let meta: HashMap<String, sink::FieldMeta> =
                sink::fields_of(&self.rpc, &model.name).await?;
            for field in &mut model.fields {
                field.nullable = !meta.get(&field.name).is_some_and(|f| f.required);
            }
        }
        tracing::debug!(
            system = self.rpc.http.system(),
            models = models.len(),
            "Discovered."
        );
        Ok(models)
    }

    /// Logs in and counts the models: one small read that any user may make.
    async fn probe(&self) -> Result<(), ConnectorError> {
        let count = vec![json!([])];
        let none = Map::new();
        self.rpc
            .model("ir.model", "search_count", count, &none, Effect::Read)
            .await
            .map(|_| ())
    }
}
