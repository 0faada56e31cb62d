//! Writing a REST object by business key, record by record (a few at once).
//!
//! With an `upsert` endpoint a write is that one call. Otherwise a record whose id is known
//! (from an earlier write, or found with `find_by_key`) is changed with `update`, and one
//! that is not is created with `create`; an update answered 404 (the record was deleted at
//! the API) creates it again. Without `find_by_key`, a record's id comes only from Ferry's
//! own earlier writes, so a record created at the API by someone else is created twice:
//! set `find_by_key` or `upsert` wherever that can happen.
//!
//! Each refusal (HTTP 400, 409, 422, a SOAP client fault) is that record's error, with the
//! API's own message; refused credentials, or every record failing for a transient reason,
//! fail the batch ([`ferry_kit::sink::each`]).

use async_trait::async_trait;
use ferry_kit::sink::{Renames, each, key_text, renamed, same_value};
use ferry_kit::{Outgoing, Removal, Sink, SinkCapabilities, TargetPage, TargetRecord, Written};
use ferry_model::{ConnectorError, ErrorKind};
use minijinja::Value as Ctx;
use minijinja::value::Serde;
use serde_json::{Map, Value};

use crate::api::Api;
use crate::object::Object;
use crate::source::RestSource;

/// Writes one object.
pub struct RestSink {
    pub api: Api,
    pub object: Object,
    pub renames: Renames,
    /// The API field holding the business key.
    pub key_field: String,
    /// The canonical key field.
    pub canonical_key: String,
    /// The canonical fields the flow writes (read back by `scan`).
    pub fields: Vec<String>,
    pub concurrency: usize,
}

#[async_trait]
impl Sink for RestSink {
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        each(batch.len(), self.concurrency, |i| {
            self.write(&batch[i], true)
        })
        .await
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities {
            delete: self.object.delete.is_some(),
            update: self.object.update.is_some() || self.object.upsert.is_some(),
            scan: true,
            ..SinkCapabilities::default()
        }
    }

    async fn delete(
        &self,
        batch: &[Removal],
    ) -> Result<Vec<Result<(), ConnectorError>>, ConnectorError> {
        each(batch.len(), self.concurrency, |i| self.remove(&batch[i])).await
    }

    async fn update(
        &self,
        batch: &[Outgoing],
    ) -> Result<Vec<Result<Written, ConnectorError>>, ConnectorError> {
        each(batch.len(), self.concurrency, |i| {
            self.write(&batch[i], false)
        })
        .await
    }

    /// The object read back by a full pass, in canonical names (renames reversed).
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<TargetPage, ConnectorError> {
        let mut object = self.object.clone();
        object.since = None;
        let source = RestSource {
            api: self.api.clone(),
            object,
            concurrency: self.concurrency,
        };
        let page = ferry_kit::Source::read(&source, cursor, limit).await?;
        let records = page
            .records
            .into_iter()
            .map(|r| self.canonical(r.id, &r.fields))
            .collect();
        Ok(TargetPage {
            records,
            cursor: page.cursor,
            more: page.more,
            fields: self.fields.clone(),
        })
    }
}

impl RestSink {
    /// Writes one record: upsert, or update by id, or create. `create` is false for
    /// updates that must not create (`on_delete: archive`).
    async fn write(&self, out: &Outgoing, create: bool) -> Result<Written, ConnectorError> {
        let record = self.api_record(out);
        let context = |id: Option<&str>| {
            Ctx::from(Serde(
                serde_json::json!({ "record": record, "key": out.key, "id": id }),
            ))
        };
        let object = &self.object;
        let what = |e: ConnectorError| e.context(format!("{} {}", object.name, out.key));
        if let Some(upsert) = &object.upsert {
            let reply = self
                .api
                .write(
                    object,
                    upsert,
                    &context(out.target_id.as_deref()),
                    &Value::Object(record.clone()),
                )
                .await
                .map_err(what)?;
            return self.written(reply, out.target_id.as_deref(), out);
        }
        let id = match &out.target_id {
            Some(id) => Some(id.clone()),
            None => self.find(&out.key).await.map_err(what)?,
        };
        if let (Some(id), Some(update)) = (&id, &object.update) {
            match self
                .api
                .write(
                    object,
                    update,
                    &context(Some(id)),
                    &Value::Object(record.clone()),
                )
                .await
            {
                Ok(reply) => return self.written(reply, Some(id), out),
                Err(e) if e.kind() == ErrorKind::NotFound && create => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Ok(Written {
                        target_id: id.clone(),
                    });
                }
                Err(e) => return Err(what(e)),
            }
        } else if let Some(id) = &id {
            return Err(what(ConnectorError::invalid(format!(
                "the record exists (id {id}) and the object has no `update` or `upsert` endpoint to change it"
            ))));
        } else if !create {
            return Ok(Written {
                target_id: String::new(),
            });
        }
        let Some(create) = &object.create else {
            return Err(what(ConnectorError::invalid(
                "the record is not at the API and the object has no `create` endpoint",
            )));
        };
        let reply = self
            .api
            .write(object, create, &context(None), &Value::Object(record))
            .await
            .map_err(what)?;
        self.written(reply, None, out)
    }

    fn written(
        &self,
        reply: crate::api::Reply,
        known: Option<&str>,
        out: &Outgoing,
    ) -> Result<Written, ConnectorError> {
        match reply
            .id(&self.object, &self.api.namespaces)
            .or(known.map(str::to_owned))
        {
            Some(target_id) => Ok(Written { target_id }),
            None => Err(ConnectorError::fatal(format!(
                "{} {}: written, but the reply holds no id in `{}` (set `written` or `written_id` on the object)",
                self.object.name, out.key, self.object.id
            ))),
        }
    }

    async fn remove(&self, removal: &Removal) -> Result<(), ConnectorError> {
        let Some(endpoint) = &self.object.delete else {
            return Err(ferry_kit::unsupported(
                "delete records: set `delete:` on the object",
            ));
        };
        let id = match &removal.target_id {
            Some(id) => Some(id.clone()),
            None => self.find(&removal.key).await?,
        };
        let Some(id) = id else { return Ok(()) };
        let vars = Ctx::from(Serde(
            serde_json::json!({ "id": id, "key": removal.key, "record": {} }),
        ));
        match self
            .api
            .write(&self.object, endpoint, &vars, &Value::Null)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.context(format!("{} {}", self.object.name, removal.key))),
        }
    }

    /// The id of the record holding `key`, by `find_by_key` (none without it).
    async fn find(&self, key: &str) -> Result<Option<String>, ConnectorError> {
        let Some(param) = &self.object.find_by_key else {
            return Ok(None);
        };
        let found = self.api.find(&self.object, param, key).await?;
        Ok(found
            .iter()
            .find(|r| {
                r.get(&self.key_field)
                    .is_some_and(|k| same_value(&Value::String(key.to_owned()), k))
            })
            .and_then(|r| r.get(&self.object.id))
            .and_then(key_text))
    }

    /// The outgoing fields under the API's names.
    fn api_record(&self, out: &Outgoing) -> Map<String, Value> {
        let mut record = Map::new();
        for (field, value) in &out.fields {
            let name = if *field == self.canonical_key {
                Some(self.key_field.as_str())
            } else {
                renamed(&self.renames, field)
            };
            if let Some(name) = name {
                record.insert(name.to_owned(), value.clone());
            }
        }
        record
    }

    /// An API record in canonical names.
    fn canonical(&self, id: String, fields: &Map<String, Value>) -> TargetRecord {
        let mut out = Map::new();
        for field in &self.fields {
            let name = if *field == self.canonical_key {
                Some(self.key_field.as_str())
            } else {
                renamed(&self.renames, field)
            };
            if let Some(value) = name.and_then(|n| fields.get(n)) {
                out.insert(field.clone(), value.clone());
            }
        }
        TargetRecord {
            target_id: id,
            key: fields.get(&self.key_field).and_then(key_text),
            fields: out,
        }
    }
}
