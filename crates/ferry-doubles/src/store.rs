//! The objects a double serves.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::error::StoreError;

/// One record: a server-assigned id, server-set created and modified times, and the fields
/// clients sent. The double owns `id`, `created_at` and `updated_at`; fields by those names
/// sent by a client are dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub id: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub fields: Map<String, Value>,
}

/// Fields a client cannot set.
const SERVER_FIELDS: [&str; 3] = ["id", "created_at", "updated_at"];

impl Record {
    /// The record as a JSON object: `id`, then the fields, then the two times (RFC 3339, UTC,
    /// whole seconds).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), self.id.into());
        out.extend(self.fields.clone());
        out.insert("created_at".into(), stamp(self.created_at).into());
        out.insert("updated_at".into(), stamp(self.updated_at).into());
        Value::Object(out)
    }

    /// Where this record stands in modified-time order.
    pub fn position(&self) -> Position {
        Position {
            updated_at: self.updated_at,
            id: self.id,
        }
    }
}

/// A time as the doubles write it: `2026-01-01T00:00:00Z`.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A place in the order every list is read in: modified time, then id. Ties on the time are
/// broken by the id, so the order is total and keyset paging over it is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub updated_at: DateTime<Utc>,
    pub id: u64,
}

/// An incremental filter on the modified time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdatedFilter {
    /// `updated_at >= t`: ties at the watermark are read again (a reader must dedupe).
    Since(DateTime<Utc>),
    /// `updated_at > t`: ties at the watermark written after the last read are lost unless
    /// the reader overlaps its window; the double serves this to test that edge.
    After(DateTime<Utc>),
}

impl UpdatedFilter {
    fn admits(self, at: DateTime<Utc>) -> bool {
        match self {
            Self::Since(t) => at >= t,
            Self::After(t) => at > t,
        }
    }
}

#[derive(Debug)]
struct Table {
    key_field: String,
    next_id: u64,
    rows: BTreeMap<u64, Record>,
}

impl Table {
    fn find_key(&self, key: &str) -> Option<&Record> {
        self.rows
            .values()
            .find(|r| r.fields.get(&self.key_field).and_then(Value::as_str) == Some(key))
    }
}

/// The records of a double, by object. Each object has a business-key field (`code`,
/// `sku`, …) that is unique within it. Cheap to clone: clones share the records.
#[derive(Clone, Debug)]
pub struct RecordStore {
    tables: Arc<Mutex<BTreeMap<String, Table>>>,
    clock: Clock,
}

impl RecordStore {
    /// An empty store stamping times from `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            tables: Arc::default(),
            clock,
        }
    }

    /// The clock the store stamps modified times from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Declares an object and its business-key field; ids start at 1.
    pub fn define(&self, object: &str, key_field: &str) {
        self.lock().insert(
            object.to_owned(),
            Table {
                key_field: key_field.to_owned(),
                next_id: 1,
                rows: BTreeMap::new(),
            },
        );
    }

    /// Deletes every record of `object`, each as [`RecordStore::delete`] does (so change
    /// feeds see the deletions; ids go on): a conformance fixture's reset.
    pub fn delete_all(&self, object: &str) -> Result<(), StoreError> {
        for record in self.list(object, None, None)? {
            self.delete(object, record.id)?;
        }
        Ok(())
    }

    /// Removes every record of every object and restarts ids; objects stay declared.
    pub fn clear(&self) {
        for table in self.lock().values_mut() {
            table.rows.clear();
            table.next_id = 1;
        }
    }

    /// Adds a record stamped now.
    pub fn insert(&self, object: &str, fields: Map<String, Value>) -> Result<Record, StoreError> {
        let now = self.clock.now();
        self.insert_at(object, fields, now)
    }

    /// Adds a record with the given created and modified time (for seeding history).
    pub fn insert_at(
        &self,
        object: &str,
        mut fields: Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Record, StoreError> {
        let mut tables = self.lock();
        let table = table_mut(&mut tables, object)?;
        drop_server_fields(&mut fields);
        if let Some(key) = fields.get(&table.key_field).and_then(Value::as_str)
            && let Some(existing) = table.find_key(key)
        {
            return Err(StoreError::DuplicateKey {
                object: object.to_owned(),
                key_field: table.key_field.clone(),
                key: key.to_owned(),
                id: existing.id,
            });
        }
        let record = Record {
            id: table.next_id,
            created_at: at,
            updated_at: at,
            fields,
        };
        table.next_id += 1;
        table.rows.insert(record.id, record.clone());
        Ok(record)
    }

    /// One record by id.
    pub fn get(&self, object: &str, id: u64) -> Result<Record, StoreError> {
        let mut tables = self.lock();
        let table = table_mut(&mut tables, object)?;
        table.rows.get(&id).cloned().ok_or(StoreError::NotFound {
            object: object.to_owned(),
            id,
        })
    }

    /// One record by business key, if there is one.
    pub fn find_by_key(&self, object: &str, key: &str) -> Result<Option<Record>, StoreError> {
        let mut tables = self.lock();
        Ok(table_mut(&mut tables, object)?.find_key(key).cloned())
    }

    /// The business-key field of `object`.
    pub fn key_field(&self, object: &str) -> Result<String, StoreError> {
        let mut tables = self.lock();
        Ok(table_mut(&mut tables, object)?.key_field.clone())
    }

    /// Sets the given fields (others are kept) and stamps the modified time now. Changing the
    /// business key to one another record has is refused.
    pub fn update(
        &self,
        object: &str,
        id: u64,
        mut patch: Map<String, Value>,
    ) -> Result<Record, StoreError> {
        let now = self.clock.now();
        let mut tables = self.lock();
        let table = table_mut(&mut tables, object)?;
        drop_server_fields(&mut patch);
        if let Some(key) = patch.get(&table.key_field).and_then(Value::as_str)
            && let Some(other) = table.find_key(key).filter(|r| r.id != id)
        {
            return Err(StoreError::DuplicateKey {
                object: object.to_owned(),
                key_field: table.key_field.clone(),
                key: key.to_owned(),
                id: other.id,
            });
        }
        let record = table.rows.get_mut(&id).ok_or(StoreError::NotFound {
            object: object.to_owned(),
            id,
        })?;
        record.fields.extend(patch);
        record.updated_at = now;
        Ok(record.clone())
    }

    /// Stamps a record's modified time now without changing it (a change the client did not
    /// make, such as a workflow at the vendor).
    pub fn touch(&self, object: &str, id: u64) -> Result<Record, StoreError> {
        self.update(object, id, Map::new())
    }

    /// Puts `record` back exactly as it was (id, times, fields), replacing a record with
    /// its id: for doubles that roll back a failed unit of work (an OData change set).
    pub fn restore(&self, object: &str, record: Record) -> Result<(), StoreError> {
        let mut tables = self.lock();
        let table = table_mut(&mut tables, object)?;
        table.next_id = table.next_id.max(record.id + 1);
        table.rows.insert(record.id, record);
        Ok(())
    }

    /// Removes a record.
    pub fn delete(&self, object: &str, id: u64) -> Result<Record, StoreError> {
        let mut tables = self.lock();
        table_mut(&mut tables, object)?
            .rows
            .remove(&id)
            .ok_or(StoreError::NotFound {
                object: object.to_owned(),
                id,
            })
    }

    /// The records passing `filter`, in (modified time, id) order, starting after `after`.
    pub fn list(
        &self,
        object: &str,
        filter: Option<UpdatedFilter>,
        after: Option<Position>,
    ) -> Result<Vec<Record>, StoreError> {
        let mut tables = self.lock();
        let table = table_mut(&mut tables, object)?;
        let mut rows: Vec<Record> = table
            .rows
            .values()
            .filter(|r| filter.is_none_or(|f| f.admits(r.updated_at)))
            .filter(|r| after.is_none_or(|p| r.position() > p))
            .cloned()
            .collect();
        rows.sort_by_key(Record::position);
        Ok(rows)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Table>> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn table_mut<'a>(
    tables: &'a mut BTreeMap<String, Table>,
    object: &str,
) -> Result<&'a mut Table, StoreError> {
    tables.get_mut(object).ok_or(StoreError::UnknownObject {
        object: object.to_owned(),
    })
}

fn drop_server_fields(fields: &mut Map<String, Value>) {
    for name in SERVER_FIELDS {
        fields.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn store() -> RecordStore {
        let clock = Clock::system();
        clock.freeze_at("2026-05-01T00:00:00Z".parse().unwrap());
        let store = RecordStore::new(clock);
        store.define("customers", "code");
        store
    }

    #[test]
    fn business_keys_are_unique_and_server_fields_are_the_servers() {
        let store = store();
        let a = store
            .insert("customers", fields(json!({"code": "C1", "id": 99})))
            .unwrap();
        assert_eq!(a.id, 1);
        let err = store
            .insert("customers", fields(json!({"code": "C1"})))
            .unwrap_err();
        assert!(matches!(err, StoreError::DuplicateKey { id: 1, .. }));
        let b = store
            .insert("customers", fields(json!({"code": "C2"})))
            .unwrap();
        let err = store
            .update("customers", b.id, fields(json!({"code": "C1"})))
            .unwrap_err();
        assert!(matches!(err, StoreError::DuplicateKey { id: 1, .. }));
    }

    #[test]
    fn lists_order_ties_by_id_and_filters_since_inclusive_after_exclusive() {
        let store = store();
        for code in ["A", "B", "C"] {
            store
                .insert("customers", fields(json!({ "code": code })))
                .unwrap();
        }
        let tie = store.clock().now();
        store.clock().advance(chrono::Duration::seconds(1));
        let moved = store.touch("customers", 1).unwrap();
        let ids = |rows: Vec<Record>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(store.list("customers", None, None).unwrap()), [2, 3, 1]);
        let since = Some(UpdatedFilter::Since(tie));
        assert_eq!(
            ids(store.list("customers", since, None).unwrap()),
            [2, 3, 1]
        );
        let after = Some(UpdatedFilter::After(tie));
        assert_eq!(ids(store.list("customers", after, None).unwrap()), [1]);
        let from = store.get("customers", 2).unwrap().position();
        assert_eq!(
            ids(store.list("customers", None, Some(from)).unwrap()),
            [3, 1]
        );
        assert!(moved.updated_at > moved.created_at);
    }
}
