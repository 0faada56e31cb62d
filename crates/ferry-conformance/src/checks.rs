//! The checks, one function each. Every error a check sees passes [`clean`] first: no secret
//! of the fixture may appear in it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferry_kit::{BuildContext, Connector, Outgoing, Removal, Sink, Source, TargetRecord};
use ferry_model::{ConnectorError, ErrorKind, Record};
use serde_json::{Value, json};

use crate::fixture::{Fixture, Seeded};

/// Records per page in reads: small, so a read crosses many page edges inside ties.
const PAGE: usize = 4;
/// Records the reading checks make.
const MANY: usize = 25;
/// Pages read before a check gives up on a source that never says it is done.
const MAX_PAGES: usize = 200;

/// The checks of the suite (see the crate docs for what each proves).
#[allow(non_camel_case_types)] // named as the tests `suite!` makes
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    spec,
    connection,
    discover,
    full_read,
    resume,
    incremental,
    upsert,
    refusal,
    delete,
    scan,
    transient,
    session,
    secrets,
}

/// Runs one check against the fixture; panics saying what broke.
pub async fn run(f: &dyn Fixture, check: Check) {
    match check {
        Check::spec => spec(f),
        Check::connection => connection(f).await,
        Check::discover => discover(f).await,
        Check::full_read => full_read(f).await,
        Check::resume => resume(f).await,
        Check::incremental => incremental(f).await,
        Check::upsert => upsert(f).await,
        Check::refusal => refusal(f).await,
        Check::delete => delete(f).await,
        Check::scan => scan(f).await,
        Check::transient => transient(f).await,
        Check::session => session(f).await,
        Check::secrets => secrets(f).await,
    }
}

fn skip(f: &dyn Fixture, check: &str, why: &str) {
    eprintln!(
        "conformance `{}` {check}: not applicable: {why}",
        f.factory().kind()
    );
}

/// Panics when `message` shows a secret of the fixture.
fn clean(f: &dyn Fixture, message: &str) {
    for secret in f.secrets().iter().filter(|s| !s.is_empty()) {
        assert!(
            !message.contains(secret.as_str()),
            "an error shows a secret: {message}"
        );
    }
}

fn ok<T>(f: &dyn Fixture, what: &str, result: Result<T, ConnectorError>) -> T {
    result.unwrap_or_else(|e| {
        clean(f, e.message());
        panic!("{what}: {e}")
    })
}

fn context() -> BuildContext {
    BuildContext {
        system: "under_test".to_owned(),
        base_dir: std::env::temp_dir(),
    }
}

fn connector(f: &dyn Fixture) -> Arc<dyn Connector> {
    f.factory()
        .build(&context(), &f.settings())
        .unwrap_or_else(|issues| panic!("the fixture's settings are refused: {issues:?}"))
}

fn source(f: &dyn Fixture) -> Arc<dyn Source> {
    connector(f)
        .source(&f.source_options())
        .unwrap_or_else(|issues| panic!("the fixture's source options are refused: {issues:?}"))
}

fn sink(f: &dyn Fixture) -> Arc<dyn Sink> {
    connector(f)
        .sink(&f.target_options(), &f.sink_context())
        .unwrap_or_else(|issues| panic!("the fixture's target options are refused: {issues:?}"))
}

/// `(key, name)` of `count` records to seed, keys in the fixture's namespace.
fn records(f: &dyn Fixture, prefix: &str, count: usize) -> Vec<(String, String)> {
    let namespace = f.namespace();
    (1..=count)
        .map(|n| {
            (
                format!("{namespace}{prefix}{n:03}"),
                format!("{namespace}Name {prefix}{n}"),
            )
        })
        .collect()
}

/// A record to write with the suite's `key` and `name`, both in the fixture's namespace
/// (names too: some systems want them unique).
fn outgoing(f: &dyn Fixture, key: &str, name: &str) -> Outgoing {
    let namespace = f.namespace();
    f.outgoing(&format!("{namespace}{key}"), &format!("{namespace}{name}"))
}

/// Reads from `cursor` until the source says it is caught up; the records and the last cursor.
async fn read_to_end(
    f: &dyn Fixture,
    source: &dyn Source,
    mut cursor: Option<String>,
) -> (Vec<Record>, Option<String>) {
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = ok(f, "read", source.read(cursor.as_deref(), PAGE).await);
        out.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            return (out, cursor);
        }
    }
    panic!("the source still had more after {MAX_PAGES} pages of {PAGE}");
}

/// Panics unless `read` holds each seeded id exactly once and nothing else.
fn exactly_once(read: &[Record], seeded: &Seeded, what: &str) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for r in read.iter().filter(|r| !r.deleted) {
        *seen.entry(r.id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    assert!(twice.is_empty(), "{what}: read more than once: {twice:?}");
    let wanted: BTreeSet<&str> = seeded.iter().map(|(id, _)| id.as_str()).collect();
    let got: BTreeSet<&str> = seen.keys().copied().collect();
    let lost: Vec<_> = wanted.difference(&got).collect();
    let extra: Vec<_> = got.difference(&wanted).collect();
    assert!(lost.is_empty(), "{what}: never read: {lost:?}");
    assert!(
        extra.is_empty(),
        "{what}: read records never made: {extra:?}"
    );
}

fn spec(f: &dyn Fixture) {
    let factory = f.factory();
    let schemas = factory.schemas();
    for (what, schema) in [
        ("system", schemas.system),
        ("source", schemas.source),
        ("target", schemas.target),
    ] {
        let value = serde_json::to_value(&schema).expect("a schema serializes");
        assert!(
            value.is_object(),
            "the {what} schema is not an object: {value}"
        );
    }
    let mut settings = f.settings();
    let typo = format!("{}x", settings.keys().next().expect("settings have a key"));
    settings.insert(typo.clone(), json!("misspelt"));
    match factory.build(&context(), &settings) {
        Ok(_) => panic!("a misspelt setting `{typo}` was accepted"),
        Err(issues) => assert!(
            issues.iter().any(|i| format!("{i:?}").contains(&typo)),
            "the refusal does not name `{typo}`: {issues:?}"
        ),
    }
}

async fn connection(f: &dyn Fixture) {
    f.reset().await;
    ok(f, "probe", connector(f).probe().await);
    let Some(refused) = f.refused_credentials() else {
        return skip(f, "connection", "the system has no credentials to refuse");
    };
    let built = f.factory().build(&context(), &refused);
    let connector =
        built.unwrap_or_else(|issues| panic!("refused credentials do not build: {issues:?}"));
    let e = connector
        .probe()
        .await
        .expect_err("refused credentials passed the probe");
    clean(f, e.message());
    assert_eq!(e.kind(), ErrorKind::Auth, "refused credentials: {e}");
}

async fn discover(f: &dyn Fixture) {
    f.reset().await;
    f.seed(&records(f, "D", 1)).await;
    let objects = ok(f, "discover", connector(f).discover().await);
    let object = f.object();
    let found = objects.iter().find(|o| o.name == object);
    let found = found.unwrap_or_else(|| panic!("discover does not list `{object}`"));
    assert!(
        !found.fields.is_empty(),
        "discover lists `{object}` without fields"
    );
}

async fn full_read(f: &dyn Fixture) {
    f.reset().await;
    let seeded = f.seed(&records(f, "F", MANY)).await;
    let (read, _) = read_to_end(f, source(f).as_ref(), None).await;
    exactly_once(&read, &seeded, "a full read");
    for (id, key) in &seeded {
        let record = read.iter().find(|r| &r.id == id).expect("read");
        assert_eq!(
            f.key_of(record).as_deref(),
            Some(key.as_str()),
            "record {id}'s key"
        );
    }
}

async fn resume(f: &dyn Fixture) {
    f.reset().await;
    let seeded = f.seed(&records(f, "R", MANY)).await;
    for stop_after in 1..=3 {
        let mut read = Vec::new();
        let mut cursor = None;
        for _ in 0..stop_after {
            let page = ok(f, "read", source(f).read(cursor.as_deref(), PAGE).await);
            read.extend(page.records);
            cursor = Some(page.cursor);
        }
        // A new source, as after a restart: only the stored cursor carries over.
        let (rest, _) = read_to_end(f, source(f).as_ref(), cursor).await;
        read.extend(rest);
        exactly_once(
            &read,
            &seeded,
            &format!("a read resumed after page {stop_after}"),
        );
    }
}

async fn incremental(f: &dyn Fixture) {
    f.reset().await;
    let seeded = f.seed(&records(f, "I", 10)).await;
    let (_, cursor) = read_to_end(f, source(f).as_ref(), None).await;
    let renamed: Vec<(String, String)> = seeded[..3]
        .iter()
        .map(|(id, _)| (id.clone(), format!("{}Renamed {id}", f.namespace())))
        .collect();
    for (id, name) in &renamed {
        f.rename(id, name).await;
    }
    let added = f.seed(&records(f, "J", 2)).await;
    let (read, _) = read_to_end(f, source(f).as_ref(), cursor).await;
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &read {
        *seen.entry(r.id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "an incremental read returned records twice: {twice:?}"
    );
    for (id, name) in &renamed {
        let record = read.iter().find(|r| &r.id == id);
        let record = record.unwrap_or_else(|| panic!("the incremental read lost renamed {id}"));
        assert_eq!(
            f.name_of(record).as_deref(),
            Some(name.as_str()),
            "record {id}"
        );
    }
    for (id, _) in &added {
        assert!(
            read.iter().any(|r| &r.id == id),
            "the incremental read lost new {id}"
        );
    }
}

/// Writes the batch; every record must be written. Their target ids, in order.
async fn write_all(f: &dyn Fixture, sink: &dyn Sink, batch: &[Outgoing]) -> Vec<String> {
    let results = ok(f, "upsert", sink.upsert(batch).await);
    assert_eq!(results.len(), batch.len(), "one result per record");
    results
        .into_iter()
        .zip(batch)
        .map(|(r, o)| ok(f, &format!("writing key {}", o.key), r).target_id)
        .collect()
}

async fn scan_all(f: &dyn Fixture, sink: &dyn Sink) -> Vec<TargetRecord> {
    let namespace = f.namespace();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ok(f, "scan", sink.scan(cursor.as_deref(), 2).await);
        // Only the suite's records, their keys without the namespace.
        out.extend(page.records.into_iter().filter_map(|mut r| {
            let key = r.key.as_deref()?.strip_prefix(namespace.as_str())?;
            r.key = Some(key.to_owned());
            Some(r)
        }));
        if !page.more {
            return out;
        }
        cursor = Some(page.cursor);
    }
    panic!("the scan still had more after {MAX_PAGES} pages");
}

async fn upsert(f: &dyn Fixture) {
    f.reset().await;
    let sink = sink(f);
    let first: Vec<Outgoing> = ["U1", "U2", "U3"]
        .iter()
        .map(|k| outgoing(f, k, &format!("First {k}")))
        .collect();
    let ids = write_all(f, sink.as_ref(), &first).await;
    let mut second = first.clone();
    second[0] = outgoing(f, "U1", "Second U1");
    let again = write_all(f, sink.as_ref(), &second).await;
    assert_eq!(
        ids, again,
        "writing the same keys again must update the same records"
    );
    if !sink.capabilities().scan {
        return skip(
            f,
            "upsert (read back)",
            "the sink cannot read its records back",
        );
    }
    let held = scan_all(f, sink.as_ref()).await;
    let keys: Vec<_> = held.iter().filter_map(|r| r.key.clone()).collect();
    assert_eq!(
        keys.len(),
        3,
        "three keys written twice must be three records: {keys:?}"
    );
    let u1 = held
        .iter()
        .find(|r| r.key.as_deref() == Some("U1"))
        .expect("U1 is held");
    assert_eq!(
        u1.fields.get("name"),
        Some(&json!(format!("{}Second U1", f.namespace()))),
        "U1 after its update"
    );
}

async fn refusal(f: &dyn Fixture) {
    let Some(bad) = f.refused() else {
        return skip(
            f,
            "refusal",
            "the system refuses nothing the suite can send",
        );
    };
    f.reset().await;
    let batch = vec![
        outgoing(f, "G1", "Good 1"),
        bad,
        outgoing(f, "G2", "Good 2"),
    ];
    let results = ok(f, "upsert", sink(f).upsert(&batch).await);
    assert!(
        results[0].is_ok() && results[2].is_ok(),
        "the good records: {results:?}"
    );
    let e = results[1].as_ref().expect_err("the bad record was written");
    clean(f, e.message());
    assert!(
        e.message().contains(f.refusal_says()),
        "not the system's message: {e}"
    );
    assert_ne!(
        e.kind(),
        ErrorKind::Retryable,
        "a refusal of the data is not transient: {e}"
    );
}

async fn delete(f: &dyn Fixture) {
    let sink = sink(f);
    if !sink.capabilities().delete {
        return skip(f, "delete", "the sink does not declare delete");
    }
    f.reset().await;
    let batch = vec![outgoing(f, "D1", "Doomed"), outgoing(f, "D2", "Kept")];
    let ids = write_all(f, sink.as_ref(), &batch).await;
    let removal = Removal {
        key: batch[0].key.clone(),
        target_id: Some(ids[0].clone()),
    };
    let done = ok(
        f,
        "delete",
        sink.delete(std::slice::from_ref(&removal)).await,
    );
    ok(
        f,
        "deleting D1",
        done.into_iter().next().expect("one result"),
    );
    let again = ok(f, "delete again", sink.delete(&[removal]).await);
    ok(
        f,
        "deleting D1 again (already gone counts as deleted)",
        again.into_iter().next().expect("one result"),
    );
    if sink.capabilities().scan {
        let keys: Vec<_> = scan_all(f, sink.as_ref())
            .await
            .into_iter()
            .filter_map(|r| r.key)
            .collect();
        assert_eq!(keys, ["D2"], "after deleting D1");
    }
}

async fn scan(f: &dyn Fixture) {
    let sink = sink(f);
    if !sink.capabilities().scan {
        return skip(f, "scan", "the sink does not declare scan");
    }
    f.reset().await;
    let batch: Vec<Outgoing> = (1..=5)
        .map(|n| outgoing(f, &format!("S{n}"), &format!("Scan {n}")))
        .collect();
    write_all(f, sink.as_ref(), &batch).await;
    let held = scan_all(f, sink.as_ref()).await;
    let mut keys: Vec<_> = held.iter().filter_map(|r| r.key.clone()).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["S1", "S2", "S3", "S4", "S5"],
        "the scan, in pages of 2"
    );
    for r in &held {
        let n = r.key.as_deref().unwrap_or_default().trim_start_matches('S');
        assert_eq!(
            r.fields.get("name"),
            Some(&json!(format!("{}Scan {n}", f.namespace()))),
            "{r:?}"
        );
    }
}

async fn transient(f: &dyn Fixture) {
    let Some(faults) = f.faults() else {
        return skip(f, "transient", "the system is not reached over HTTP");
    };
    f.reset().await;
    let seeded = f.seed(&records(f, "T", 6)).await;
    let acted = |what: &str| {
        let left = faults.unfired();
        assert_eq!(
            left, 0,
            "{what}: {left} injected faults never reached the connector"
        );
    };
    faults.fail_next(2, 503);
    let (read, _) = read_to_end(f, source(f).as_ref(), None).await;
    exactly_once(&read, &seeded, "a read through two 503s");
    acted("two 503s");
    faults.throttle_next(1);
    let (read, _) = read_to_end(f, source(f).as_ref(), None).await;
    exactly_once(&read, &seeded, "a read after a 429");
    acted("a 429");
    faults.drop_next();
    let (read, _) = read_to_end(f, source(f).as_ref(), None).await;
    exactly_once(&read, &seeded, "a read through a dropped connection");
    acted("a dropped connection");
    faults.fail_next(1, 502);
    let batch = vec![outgoing(f, "T-W", "Through a 502")];
    match sink(f).upsert(&batch).await {
        Ok(results) => assert!(results[0].is_ok(), "{results:?}"),
        Err(e) => assert!(e.kind().is_transient(), "a 502 is transient, not {e}"),
    }
    acted("a 502 on a write");
    write_all(f, sink(f).as_ref(), &batch).await;
}

async fn session(f: &dyn Fixture) {
    let Some(faults) = f.faults() else {
        return skip(f, "session", "the system is not reached over HTTP");
    };
    f.reset().await;
    let seeded = f.seed(&records(f, "X", 3)).await;
    let source = source(f);
    ok(f, "a first read", source.read(None, PAGE).await);
    if !faults.expire_sessions().await {
        return skip(f, "session", "the system has no sessions or tokens");
    }
    let (read, _) = read_to_end(f, source.as_ref(), None).await;
    exactly_once(&read, &seeded, "a read after the session expired");
}

async fn secrets(f: &dyn Fixture) {
    f.reset().await;
    if let Some(refused) = f.refused_credentials()
        && let Ok(connector) = f.factory().build(&context(), &refused)
    {
        if let Err(e) = connector.probe().await {
            clean(f, e.message());
        }
        if let Ok(source) = connector.source(&f.source_options())
            && let Err(e) = source.read(None, PAGE).await
        {
            clean(f, e.message());
        }
    }
    let mut missing = f.source_options();
    for value in missing.values_mut().filter(|v| v.is_string()) {
        *value = Value::String("ferry_no_such_object".into());
    }
    if let Ok(source) = connector(f).source(&missing)
        && let Err(e) = source.read(None, PAGE).await
    {
        clean(f, e.message());
    }
    if let Some(bad) = f.refused() {
        for r in ok(f, "upsert", sink(f).upsert(&[bad]).await) {
            if let Err(e) = r {
                clean(f, e.message());
            }
        }
    }
}
