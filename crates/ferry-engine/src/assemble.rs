//! Building flows from a loaded config: connectors, sources, sinks, compiled mappings and
//! schedules. Everything here is offline, so `ferry check` runs it without touching a system.

use std::sync::Arc;

use ferry_kit::{BuildContext, Connector, Registry, Sink, SinkContext, Source};
use ferry_mapping::CompiledMapping;
use ferry_model::config::{
    AlertsConfig, ConfigError, ConfigIssue, EngineSettings, FlowConfig, FlowStates, LoadedConfig,
    OnDelete, PairConfig, ResolvedDependency, Trigger,
};
use indexmap::IndexMap;

use crate::schedule::{CronSchedule, Schedule};

/// One flow, ready to run.
pub struct Flow {
    /// Its name.
    pub name: String,
    /// Its configuration.
    pub config: FlowConfig,
    /// The canonical field holding the business key.
    pub key_field: String,
    /// Records per batch.
    pub batch_size: usize,
    /// When it runs by itself.
    pub schedule: Schedule,
    /// Records of other flows this flow's records refer to (`depends_on`).
    pub dependencies: Vec<ResolvedDependency>,
    /// The document state machine its records' status changes must follow (`states:`).
    pub states: Option<FlowStates>,
    /// When `ferry run` reconciles it (`reconcile:`), if ever.
    pub reconcile_schedule: Option<Schedule>,
    /// The target system's connector kind (for messages).
    pub target_kind: String,
    pub(crate) source: Arc<dyn Source>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) mapping: Arc<CompiledMapping>,
    /// Its place in a two-way pair (`pairs:`), if it has one.
    pub(crate) two_way: Option<Arc<TwoWay>>,
}

/// A flow's place in a two-way pair: the pair's rules, and its partner's reading side, to see
/// what the target holds now in canonical fields (see [`crate::ownership`]).
pub(crate) struct TwoWay {
    /// The pair's name (the namespace of its baselines).
    pub pair: String,
    /// The pair's rules.
    pub config: PairConfig,
    /// This flow is the pair's first: conflicts are recorded with its source and target.
    pub first: bool,
    /// The system this flow reads.
    pub source_system: String,
    /// The system this flow writes.
    pub target_system: String,
    /// The other flow of the pair (reads our target, writes our source).
    pub partner: String,
    pub partner_source: Arc<dyn Source>,
    pub partner_mapping: Arc<CompiledMapping>,
    /// Held by either flow of the pair while it reads, decides, writes and commits, so the two
    /// never judge one record against a baseline the other is about to change.
    pub lock: Arc<tokio::sync::Mutex<()>>,
}

impl Flow {
    /// The two-way pair the flow belongs to, if any.
    pub fn pair(&self) -> Option<&str> {
        self.two_way.as_ref().map(|t| t.pair.as_str())
    }

    /// Maps and validates one source record with the flow's compiled mapping, writing
    /// nothing: the console's mapping preview, so an operator can try a record (or a fix to a
    /// dead letter) before sending it. The error is the one the pipeline would dead-letter
    /// the record with.
    pub fn preview(
        &self,
        record: &ferry_model::Record,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ferry_mapping::MappingError> {
        self.mapping.apply(record)
    }
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("name", &self.name)
            .field("entity", &self.config.entity)
            .finish_non_exhaustive()
    }
}

/// Systems and flows built from a config.
#[derive(Debug)]
pub struct Assembly {
    /// Connected systems by name.
    pub systems: IndexMap<String, Arc<dyn Connector>>,
    /// Flows by name.
    pub flows: IndexMap<String, Arc<Flow>>,
    /// Engine settings.
    pub settings: EngineSettings,
    /// The `alerts:` section and where its announcements go, when configured.
    pub alerts: Option<(AlertsConfig, crate::alerts::Sender)>,
    /// The data dir (reconciliation scratch files go there).
    pub data_dir: std::path::PathBuf,
    /// How long the store keeps history (`store.retention`; `ferry run` prunes).
    pub retention: ferry_model::config::Retention,
}

/// Builds every system and flow, reporting all problems at once (the config's own checks
/// included), located in the config file.
pub fn assemble(loaded: &LoadedConfig, registry: &Registry) -> Result<Assembly, ConfigError> {
    let config = &loaded.config;
    let mut issues: Vec<ConfigIssue> = config.validate();
    let prefixed = |prefix: &[&str], inner: Vec<ConfigIssue>| -> Vec<ConfigIssue> {
        inner
            .into_iter()
            .map(|i| {
                let mut path: Vec<String> = prefix.iter().map(|s| (*s).to_owned()).collect();
                path.extend(i.path);
                ConfigIssue::at(path, i.message)
            })
            .collect()
    };

    let mut systems = IndexMap::new();
    for (name, system) in &config.systems {
        let Some(factory) = registry.get(&system.kind) else {
            let kinds: Vec<_> = registry.kinds().collect();
            issues.push(ConfigIssue::at(
                vec!["systems".into(), name.clone(), "kind".into()],
                ferry_model::config::words::unknown_name("connector kind", &system.kind, &kinds),
            ));
            continue;
        };
        let ctx = BuildContext {
            system: name.clone(),
            base_dir: loaded.base_dir.clone(),
        };
        match factory.build(&ctx, &system.settings) {
            Ok(connector) => {
                systems.insert(name.clone(), connector);
            }
            Err(inner) => issues.extend(prefixed(&["systems", name], inner)),
        }
    }

    let mut flows = IndexMap::new();
    for (name, flow) in &config.flows {
        let source = systems.get(&flow.source.system).and_then(|c| {
            c.source(&flow.source.options)
                .map_err(|inner| issues.extend(prefixed(&["flows", name, "source"], inner)))
                .ok()
        });
        let sink_ctx = SinkContext {
            entity: flow.entity,
            key_field: flow.key().to_owned(),
            fields: crate::reconcile::compared_fields(flow),
        };
        let sink = systems.get(&flow.target.system).and_then(|c| {
            c.sink(&flow.target.options, &sink_ctx)
                .map_err(|inner| issues.extend(prefixed(&["flows", name, "target"], inner)))
                .ok()
        });
        let mapping = CompiledMapping::compile(config, name)
            .map_err(|inner| issues.extend(inner))
            .ok();
        let schedule = match &flow.trigger {
            Trigger::Manual => Some(Schedule::Manual),
            Trigger::Poll(every) if every.0.is_zero() => {
                issues.push(ConfigIssue::at(
                    vec!["flows".into(), name.clone(), "trigger".into()],
                    "poll interval must be more than 0s",
                ));
                None
            }
            Trigger::Poll(every) => Some(Schedule::Every(every.0)),
            Trigger::Cron { cron, timezone } => {
                let zone = config.schedule_zone(timezone.as_deref());
                match CronSchedule::parse(cron, zone) {
                    Ok(cron) => Some(Schedule::Cron(Box::new(cron))),
                    Err(message) => {
                        issues.push(ConfigIssue::at(
                            vec![
                                "flows".into(),
                                name.clone(),
                                "trigger".into(),
                                "cron".into(),
                            ],
                            message,
                        ));
                        None
                    }
                }
            }
        };
        let reconcile_schedule = match &flow.reconcile {
            None => Some(None),
            Some(rec) => {
                let at =
                    |key: &str| vec!["flows".into(), name.clone(), "reconcile".into(), key.into()];
                if let Some(sink) = &sink
                    && !sink.capabilities().scan
                {
                    let kind = config
                        .systems
                        .get(&flow.target.system)
                        .map_or("?", |s| s.kind.as_str());
                    issues.push(ConfigIssue::at(
                        vec!["flows".into(), name.clone(), "reconcile".into()],
                        format!(
                            "the target system `{}` (kind {kind}) cannot be read back for \
                             reconciliation yet",
                            flow.target.system
                        ),
                    ));
                }
                match (&rec.schedule, &rec.every) {
                    (Some(pattern), None) => {
                        let zone = config.schedule_zone(rec.timezone.as_deref());
                        match CronSchedule::parse(pattern, zone) {
                            Ok(cron) => Some(Some(Schedule::Cron(Box::new(cron)))),
                            Err(message) => {
                                issues.push(ConfigIssue::at(at("schedule"), message));
                                None
                            }
                        }
                    }
                    (None, Some(every)) if !every.0.is_zero() => {
                        Some(Some(Schedule::Every(every.0)))
                    }
                    // Reported by `Config::validate`.
                    _ => None,
                }
            }
        };
        if let Some(sink) = &sink {
            let can = sink.capabilities();
            let refused = match &flow.on_delete {
                OnDelete::Delete if !can.delete => Some("cannot delete records"),
                OnDelete::Archive(_) if !can.update => {
                    Some("cannot update records without creating them")
                }
                _ => None,
            };
            if let Some(why) = refused {
                let kind = config
                    .systems
                    .get(&flow.target.system)
                    .map_or("?", |s| s.kind.as_str());
                issues.push(ConfigIssue::at(
                    vec!["flows".into(), name.clone(), "on_delete".into()],
                    format!(
                        "`on_delete: {}`: the target system `{}` (kind {kind}) {why} yet; \
                         use `ignore`{}",
                        flow.on_delete.name(),
                        flow.target.system,
                        if can.update { " or `archive`" } else { "" }
                    ),
                ));
            }
        }
        if let (Some(source), Some(sink), Some(mapping), Some(schedule), Some(reconcile_schedule)) =
            (source, sink, mapping, schedule, reconcile_schedule)
        {
            flows.insert(
                name.clone(),
                Arc::new(Flow {
                    name: name.clone(),
                    config: flow.clone(),
                    key_field: flow.key().to_owned(),
                    batch_size: flow.batch_size.unwrap_or(config.engine.batch_size),
                    schedule,
                    reconcile_schedule,
                    // Problems were reported by `Config::validate` above.
                    dependencies: ferry_model::config::dependency::resolve(config, name, flow)
                        .unwrap_or_default(),
                    states: ferry_model::config::states::compile(config, name, flow)
                        .ok()
                        .flatten(),
                    target_kind: config
                        .systems
                        .get(&flow.target.system)
                        .map(|s| s.kind.clone())
                        .unwrap_or_default(),
                    source,
                    sink,
                    mapping: Arc::new(mapping),
                    two_way: None,
                }),
            );
        }
    }
    link_pairs(config, &mut flows);
    let alerts = match &config.alerts {
        Some(section) => alert_sender(loaded, section, &mut issues),
        None => None,
    };
    if issues.is_empty() {
        Ok(Assembly {
            systems,
            flows,
            settings: config.engine.clone(),
            alerts,
            data_dir: loaded.data_dir(),
            retention: config.store.retention.clone(),
        })
    } else {
        Err(loaded.error(&issues))
    }
}

/// The alerts section with what sends its announcements (problems go to `issues`).
fn alert_sender(
    loaded: &LoadedConfig,
    section: &AlertsConfig,
    issues: &mut Vec<ConfigIssue>,
) -> Option<(AlertsConfig, crate::alerts::Sender)> {
    let config = &loaded.config;
    let console = match config.server.public_url.as_deref() {
        Some(url) => match crate::alerts::Surroundings::console_under(url) {
            Ok(console) => Some(console),
            Err(issue) => {
                issues.push(issue);
                None
            }
        },
        None => None,
    };
    let around = crate::alerts::Surroundings {
        zone: config.zone(),
        console,
        base_dir: loaded.base_dir.clone(),
    };
    match crate::alerts::Sender::new(section, around) {
        Ok(sender) => Some((section.clone(), sender)),
        Err(found) => {
            issues.extend(found);
            None
        }
    }
}

/// Gives each flow of a (valid) pair its [`TwoWay`] link; problems were reported by
/// `Config::validate`, and pairs with a flow that did not build are left alone.
fn link_pairs(config: &ferry_model::config::Config, flows: &mut IndexMap<String, Arc<Flow>>) {
    for (name, pair) in &config.pairs {
        let [a, b] = pair.flows.as_slice() else {
            continue;
        };
        // What each flow's partner lends it (no clone of the flows themselves, so they can
        // still be changed in place below).
        let parts = |f: &Flow| {
            (
                f.name.clone(),
                f.config.source.system.clone(),
                f.config.target.system.clone(),
                f.source.clone(),
                f.mapping.clone(),
            )
        };
        let (Some(pa), Some(pb)) = (
            flows.get(a).map(|f| parts(f)),
            flows.get(b).map(|f| parts(f)),
        ) else {
            continue;
        };
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        for (this, other, first) in [(a, pb, true), (b, pa, false)] {
            let (partner, other_source_system, other_target_system, source, mapping) = other;
            let link = TwoWay {
                pair: name.clone(),
                config: pair.clone(),
                first,
                source_system: other_target_system,
                target_system: other_source_system,
                partner,
                partner_source: source,
                partner_mapping: mapping,
                lock: lock.clone(),
            };
            if let Some(flow) = flows.get_mut(this.as_str()).and_then(Arc::get_mut) {
                flow.two_way = Some(Arc::new(link));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const YAML: &str = "systems:\n  a: { kind: sql, url: \"sqlite://a.db\" }\n  b: { kind: sql, url: \"sqlite://b.db\" }\nflows:\n  customers:\n    entity: customer\n    trigger: TRIGGER\n    source: { system: a, table: t }\n    target: { system: b, table: u }\n    mapping: { code: id }\n";

    fn build(trigger: &str) -> Result<Assembly, ConfigError> {
        let loaded = ferry_model::config::parse_str(
            std::path::Path::new("ferry.yaml"),
            &YAML.replace("TRIGGER", trigger),
        )
        .unwrap();
        assemble(&loaded, &ferry_connectors::builtin())
    }

    #[test]
    fn triggers_become_schedules() {
        assert!(matches!(
            build("manual").unwrap().flows["customers"].schedule,
            Schedule::Manual
        ));
        match &build("{ poll: 30s }").unwrap().flows["customers"].schedule {
            Schedule::Every(d) => assert_eq!(*d, Duration::from_secs(30)),
            other => panic!("{other:?}"),
        }
        for cron in ["\"*/5 * * * *\"", "\"0 */5 * * * *\""] {
            assert!(
                matches!(
                    build(&format!("{{ cron: {cron} }}")).unwrap().flows["customers"].schedule,
                    Schedule::Cron(_)
                ),
                "{cron}"
            );
        }
    }

    #[test]
    fn a_cron_schedule_is_read_in_its_zone_or_the_workspace_one() {
        let zone_of = |trigger: &str, workspace: &str| {
            let yaml = format!(
                "timezone: {workspace}\n{}",
                YAML.replace("TRIGGER", trigger)
            );
            let loaded =
                ferry_model::config::parse_str(std::path::Path::new("ferry.yaml"), &yaml).unwrap();
            match &assemble(&loaded, &ferry_connectors::builtin())
                .unwrap()
                .flows["customers"]
                .schedule
            {
                Schedule::Cron(cron) => cron.zone(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            zone_of("{ cron: \"0 3 * * *\" }", "Asia/Shanghai"),
            chrono_tz::Asia::Shanghai
        );
        assert_eq!(
            zone_of(
                "{ cron: \"0 3 * * *\", timezone: Europe/Berlin }",
                "Asia/Shanghai"
            ),
            chrono_tz::Europe::Berlin
        );
    }

    #[test]
    fn a_cron_of_another_form_is_refused_at_its_key() {
        for (cron, says) in [
            ("0 0 3 * * * 2027", "it has 7 field(s)"),
            (
                "@every 5m",
                "nicknames such as `@daily` and `@every` are not accepted",
            ),
        ] {
            let loaded = ferry_model::config::parse_str(
                std::path::Path::new("ferry.yaml"),
                &YAML.replace("TRIGGER", &format!("\n      cron: \"{cron}\"")),
            )
            .unwrap();
            let problems = assemble(&loaded, &ferry_connectors::builtin())
                .unwrap_err()
                .problems;
            assert!(
                problems.len() == 1
                    && problems[0].starts_with(&format!(
                        "ferry.yaml:8:7: flows.customers.trigger.cron: `{cron}` is not a cron \
                         schedule: "
                    ))
                    && problems[0].contains(says),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn a_bad_cron_and_a_bad_source_option_are_reported_together_at_their_lines() {
        let yaml = YAML
            .replace("TRIGGER", "{ cron: \"every tuesday\" }")
            .replace("table: t }", "table: t, watermark: { colum: x } }");
        let loaded =
            ferry_model::config::parse_str(std::path::Path::new("ferry.yaml"), &yaml).unwrap();
        let problems = assemble(&loaded, &ferry_connectors::builtin())
            .unwrap_err()
            .problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        // In file order.
        assert!(
            problems[0].starts_with("ferry.yaml:7:")
                && problems[0].contains("`every tuesday` is not a cron schedule"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("ferry.yaml:8:")
                && problems[1].contains("flows.customers.source.watermark"),
            "{problems:?}"
        );
    }

    fn problems_with(extra: &str) -> Vec<String> {
        let yaml = format!("{}{extra}", YAML.replace("TRIGGER", "manual"));
        let loaded =
            ferry_model::config::parse_str(std::path::Path::new("ferry.yaml"), &yaml).unwrap();
        match assemble(&loaded, &ferry_connectors::builtin()) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems,
        }
    }

    #[test]
    fn a_reconcile_schedule_is_built_or_pointed_at() {
        let yaml = format!(
            "{}    reconcile: {{ every: 6h }}\n",
            YAML.replace("TRIGGER", "manual")
        );
        let loaded =
            ferry_model::config::parse_str(std::path::Path::new("ferry.yaml"), &yaml).unwrap();
        match &assemble(&loaded, &ferry_connectors::builtin())
            .unwrap()
            .flows["customers"]
            .reconcile_schedule
        {
            Some(Schedule::Every(d)) => assert_eq!(*d, Duration::from_secs(6 * 3600)),
            other => panic!("{other:?}"),
        }
        assert!(problems_with("    reconcile: { schedule: \"0 3 * * *\" }\n").is_empty());

        let bad = problems_with("    reconcile:\n      schedule: \"at three\"\n");
        assert!(
            bad.len() == 1
                && bad[0].starts_with("ferry.yaml:12:")
                && bad[0].contains("flows.customers.reconcile.schedule: `at three` is not a cron"),
            "{bad:?}"
        );
        let both = problems_with("    reconcile: { schedule: \"0 3 * * *\", every: 1h }\n");
        assert!(
            both.len() == 1
                && both[0].contains(
                    "flows.customers.reconcile.every: give `schedule` or `every`, not both"
                ),
            "{both:?}"
        );
        let none = problems_with("    reconcile: { details_limit: 0 }\n");
        assert!(
            none.len() == 2
                && none
                    .iter()
                    .any(|p| p.contains("flows.customers.reconcile: give `schedule`"))
                && none
                    .iter()
                    .any(|p| p
                        .contains("flows.customers.reconcile.details_limit: must be at least 1")),
            "{none:?}"
        );
    }
}
