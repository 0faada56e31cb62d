//! Two-way sync (`pairs:`): field ownership, conflicts and echo suppression.
//!
//! Each pair keeps, per business key, a **baseline**: the canonical values both systems last
//! agreed on (`ferry_baselines`, committed with the batch that wrote them). When a flow of a
//! pair processes a record from its source (system S, writing to T):
//!
//! 1. the fields whose mapped value differs from the baseline are S's changes; nothing else is
//!    written (a record that comes back equal to the baseline, such as our own write read back
//!    by the partner flow, writes nothing: that is what stops echo loops);
//! 2. a change to a field T owns is not written and is reported (ledger outcome `not_owner`
//!    naming the fields); a field S owns is written;
//! 3. a change to a `shared` field is checked against T's current record (read through the
//!    partner flow's source and mapping): T unchanged → written; T holds the same value →
//!    agreed, nothing to write; T changed it too → a conflict, settled by the pair's policy
//!    (`owner`: the system of record wins; `newest`: the later updated-at wins, a tie within
//!    `clock_skew` goes to the system of record; `manual`: the review queue). When T's side
//!    wins, this flow writes nothing for the field and leaves the baseline alone: the partner
//!    flow finds the same conflict from its side and carries T's value over.
//!
//! The first time a key is seen, the baseline is T's current record when T has it (found by
//! the partner's xref, else this flow's target id), else empty (a create: every non-empty
//! field S owns or shares is written). The two flows of a pair hold one lock while they read,
//! decide, write and commit, so one never judges a record against a baseline the other is
//! about to change (within one process; see docs/architecture.md).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_kit::Outgoing;
use ferry_model::config::{ConflictPolicy, SHARED};
use ferry_model::{ConnectorError, Record};
use ferry_store::{
    BaselineUpdate, ConflictResolution, ConflictState, LedgerEntry, NewConflict, Outcome, Store,
    XrefUpdate,
};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::assemble::{Flow, TwoWay};
use crate::error::EngineError;
use crate::pipeline::{
    BatchContext, BatchResult, Pending, ack, attempt_of, deliver, store_failure,
};
use crate::reconcile::same;
use crate::retry::retry;
use crate::run::{Engine, source_failure};
use ferry_model::config::RetrySettings;

/// Who owns a field, seen from one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The flow's source system.
    Source,
    /// The flow's target system.
    Target,
    /// Either may change it.
    Shared,
}

/// Which side's value wins a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Winner {
    Source,
    Target,
}

/// The rules of a pair as one flow sees them.
pub(crate) struct Rules<'a> {
    pub key_field: &'a str,
    pub owner: &'a (dyn Fn(&str) -> Owner + Sync),
    pub policy: ConflictPolicy,
    pub skew: chrono::Duration,
    /// The system of record, as a side (`None`: `manual` with a shared default).
    pub system_of_record: Option<Winner>,
}

/// A shared field changed on both sides.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clash {
    pub field: String,
    pub source: Value,
    pub target: Value,
    pub base: Value,
    /// `None`: left for review (`manual`).
    pub winner: Option<Winner>,
    /// Why that side won.
    pub reason: &'static str,
}

/// What to do with one record.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Decision {
    /// The fields to write (the key included when anything is written).
    pub write: Map<String, Value>,
    /// The values agreed on once the write is done.
    pub baseline: Map<String, Value>,
    /// The baseline changes even without a write (first contact, agreed values).
    pub baseline_changed: bool,
    /// The other side is known to hold the record (a baseline, or its current record).
    pub known: bool,
    /// Fields changed in the source that the target owns: not written.
    pub rejected: Vec<String>,
    pub clashes: Vec<Clash>,
}

/// The target's current record, mapped into canonical fields.
pub(crate) struct TargetState {
    pub id: String,
    pub fields: Map<String, Value>,
    pub at: Option<DateTime<Utc>>,
}

/// Decides one record (pure: tested without systems). `all` writes every field the source
/// owns or shares, changed or not (a reconcile repair).
pub(crate) fn decide(
    rules: &Rules<'_>,
    source: &Map<String, Value>,
    source_at: Option<DateTime<Utc>>,
    base: Option<&Map<String, Value>>,
    target: Option<&TargetState>,
    all: bool,
) -> Decision {
    let mut d = Decision::default();
    let first_contact = base.is_none();
    d.known = base.is_some() || target.is_some();
    let base: Map<String, Value> = match (base, target) {
        (Some(b), _) => b.clone(),
        (None, Some(t)) => t.fields.clone(),
        (None, None) => Map::new(),
    };
    d.baseline = base.clone();
    d.baseline_changed = first_contact && !base.is_empty();
    for (field, sv) in source {
        if field == rules.key_field {
            continue;
        }
        let bv = base.get(field).unwrap_or(&Value::Null);
        let changed = !same(sv, bv);
        let owner = (rules.owner)(field);
        // A repair writes what we own or share even when unchanged.
        let repaired = all && owner != Owner::Target;
        if !(changed || repaired) {
            continue;
        }
        match owner {
            Owner::Target => d.rejected.push(field.clone()),
            Owner::Source => {
                d.write.insert(field.clone(), sv.clone());
                d.baseline.insert(field.clone(), sv.clone());
            }
            Owner::Shared => {
                let tv = target.and_then(|t| t.fields.get(field));
                match tv {
                    // The target's value is unknown or unchanged: ours goes.
                    None => {
                        d.write.insert(field.clone(), sv.clone());
                        d.baseline.insert(field.clone(), sv.clone());
                    }
                    Some(tv) if all || same(tv, bv) => {
                        d.write.insert(field.clone(), sv.clone());
                        d.baseline.insert(field.clone(), sv.clone());
                    }
                    // Both made the same change: agreed, nothing to write.
                    Some(tv) if same(tv, sv) => {
                        d.baseline.insert(field.clone(), sv.clone());
                        d.baseline_changed = true;
                    }
                    Some(tv) => {
                        let (winner, reason) = settle(rules, source_at, target.and_then(|t| t.at));
                        if winner == Some(Winner::Source) {
                            d.write.insert(field.clone(), sv.clone());
                            d.baseline.insert(field.clone(), sv.clone());
                        }
                        d.clashes.push(Clash {
                            field: field.clone(),
                            source: sv.clone(),
                            target: tv.clone(),
                            base: bv.clone(),
                            winner,
                            reason,
                        });
                    }
                }
            }
        }
    }
    if !d.write.is_empty()
        && let Some(key) = source.get(rules.key_field)
    {
        d.write.insert(rules.key_field.to_owned(), key.clone());
        d.baseline.insert(rules.key_field.to_owned(), key.clone());
    }
    d
}

/// Who wins a conflict under the pair's policy, and why.
fn settle(
    rules: &Rules<'_>,
    source_at: Option<DateTime<Utc>>,
    target_at: Option<DateTime<Utc>>,
) -> (Option<Winner>, &'static str) {
    match rules.policy {
        ConflictPolicy::Manual => (None, "waiting for review"),
        ConflictPolicy::Owner => (rules.system_of_record, "the system of record wins"),
        ConflictPolicy::Newest => match (source_at, target_at) {
            (Some(s), Some(t)) if (s - t).abs() > rules.skew => (
                Some(if s > t {
                    Winner::Source
                } else {
                    Winner::Target
                }),
                "the newer change wins",
            ),
            (Some(_), Some(_)) => (
                rules.system_of_record,
                "changed within the clock skew: the system of record wins",
            ),
            _ => (
                rules.system_of_record,
                "no updated-at on both sides: the system of record wins",
            ),
        },
    }
}

/// The owner of a field seen from the flow, from the pair's config.
fn owner_seen_from(tw: &TwoWay, field: &str) -> Owner {
    let owner = tw.config.owner_of(field);
    if owner == SHARED {
        Owner::Shared
    } else if owner == tw.source_system {
        Owner::Source
    } else {
        Owner::Target
    }
}

fn side_of(tw: &TwoWay, system: Option<&str>) -> Option<Winner> {
    match system {
        Some(s) if s == tw.source_system => Some(Winner::Source),
        Some(_) => Some(Winner::Target),
        None => None,
    }
}

/// The pipeline's hook: decides every mapped record of the batch by the pair's rules. Records
/// with something to write come back with only those fields (and the baseline to commit once
/// written); the others are finished here (xref, ledger, baseline, conflicts).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply(
    flow: &Flow,
    tw: &TwoWay,
    store: &dyn Store,
    retry_settings: &RetrySettings,
    cancel: &CancellationToken,
    ctx: &BatchContext<'_>,
    mapped: Vec<Pending>,
    out: &mut BatchResult,
) -> Result<Vec<Pending>, EngineError> {
    if mapped.is_empty() {
        return Ok(mapped);
    }
    let mut keys: Vec<String> = mapped.iter().map(|p| p.key.clone()).collect();
    keys.sort_unstable();
    keys.dedup();
    let baselines = retry(retry_settings, cancel, "store.baselines", || {
        store.baselines(&tw.pair, &keys)
    })
    .await
    .map_err(store_failure)?;
    let owner = |field: &str| owner_seen_from(tw, field);
    let rules = Rules {
        key_field: &flow.key_field,
        owner: &owner,
        policy: tw.config.conflicts,
        skew: chrono::Duration::from_std(tw.config.clock_skew.0)
            .unwrap_or(chrono::Duration::seconds(2)),
        system_of_record: side_of(tw, tw.config.system_of_record()),
    };

    // The target's current record is needed where a shared field changed, and on first
    // contact (it is the baseline then).
    let needs_target = |p: &Pending| -> bool {
        match baselines.get(&p.key) {
            None => true,
            Some(base) => p.fields.iter().any(|(f, v)| {
                f != &flow.key_field
                    && owner(f) == Owner::Shared
                    && !same(v, base.get(f).unwrap_or(&Value::Null))
            }),
        }
    };
    let wanted: Vec<&Pending> = mapped.iter().filter(|p| needs_target(p)).collect();
    let targets = if wanted.is_empty() {
        HashMap::new()
    } else {
        target_states(flow, tw, store, retry_settings, cancel, &wanted).await?
    };

    let mut ready = Vec::with_capacity(mapped.len());
    for mut p in mapped {
        let rewrite = ctx
            .items
            .get(&p.record.id)
            .is_some_and(|item| item.trigger == crate::reconcile::TRIGGER);
        let target = targets.get(&p.key);
        let d = decide(
            &rules,
            &p.fields,
            p.record.updated_at,
            baselines.get(&p.key),
            target,
            rewrite,
        );
        if !d.rejected.is_empty() {
            out.stats.rejected += 1;
            let message = rejected_message(flow, tw, &p, &d.rejected);
            out.commit.ledger.push(report(
                flow,
                ctx,
                &p,
                Outcome::NotOwner,
                "not_owner",
                message,
            ));
        }
        if !d.clashes.is_empty() {
            out.stats.conflicts += 1;
            let message = clash_message(flow, tw, &p, target, &d.clashes);
            out.commit.ledger.push(report(
                flow,
                ctx,
                &p,
                Outcome::Conflict,
                tw.config.conflicts.as_str(),
                message,
            ));
            let waiting: Vec<&Clash> = d.clashes.iter().filter(|c| c.winner.is_none()).collect();
            if !waiting.is_empty() {
                out.commit
                    .conflicts
                    .push(new_conflict(flow, tw, &p, target, &waiting));
            }
        }
        let baseline = BaselineUpdate {
            pair: tw.pair.clone(),
            key: p.key.clone(),
            fields: d.baseline,
        };
        if d.write.is_empty() {
            // Nothing of ours to write: an echo of our own write, an unchanged record, or
            // only changes that are not ours to make.
            let agreed = d.rejected.is_empty() && d.clashes.is_empty();
            if agreed {
                out.stats.unchanged += 1;
            }
            if d.baseline_changed {
                out.commit.baselines.push(baseline);
            }
            // When the two sides agree, the target holds what we would write: remember it as
            // written (so the record is `synced`, and a later write of it an update).
            let written = p.before.as_ref().and_then(|x| x.written_hash.clone());
            let written = match written {
                None if agreed && d.known => Some(ferry_model::content_hash(&p.fields)),
                other => other,
            };
            out.commit.xrefs.push(XrefUpdate {
                source_id: p.record.id.clone(),
                key: Some(p.key.clone()),
                target_id: p.before.as_ref().and_then(|x| x.target_id.clone()),
                read_hash: Some(p.read_hash.clone()),
                written_hash: written,
                source_version: p.record.version(),
                new: false,
            });
            deliver(&mut out.commit, p.before.as_ref(), &p.record.id);
            ack(&mut out.commit, ctx, &p.record.id);
            continue;
        }
        p.fields = d.write;
        p.baseline = Some(baseline);
        ready.push(p);
    }
    Ok(ready)
}

/// The target's current records of these pending records, by business key, mapped through
/// the partner flow's mapping: found by the partner's xref (its source id), else by this
/// flow's target id. Records the target does not have (or that do not map) are absent.
async fn target_states(
    flow: &Flow,
    tw: &TwoWay,
    store: &dyn Store,
    retry_settings: &RetrySettings,
    cancel: &CancellationToken,
    wanted: &[&Pending],
) -> Result<HashMap<String, TargetState>, EngineError> {
    let keys: Vec<String> = wanted.iter().map(|p| p.key.clone()).collect();
    let partner = retry(retry_settings, cancel, "store.xrefs_by_keys", || {
        store.xrefs_by_keys(&tw.partner, &keys)
    })
    .await
    .map_err(store_failure)?;
    let mut ids: Vec<(String, String)> = Vec::new();
    for p in wanted {
        let id = partner
            .get(&p.key)
            .map(|x| x.source_id.clone())
            .or_else(|| p.before.as_ref().and_then(|x| x.target_id.clone()));
        if let Some(id) = id {
            ids.push((p.key.clone(), id));
        }
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let fetch: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    let records = retry(retry_settings, cancel, "target.fetch", || {
        tw.partner_source.fetch(&fetch)
    })
    .await
    .map_err(|e| source_failure(&tw.partner, e))?;
    let by_id: HashMap<&str, &Record> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut out = HashMap::new();
    for (key, id) in ids {
        let Some(record) = by_id.get(id.as_str()).filter(|r| !r.deleted) else {
            continue;
        };
        match tw.partner_mapping.apply(record) {
            Ok(fields) => {
                out.insert(
                    key,
                    TargetState {
                        id,
                        fields,
                        at: record.updated_at,
                    },
                );
            }
            Err(e) => {
                tracing::warn!(flow = %flow.name, partner = %tw.partner, record = %id, error = %e,
                    "The target's record does not map back; deciding without it.");
            }
        }
    }
    Ok(out)
}

fn report(
    flow: &Flow,
    ctx: &BatchContext<'_>,
    p: &Pending,
    outcome: Outcome,
    kind: &str,
    message: String,
) -> LedgerEntry {
    let written = p.before.as_ref().and_then(|x| x.written_hash.clone());
    LedgerEntry {
        id: 0,
        flow: flow.name.clone(),
        source_id: p.record.id.clone(),
        key: Some(p.key.clone()),
        run_id: ctx.run_id,
        at: Utc::now(),
        trigger: ctx.trigger.to_owned(),
        outcome,
        attempt: attempt_of(ctx, &p.record.id),
        target_id: p.before.as_ref().and_then(|x| x.target_id.clone()),
        before_hash: written.clone(),
        after_hash: written,
        source_version: p.record.version(),
        error_kind: Some(kind.to_owned()),
        error: Some(message),
    }
}

fn quoted(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Names the fields and who owns them; values stay out of the ledger (they may be masked).
fn rejected_message(flow: &Flow, tw: &TwoWay, p: &Pending, fields: &[String]) -> String {
    format!(
        "flow `{}`, record `{}`, key `{}`: {} changed in {} but owned by {}: not propagated; \
         make the change in {} (or set it back in {})",
        flow.name,
        p.record.id,
        p.key,
        quoted(fields),
        tw.source_system,
        tw.target_system,
        tw.target_system,
        tw.source_system
    )
}

fn clash_message(
    flow: &Flow,
    tw: &TwoWay,
    p: &Pending,
    target: Option<&TargetState>,
    clashes: &[Clash],
) -> String {
    let fields: Vec<String> = clashes.iter().map(|c| c.field.clone()).collect();
    let at = |t: Option<DateTime<Utc>>| t.map_or("?".to_owned(), |t| t.to_rfc3339());
    let settled: Vec<String> = clashes
        .iter()
        .map(|c| match c.winner {
            Some(Winner::Source) => format!(
                "`{}`: {} wins ({}), written to {}",
                c.field, tw.source_system, c.reason, tw.target_system
            ),
            Some(Winner::Target) => format!(
                "`{}`: {} wins ({}); flow `{}` carries it to {}",
                c.field, tw.target_system, c.reason, tw.partner, tw.source_system
            ),
            None => format!("`{}`: waiting for review (ferry conflicts list)", c.field),
        })
        .collect();
    format!(
        "flow `{}`, record `{}`, key `{}`: {} changed in both {} (updated {}) and {} (updated \
         {}) since the last sync; conflicts: {}: {}",
        flow.name,
        p.record.id,
        p.key,
        quoted(&fields),
        tw.source_system,
        at(p.record.updated_at),
        tw.target_system,
        at(target.and_then(|t| t.at)),
        tw.config.conflicts.as_str(),
        settled.join("; ")
    )
}

/// The review item, in the orientation of the pair's first flow whichever flow found it.
fn new_conflict(
    flow: &Flow,
    tw: &TwoWay,
    p: &Pending,
    target: Option<&TargetState>,
    clashes: &[&Clash],
) -> NewConflict {
    let ours: Map<String, Value> = clashes
        .iter()
        .map(|c| (c.field.clone(), c.source.clone()))
        .collect();
    let theirs: Map<String, Value> = clashes
        .iter()
        .map(|c| (c.field.clone(), c.target.clone()))
        .collect();
    let base: Map<String, Value> = clashes
        .iter()
        .map(|c| (c.field.clone(), c.base.clone()))
        .collect();
    let fields: Vec<String> = clashes.iter().map(|c| c.field.clone()).collect();
    let (our_id, their_id) = (Some(p.record.id.clone()), target.map(|t| t.id.clone()));
    let (our_at, their_at) = (p.record.updated_at, target.and_then(|t| t.at));
    if tw.first {
        NewConflict {
            pair: tw.pair.clone(),
            flow: flow.name.clone(),
            key: p.key.clone(),
            source_id: our_id,
            target_id: their_id,
            fields,
            source_values: ours,
            target_values: theirs,
            source_at: our_at,
            target_at: their_at,
            base_values: base,
        }
    } else {
        NewConflict {
            pair: tw.pair.clone(),
            flow: tw.partner.clone(),
            key: p.key.clone(),
            source_id: their_id,
            target_id: our_id,
            fields,
            source_values: theirs,
            target_values: ours,
            source_at: their_at,
            target_at: our_at,
            base_values: base,
        }
    }
}

/// Which version of a conflict an operator picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The version of the conflict's flow's source system.
    Source,
    /// The version of its target system.
    Target,
}

impl Pick {
    /// `source` or `target`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pick::Source => "source",
            Pick::Target => "target",
        }
    }
    /// Parses `source` or `target`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "source" => Some(Pick::Source),
            "target" => Some(Pick::Target),
            _ => None,
        }
    }
}

impl Engine {
    /// Settles a conflict of the review queue with an operator's pick: writes the picked
    /// values to the other system (source picked: the conflict's flow writes them to its
    /// target; target picked: the partner flow writes them to the source), then, in one store
    /// transaction, marks the conflict resolved, makes the picked values the pair's baseline
    /// for the key and appends a ledger entry. Nothing is echoed back: the written record
    /// reads back equal to the baseline. The caller audits the action.
    pub async fn resolve_conflict(
        &self,
        id: i64,
        pick: Pick,
        resolved_by: &str,
        cancel: &CancellationToken,
    ) -> Result<ferry_store::Conflict, EngineError> {
        let conflict = self
            .store
            .conflict(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("conflict {id} does not exist")))?;
        if conflict.state != ConflictState::Open {
            return Err(EngineError::NotFound(format!(
                "conflict {id} is {}; only an open conflict can be resolved",
                conflict.state.as_str()
            )));
        }
        let c = &conflict.found;
        let first = self.flow(&c.flow)?.clone();
        let tw = first.two_way.clone().ok_or_else(|| {
            EngineError::NotFound(format!(
                "flow `{}` of conflict {id} is no longer in a two-way pair",
                c.flow
            ))
        })?;
        let _pair = tw.lock.lock().await;
        let (writer, values, reader_id) = match pick {
            Pick::Source => (first.clone(), &c.source_values, c.source_id.clone()),
            Pick::Target => (
                self.flow(&tw.partner)?.clone(),
                &c.target_values,
                c.target_id.clone(),
            ),
        };
        // The writer's xref knows its target's id for the record, when it wrote it before.
        let xref = match &reader_id {
            Some(rid) => self
                .store
                .xrefs(&writer.name, std::slice::from_ref(rid))
                .await?
                .remove(rid),
            None => None,
        };
        let mut fields = values.clone();
        fields.insert(writer.key_field.clone(), Value::String(c.key.clone()));
        let outgoing = [Outgoing {
            key: c.key.clone(),
            target_id: xref.as_ref().and_then(|x| x.target_id.clone()),
            fields: fields.clone(),
        }];
        let settings = &self.settings.retry;
        let written = retry(settings, cancel, "target.upsert", || {
            writer.sink.upsert(&outgoing)
        })
        .await
        .map_err(crate::pipeline::target_failure(&writer))?
        .into_iter()
        .next()
        .ok_or_else(|| EngineError::Target {
            flow: writer.name.clone(),
            error: ConnectorError::fatal("the target answered no result for 1 record"),
        })?
        .map_err(|error| EngineError::Target {
            flow: writer.name.clone(),
            error,
        })?;
        let mut baseline = self
            .store
            .baselines(&c.pair, std::slice::from_ref(&c.key))
            .await?
            .remove(&c.key)
            .unwrap_or_default();
        for (f, v) in &fields {
            baseline.insert(f.clone(), v.clone());
        }
        let hash = ferry_model::content_hash(&fields);
        let ledger = LedgerEntry {
            id: 0,
            flow: writer.name.clone(),
            source_id: reader_id.unwrap_or_else(|| c.key.clone()),
            key: Some(c.key.clone()),
            run_id: None,
            at: Utc::now(),
            trigger: format!(
                "conflict {id} resolved by {resolved_by}: {} picked",
                pick.as_str()
            ),
            outcome: Outcome::Updated,
            attempt: 1,
            target_id: Some(written.target_id),
            before_hash: xref.and_then(|x| x.written_hash),
            after_hash: Some(hash),
            source_version: None,
            error_kind: None,
            error: None,
        };
        let resolution = ConflictResolution {
            pick: pick.as_str().to_owned(),
            resolved_by: resolved_by.to_owned(),
            baseline: BaselineUpdate {
                pair: c.pair.clone(),
                key: c.key.clone(),
                fields: baseline,
            },
            ledger,
        };
        Ok(self.store.resolve_conflict(id, &resolution).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn owner(field: &str) -> Owner {
        match field {
            "credit_limit" => Owner::Target,
            "phone" | "email" => Owner::Shared,
            _ => Owner::Source,
        }
    }

    fn rules(policy: ConflictPolicy) -> Rules<'static> {
        Rules {
            key_field: "code",
            owner: &owner,
            policy,
            skew: chrono::Duration::seconds(2),
            system_of_record: Some(Winner::Source),
        }
    }

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(1_770_000_000 + secs, 0)
    }

    fn target(fields: Value, secs: i64) -> TargetState {
        TargetState {
            id: "C1".into(),
            fields: map(fields),
            at: at(secs),
        }
    }

    const BASE: &str =
        r#"{"code": "C1", "name": "Ada", "credit_limit": "500.00", "phone": "1", "email": "a@x"}"#;

    fn base() -> Map<String, Value> {
        serde_json::from_str(BASE).unwrap()
    }

    #[test]
    fn an_echo_of_the_baseline_writes_nothing() {
        let d = decide(
            &rules(ConflictPolicy::Owner),
            &base(),
            at(0),
            Some(&base()),
            None,
            false,
        );
        assert!(d.write.is_empty() && d.rejected.is_empty() && d.clashes.is_empty());
        assert!(!d.baseline_changed);
        // Spelling differences of one value are not changes.
        let mut spelled = base();
        spelled.insert("credit_limit".into(), json!("500"));
        let d = decide(
            &rules(ConflictPolicy::Owner),
            &spelled,
            at(0),
            Some(&base()),
            None,
            false,
        );
        assert!(d.write.is_empty() && d.rejected.is_empty());
    }

    #[test]
    fn owned_changes_are_written_and_others_rejected() {
        let mut s = base();
        s.insert("name".into(), json!("Ada L"));
        s.insert("credit_limit".into(), json!("9000.00"));
        let d = decide(
            &rules(ConflictPolicy::Owner),
            &s,
            at(0),
            Some(&base()),
            None,
            false,
        );
        assert_eq!(json!(d.write), json!({"code": "C1", "name": "Ada L"}));
        assert_eq!(d.rejected, ["credit_limit"]);
        assert_eq!(d.baseline["name"], "Ada L");
        assert_eq!(d.baseline["credit_limit"], "500.00", "not agreed");
    }

    #[test]
    fn shared_fields_check_the_target() {
        let mut s = base();
        s.insert("phone".into(), json!("2"));
        // Target unchanged: ours goes.
        let t = target(json!({"code": "C1", "phone": "1"}), 0);
        let d = decide(
            &rules(ConflictPolicy::Manual),
            &s,
            at(0),
            Some(&base()),
            Some(&t),
            false,
        );
        assert_eq!(d.write["phone"], "2");
        assert!(d.clashes.is_empty());
        // Target made the same change: agreed, nothing written.
        let t = target(json!({"code": "C1", "phone": "2"}), 0);
        let d = decide(
            &rules(ConflictPolicy::Manual),
            &s,
            at(0),
            Some(&base()),
            Some(&t),
            false,
        );
        assert!(d.write.is_empty() && d.clashes.is_empty());
        assert!(d.baseline_changed);
        assert_eq!(d.baseline["phone"], "2");
    }

    #[test]
    fn conflicts_follow_the_policy() {
        let mut s = base();
        s.insert("phone".into(), json!("2"));
        let t = target(json!({"code": "C1", "phone": "3"}), 0);
        let decide_with =
            |policy, s_at| decide(&rules(policy), &s, s_at, Some(&base()), Some(&t), false);
        // owner: the system of record (the source here) wins.
        let d = decide_with(ConflictPolicy::Owner, at(0));
        assert_eq!(d.write["phone"], "2");
        assert_eq!(d.clashes[0].winner, Some(Winner::Source));
        // newest: the target changed 10 s later and wins: nothing written here.
        let d = decide_with(ConflictPolicy::Newest, at(-10));
        assert!(d.write.is_empty());
        assert_eq!(d.clashes[0].winner, Some(Winner::Target));
        assert_eq!(d.baseline["phone"], "1", "left for the partner flow");
        // newest: the source is 10 s newer.
        let d = decide_with(ConflictPolicy::Newest, at(10));
        assert_eq!(d.write["phone"], "2");
        // newest within the 2 s skew: the system of record.
        let d = decide_with(ConflictPolicy::Newest, at(-1));
        assert_eq!(d.clashes[0].winner, Some(Winner::Source));
        assert!(d.clashes[0].reason.contains("clock skew"));
        // manual: nothing written, both versions kept.
        let d = decide_with(ConflictPolicy::Manual, at(0));
        assert!(d.write.is_empty());
        assert_eq!(d.clashes[0].winner, None);
        assert_eq!(
            (
                &d.clashes[0].source,
                &d.clashes[0].target,
                &d.clashes[0].base
            ),
            (&json!("2"), &json!("3"), &json!("1"))
        );
    }

    #[test]
    fn first_contact_takes_the_target_as_baseline_or_creates() {
        let s = base();
        // The target has the record: its values are the baseline; ours differ in a source
        // field and a target-owned one.
        let t = target(
            json!({"code": "C1", "name": "Ada", "credit_limit": "700.00", "phone": "1", "email": "a@x"}),
            0,
        );
        let d = decide(
            &rules(ConflictPolicy::Owner),
            &s,
            at(0),
            None,
            Some(&t),
            false,
        );
        assert!(d.write.is_empty());
        assert_eq!(d.rejected, ["credit_limit"]);
        assert!(d.baseline_changed);
        // Nothing anywhere: a create of every non-empty field we own or share.
        let mut s = base();
        s.insert("credit_limit".into(), Value::Null);
        let d = decide(&rules(ConflictPolicy::Owner), &s, at(0), None, None, false);
        assert_eq!(
            json!(d.write),
            json!({"code": "C1", "name": "Ada", "phone": "1", "email": "a@x"})
        );
        assert!(d.rejected.is_empty());
    }

    #[test]
    fn a_repair_writes_every_field_it_owns_or_shares() {
        let d = decide(
            &rules(ConflictPolicy::Owner),
            &base(),
            at(0),
            Some(&base()),
            None,
            true,
        );
        assert_eq!(
            json!(d.write),
            json!({"code": "C1", "name": "Ada", "phone": "1", "email": "a@x"})
        );
    }
}
