//! What `reconcile` found, in a stable shape: the JSON of `ferry reconcile --format json` and
//! of the API is this struct serialized (documented in docs/cli.md).

use serde::Serialize;
use serde_json::Value;

use crate::RunReport;

/// The result of reconciling one flow.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The flow.
    pub flow: String,
    /// The canonical field holding the business key.
    pub key_field: String,
    /// The canonical fields compared: those the flow's mapping produces and the target holds.
    pub compared_fields: Vec<String>,
    /// Exact counts (details below are limited to `details_limit` per list).
    pub counts: Counts,
    /// No drift at all: every source record is in the target with equal fields, nothing is in
    /// the target without a source record, and no key is used twice.
    pub clean: bool,
    /// Source records whose target record has different field values.
    pub differing: Vec<Difference>,
    /// Source records with no target record.
    pub missing_in_target: Vec<Missing>,
    /// Target records with no source record.
    pub missing_in_source: Vec<Missing>,
    /// Business keys used by more than one record on one side.
    pub duplicate_keys: Vec<DuplicateKey>,
    /// Source records the mapping refused (they cannot be compared).
    pub unmapped: Vec<Unmapped>,
    /// Most entries kept per detail list.
    pub details_limit: usize,
    /// Some detail list was cut at `details_limit` (the counts are still exact).
    pub truncated: bool,
    /// What `--repair` did, when asked.
    pub repair: Option<Repair>,
    /// Records read from both sides per second.
    pub records_per_second: f64,
    /// Wall time of the comparison (repair excluded), in seconds.
    pub seconds: f64,
}

/// Exact counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Source records read (deleted ones excluded).
    pub source: u64,
    /// Target records read.
    pub target: u64,
    /// Target records matched with a source record (by xref, else by business key).
    pub matched: u64,
    /// Matched records whose compared fields are all the same.
    pub equal: u64,
    /// Matched records with at least one different field.
    pub differing: u64,
    /// Source records with no target record.
    pub missing_in_target: u64,
    /// Target records with no source record.
    pub missing_in_source: u64,
    /// Keys used by several source records.
    pub duplicate_keys_source: u64,
    /// Keys used by several target records.
    pub duplicate_keys_target: u64,
    /// Source records the mapping refused.
    pub unmapped: u64,
}

impl Counts {
    /// Whether nothing drifted.
    pub fn clean(&self) -> bool {
        self.differing == 0
            && self.missing_in_target == 0
            && self.missing_in_source == 0
            && self.duplicate_keys_source == 0
            && self.duplicate_keys_target == 0
            && self.unmapped == 0
    }
}

/// A record whose fields differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Its business key.
    pub key: Option<String>,
    /// Its source id.
    pub source_id: String,
    /// Its target id.
    pub target_id: String,
    /// The fields that differ, in the order of `compared_fields`.
    pub fields: Vec<FieldDifference>,
}

/// One field's two values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDifference {
    /// The canonical field.
    pub field: String,
    /// The source's value after mapping.
    pub source: Value,
    /// The target's value.
    pub target: Value,
}

/// A record found on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// Its business key.
    pub key: Option<String>,
    /// Its source id (for records missing in the target).
    pub source_id: Option<String>,
    /// Its target id (for records missing in the source; for records missing in the target,
    /// the id Ferry last wrote it under, if any).
    pub target_id: Option<String>,
}

/// Which side of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The flow's source.
    Source,
    /// The flow's target.
    Target,
}

/// A business key several records share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateKey {
    /// Where.
    pub side: Side,
    /// The key.
    pub key: String,
    /// How many records carry it.
    pub count: u64,
}

/// A source record the mapping refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmapped {
    /// Its source id.
    pub source_id: String,
    /// Why (naming flow, record and field).
    pub error: String,
}

/// What `--repair` and `--repair-deletes` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Repair {
    /// Source records queued (trigger `reconcile`): the differing and the missing in target.
    pub queued: u64,
    /// The queue run that worked them off through the normal pipeline.
    pub run: Option<RunReport>,
    /// Target records with no source record deleted or archived (`--repair-deletes`).
    pub deleted: u64,
    /// Those the target refused.
    pub delete_errors: u64,
    /// The first refusals' messages.
    pub errors: Vec<String>,
}
