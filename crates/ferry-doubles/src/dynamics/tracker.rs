//! Change tracking. Dataverse stamps each row change with a `versionnumber` (a rowversion,
//! strictly increasing across the org), which is also the `@odata.etag`, and a delta token
//! names a version: "what changed after it". The double learns changes by looking at the
//! store (so a test that changes records straight in the store is seen like a user's edit,
//! even twice in one second): a row whose fields or modified time differ from what was seen
//! gets the next version, a row that is gone becomes a `$deletedEntity` at the next version.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::tables::TABLES;
use crate::store::RecordStore;

/// What the tracker knows of one row.
#[derive(Debug, Clone)]
pub struct Row {
    pub guid: String,
    pub version: u64,
    seen: (DateTime<Utc>, Map<String, Value>),
}

/// A deleted row, kept for delta links.
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub set: &'static str,
    pub guid: String,
    pub version: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// The last version handed out.
    pub version: u64,
    rows: HashMap<(&'static str, u64), Row>,
    pub tombstones: Vec<Tombstone>,
    /// Delta tokens naming a version below this are expired.
    pub oldest_token: u64,
    /// GUIDs chosen by a client (`PATCH accounts(<guid>)` creating a row), by store id.
    pending: HashMap<(&'static str, u64), String>,
}

/// A GUID for a row the double made itself: stable, and unique per table and id.
fn derived_guid(set_index: usize, id: u64) -> String {
    let mixed = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    format!(
        "{:08x}-{:04x}-4{:03x}-8000-{:012x}",
        0x5f00_0000u32 + set_index as u32,
        (mixed & 0xffff) as u16,
        (mixed >> 16) & 0xfff,
        id
    )
}

impl Tracker {
    /// Compares the store with what was seen and stamps every change with a new version.
    pub fn observe(&mut self, store: &RecordStore) {
        for (index, table) in TABLES.iter().enumerate() {
            let records = store.list(table.set, None, None).unwrap_or_default();
            let mut live = std::collections::HashSet::new();
            for record in records {
                live.insert(record.id);
                let seen = (record.updated_at, record.fields.clone());
                let key = (table.set, record.id);
                match self.rows.get_mut(&key) {
                    Some(row) if row.seen == seen => {}
                    Some(row) => {
                        self.version += 1;
                        row.version = self.version;
                        row.seen = seen;
                    }
                    None => {
                        self.version += 1;
                        let guid = self
                            .pending
                            .remove(&key)
                            .unwrap_or_else(|| derived_guid(index, record.id));
                        let version = self.version;
                        self.rows.insert(
                            key,
                            Row {
                                guid,
                                version,
                                seen,
                            },
                        );
                    }
                }
            }
            let gone: Vec<_> = self
                .rows
                .keys()
                .filter(|(set, id)| *set == table.set && !live.contains(id))
                .copied()
                .collect();
            for key in gone {
                if let Some(row) = self.rows.remove(&key) {
                    self.version += 1;
                    self.tombstones.push(Tombstone {
                        set: table.set,
                        guid: row.guid,
                        version: self.version,
                    });
                }
            }
        }
    }

    pub fn row(&self, set: &'static str, id: u64) -> Option<&Row> {
        self.rows.get(&(set, id))
    }

    /// The store id of the row with this GUID.
    pub fn id_of(&self, set: &str, guid: &str) -> Option<u64> {
        self.rows
            .iter()
            .find(|((s, _), row)| *s == set && row.guid.eq_ignore_ascii_case(guid))
            .map(|((_, id), _)| *id)
    }

    /// The row just inserted as `id` takes the GUID the client chose.
    pub fn choose_guid(&mut self, set: &'static str, id: u64, guid: &str) {
        self.pending.insert((set, id), guid.to_ascii_lowercase());
    }

    /// Every delta token issued so far stops working (retention passed).
    pub fn expire_tokens(&mut self) {
        // A version of its own, so that the next token issued differs from every older one.
        self.version += 1;
        self.oldest_token = self.version;
    }
}

/// A GUID as Dataverse writes them: 8-4-4-4-12 hex digits.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[test]
    fn two_changes_in_one_second_get_two_versions_and_a_delete_a_tombstone() {
        let clock = Clock::system();
        clock.freeze_at("2026-05-01T00:00:00Z".parse().unwrap());
        let store = RecordStore::new(clock);
        for t in TABLES {
            store.define(t.set, t.key[0]);
        }
        let mut tracker = Tracker::default();
        let fields = |v: Value| v.as_object().unwrap().clone();
        let a = store
            .insert(
                "accounts",
                fields(serde_json::json!({"accountnumber": "A1"})),
            )
            .unwrap();
        tracker.observe(&store);
        let first = tracker.row("accounts", a.id).unwrap().version;
        assert!(is_guid(&tracker.row("accounts", a.id).unwrap().guid));
        store
            .update("accounts", a.id, fields(serde_json::json!({"name": "x"})))
            .unwrap();
        tracker.observe(&store);
        let second = tracker.row("accounts", a.id).unwrap().version;
        assert!(second > first, "same second, new version");
        tracker.observe(&store);
        assert_eq!(tracker.row("accounts", a.id).unwrap().version, second);
        store.delete("accounts", a.id).unwrap();
        tracker.observe(&store);
        assert_eq!(tracker.tombstones.len(), 1);
        assert!(tracker.tombstones[0].version > second);
    }
}
