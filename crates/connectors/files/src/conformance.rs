//! The conformance suite (`ferry-conformance`) on a real folder: each seed is a new CSV file
//! `customers_<n>.csv` (`code,name`), a rename rewrites the file holding the record, and
//! each file gets a later modification time, as an ERP export folder does. Exports go to
//! `export.csv`, which the source's pattern does not match.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use ferry_conformance::{Fixture, Seeded};
use ferry_kit::{ConnectorFactory, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::FilesFactory;

/// A folder of CSV files.
pub struct Files {
    dir: tempfile::TempDir,
    /// Seconds after a fixed epoch: each write gets a later modification time.
    clock: AtomicU64,
}

impl Files {
    pub async fn folder() -> Option<Self> {
        Some(Self {
            dir: tempfile::tempdir().expect("a temp dir"),
            clock: AtomicU64::new(0),
        })
    }

    fn write(&self, path: &Path, rows: &[(String, String)]) {
        let mut text = String::from("code,name\n");
        for (code, name) in rows {
            text.push_str(&format!("{code},{name}\n"));
        }
        std::fs::write(path, text).expect("write");
        let stamp = self.clock.fetch_add(1, Ordering::SeqCst);
        let file = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + stamp);
        file.set_modified(at).expect("set mtime");
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("list")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("customers_"))
            })
            .collect();
        out.sort();
        out
    }

    fn rows(path: &Path) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(path).expect("read");
        text.lines()
            .skip(1)
            .filter_map(|l| l.split_once(','))
            .map(|(c, n)| (c.to_owned(), n.to_owned()))
            .collect()
    }
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[async_trait]
impl Fixture for Files {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(FilesFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({"dir": self.dir.path().display().to_string()}))
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"pattern": "customers_*.csv", "id": "code"}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({"file": "export.csv", "columns": ["code", "name"]}))
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".to_owned(),
            fields: vec!["code".to_owned(), "name".to_owned()],
        }
    }
    fn object(&self) -> String {
        self.files()
            .first()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    async fn reset(&self) {
        for entry in std::fs::read_dir(self.dir.path()).expect("list") {
            std::fs::remove_file(entry.expect("entry").path()).expect("remove");
        }
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        let n = self.files().len() + 1;
        self.write(
            &self.dir.path().join(format!("customers_{n:03}.csv")),
            records,
        );
        records
            .iter()
            .map(|(key, _)| (key.clone(), key.clone()))
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        for path in self.files() {
            let mut rows = Self::rows(&path);
            if let Some(row) = rows.iter_mut().find(|(code, _)| code == id) {
                row.1 = name.to_owned();
                return self.write(&path, &rows);
            }
        }
        panic!("no file holds {id}");
    }

    fn key_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn refused(&self) -> Option<ferry_kit::Outgoing> {
        None
    }
    fn refusal_says(&self) -> &str {
        ""
    }
}

ferry_conformance::suite!(folder, crate::conformance::Files::folder().await);
