//! When flows run, and in which time zone: a flow's [`Trigger`], and the zone of the
//! workspace (`timezone:`) and of each schedule.
//!
//! ```yaml
//! timezone: Asia/Shanghai                  # schedules are read, and times shown, in this zone
//! flows:
//!   orders:
//!     trigger: { cron: "0 3 * * *" }       # 03:00 in Asia/Shanghai
//!     reconcile: { schedule: "30 3 * * *", timezone: Europe/Berlin }   # its own zone
//! ```
//!
//! Cron schedules have one form everywhere (`trigger: { cron }`, `reconcile: { schedule }`):
//! five fields, `minute hour day-of-month month day-of-week`, or six with seconds first. The
//! engine parses them (`ferry_engine::schedule`); this module only carries them, and checks
//! the zone names, so that every wrong one is reported at its key.
//!
//! Without `timezone:` the workspace's zone is the machine's ([`machine_zone`]): the `TZ`
//! variable when it names an IANA zone, else the system's zone, else UTC.

use std::borrow::Cow;
use std::fmt;

use chrono_tz::{TZ_VARIANTS, Tz};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Config, ConfigIssue, DurationStr};

/// The one cron form, for editors (`ferry schema`): five or six fields, no `@` nickname.
/// The engine's parser checks the rest (`ferry_engine::CronSchedule::parse`).
pub const CRON_FORM: &str = r"^\s*[^\s@]+(\s+[^\s@]+){4,5}\s*$";

/// When a flow runs.
///
/// ```yaml
/// trigger: manual                                          # default: only when asked
/// trigger: { poll: 30s }                                   # every 30 s, what changed
/// trigger: { cron: "0 3 * * *" }                           # daily 03:00, workspace zone
/// trigger: { cron: "0 3 * * *", timezone: Asia/Shanghai }  # daily 03:00 in Shanghai
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trigger {
    /// Only when asked (`ferry sync`, the API).
    #[default]
    Manual,
    /// Every interval, reading what changed since the cursor (`poll: 30s`).
    Poll(DurationStr),
    /// On a cron schedule, read in `timezone` (absent: the workspace's zone).
    Cron {
        /// Five fields, or six with seconds first (see [`TriggerForm`]).
        cron: String,
        /// An IANA zone name (`Asia/Shanghai`).
        timezone: Option<String>,
    },
}

/// When the flow runs: `manual` (the default), `{ poll: 30s }`, or `{ cron: "0 3 * * *" }`
/// with an optional `timezone`.
// The written forms of a `Trigger`: what `ferry schema` shows and what a trigger serializes
// as. Reading goes through `Trigger`'s own `Deserialize`, for messages naming the key at fault.
#[derive(Serialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
enum TriggerForm {
    /// `manual`: only when asked (`ferry sync`, the API). The default.
    Manual(ManualWord),
    /// `{ poll: 30s }`: every interval, reading what changed since the flow's cursor.
    Poll {
        /// How long between two polls (`30s`, `5m`).
        poll: DurationStr,
    },
    /// `{ cron: "0 3 * * *", timezone: Asia/Shanghai }`: on a cron schedule.
    Cron {
        /// Five fields, `minute hour day-of-month month day-of-week` (`"0 3 * * *"`: every
        /// day at 03:00), or six with seconds first (`"30 0 3 * * *"`). Fields take numbers,
        /// `*`, lists (`1,15`), ranges (`1-5`), steps (`*/10`) and names (`JAN`-`DEC`,
        /// `SUN`-`SAT`); day of week 0-7, where 0 and 7 are Sunday; `?` is `*`;
        /// day-of-month `L` is the month's last day and `15W` the weekday nearest the 15th;
        /// day-of-week `5#2` is the second Friday, `5#L` the last. When both day fields are
        /// restricted, either matching is enough (`+MON` in day-of-week requires both).
        /// Nothing else: no year field, no `@daily` or `@every`.
        #[schemars(pattern(CRON_FORM))]
        cron: String,
        /// The IANA zone the schedule is read in (`Asia/Shanghai`). Default: the top-level
        /// `timezone`. Across a daylight-saving change, a schedule with one time of day (one
        /// value each for second, minute and hour) runs once: at the first instant after a
        /// skipped time, at the first of a repeated one; any other schedule runs at each
        /// wall-clock time that exists, both of a repeated hour's included.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
}

/// The word `manual`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum ManualWord {
    Manual,
}

impl From<&Trigger> for TriggerForm {
    fn from(trigger: &Trigger) -> Self {
        match trigger {
            Trigger::Manual => TriggerForm::Manual(ManualWord::Manual),
            Trigger::Poll(poll) => TriggerForm::Poll { poll: *poll },
            Trigger::Cron { cron, timezone } => TriggerForm::Cron {
                cron: cron.clone(),
                timezone: timezone.clone(),
            },
        }
    }
}

impl Serialize for Trigger {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TriggerForm::from(self).serialize(serializer)
    }
}

impl JsonSchema for Trigger {
    fn schema_name() -> Cow<'static, str> {
        "Trigger".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        TriggerForm::json_schema(generator)
    }
}

const TRIGGER_FORMS: &str = "`manual`, `{ poll: 30s }` or `{ cron: \"0 3 * * *\" }` (with \
                             an optional `timezone`)";

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TriggerVisitor)
    }
}

struct TriggerVisitor;

impl<'de> Visitor<'de> for TriggerVisitor {
    type Value = Trigger;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a trigger: {TRIGGER_FORMS}")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Trigger, E> {
        match text.trim() {
            "manual" => Ok(Trigger::Manual),
            word @ ("poll" | "cron") => Err(E::custom(format!(
                "`{word}` needs a value: write `{{ {word}: … }}`"
            ))),
            other => Err(E::custom(format!(
                "unknown trigger `{other}`: write {TRIGGER_FORMS}"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Trigger, A::Error> {
        let (mut poll, mut cron, mut timezone) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "poll" => poll = Some(map.next_value::<DurationStr>()?),
                "cron" => cron = Some(map.next_value::<String>()?),
                "timezone" => timezone = Some(map.next_value::<String>()?),
                other => {
                    return Err(de::Error::custom(super::words::unknown_key(
                        other,
                        &["poll", "cron", "timezone"],
                    )));
                }
            }
        }
        match (poll, cron, timezone) {
            (Some(poll), None, None) => Ok(Trigger::Poll(poll)),
            (None, Some(cron), timezone) => Ok(Trigger::Cron { cron, timezone }),
            (Some(_), Some(_), _) => {
                Err(de::Error::custom("a trigger is `poll` or `cron`, not both"))
            }
            (Some(_), None, Some(_)) => Err(de::Error::custom(
                "`timezone` goes with `cron`: a poll interval is the same in every zone",
            )),
            (None, None, _) => Err(de::Error::custom(format!(
                "a trigger needs `poll` or `cron`: write {TRIGGER_FORMS}"
            ))),
        }
    }
}

/// An IANA zone by name (`Asia/Shanghai`, `UTC`). An unknown name is an error saying so,
/// with the nearest real name when there is one (`Asia/Shangai`, `asia/shanghai` and
/// `Shanghai` all point at `Asia/Shanghai`).
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    let name = name.trim();
    if let Ok(zone) = name.parse::<Tz>() {
        return Ok(zone);
    }
    let offset = name.contains(['+', '-']) && name.contains(|c: char| c.is_ascii_digit());
    Err(match nearest_zone(name) {
        _ if offset => format!(
            "unknown time zone `{name}`: write the IANA name of a place, such as \
             Asia/Shanghai, not an offset (the zone knows its offsets, daylight saving included)"
        ),
        Some(near) => format!("unknown time zone `{name}`; did you mean `{near}`?"),
        None => format!(
            "unknown time zone `{name}` (use an IANA name such as Asia/Shanghai, \
             Europe/Berlin or UTC)"
        ),
    })
}

/// The real zone name a mistyped one most likely meant: the same name in other letter
/// case, a city alone, or a near miss.
fn nearest_zone(name: &str) -> Option<&'static str> {
    let names = || TZ_VARIANTS.iter().map(|zone| zone.name());
    let city = name.replace(' ', "_");
    names()
        .find(|known| known.eq_ignore_ascii_case(name))
        .or_else(|| {
            names().find(|known| {
                known.contains('/')
                    && known
                        .rsplit('/')
                        .next()
                        .is_some_and(|c| c.eq_ignore_ascii_case(&city))
            })
        })
        .or_else(|| super::words::did_you_mean(name, names()))
}

/// This machine's zone: `TZ` when it names an IANA zone (`Asia/Shanghai`, `:Asia/Shanghai`,
/// or a path into a `zoneinfo` folder), else the system's zone (`/etc/localtime` and the
/// like, through `iana-time-zone`), else UTC. A POSIX rule in `TZ` (`CST-8`) names no zone
/// a schedule could follow across daylight saving, so it is passed over.
pub fn machine_zone() -> Tz {
    std::env::var("TZ")
        .ok()
        .and_then(|value| zone_of_tz_variable(&value))
        .or_else(|| {
            iana_time_zone::get_timezone()
                .ok()
                .and_then(|name| name.parse().ok())
        })
        .unwrap_or(Tz::UTC)
}

/// The zone a `TZ` value names, if it names one.
fn zone_of_tz_variable(value: &str) -> Option<Tz> {
    let value = value.trim().trim_start_matches(':');
    let name = value
        .rsplit_once("zoneinfo/")
        .map_or(value, |(_, name)| name);
    name.parse().ok()
}

impl Config {
    /// The workspace's zone: `timezone:`, else [`machine_zone`]. Schedules without their
    /// own `timezone` are read in it, and the CLI shows times in it. (A wrong name is
    /// reported by [`Config::validate`]; here it counts as absent.)
    pub fn zone(&self) -> Tz {
        self.timezone
            .as_deref()
            .and_then(|name| parse_zone(name).ok())
            .unwrap_or_else(machine_zone)
    }

    /// The zone a schedule with this `timezone` key is read in.
    pub fn schedule_zone(&self, timezone: Option<&str>) -> Tz {
        timezone
            .and_then(|name| parse_zone(name).ok())
            .unwrap_or_else(|| self.zone())
    }
}

/// Every zone name of the config that is not one, at its key.
pub(crate) fn check_zones(config: &Config, issues: &mut Vec<ConfigIssue>) {
    let check = |name: Option<&String>, path: Vec<String>, issues: &mut Vec<ConfigIssue>| {
        if let Some(Err(message)) = name.map(|n| parse_zone(n)) {
            issues.push(ConfigIssue::at(path, message));
        }
    };
    check(config.timezone.as_ref(), vec!["timezone".into()], issues);
    for (flow, f) in &config.flows {
        let at = |rest: &[&str]| {
            let mut path = vec!["flows".to_owned(), flow.clone()];
            path.extend(rest.iter().map(|s| (*s).to_owned()));
            path
        };
        if let Trigger::Cron { timezone, .. } = &f.trigger {
            check(timezone.as_ref(), at(&["trigger", "timezone"]), issues);
        }
        if let Some(rec) = &f.reconcile {
            check(
                rec.timezone.as_ref(),
                at(&["reconcile", "timezone"]),
                issues,
            );
            if rec.timezone.is_some() && rec.schedule.is_none() {
                issues.push(ConfigIssue::at(
                    at(&["reconcile", "timezone"]),
                    "`timezone` goes with `schedule`: an `every` interval is the same in every \
                     zone",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(yaml: &str) -> Result<Trigger, String> {
        serde_saphyr::from_str::<Trigger>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn every_written_form_of_a_trigger_reads_and_writes_back() {
        let cases = [
            ("manual", Trigger::Manual),
            (
                "{ poll: 30s }",
                Trigger::Poll(DurationStr(std::time::Duration::from_secs(30))),
            ),
            (
                "{ cron: \"0 3 * * *\" }",
                Trigger::Cron {
                    cron: "0 3 * * *".into(),
                    timezone: None,
                },
            ),
            (
                "{ cron: \"0 3 * * *\", timezone: Asia/Shanghai }",
                Trigger::Cron {
                    cron: "0 3 * * *".into(),
                    timezone: Some("Asia/Shanghai".into()),
                },
            ),
        ];
        for (yaml, expected) in cases {
            let read = trigger(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(read, expected, "{yaml}");
            let json = serde_json::to_value(&read).unwrap();
            let again: Trigger = serde_saphyr::from_str(&json.to_string()).unwrap();
            assert_eq!(again, expected, "{json}");
        }
        assert_eq!(
            serde_json::to_value(Trigger::Manual).unwrap(),
            serde_json::json!("manual")
        );
    }

    #[test]
    fn a_wrong_trigger_says_what_is_wrong() {
        for (yaml, says) in [
            ("hourly", "unknown trigger `hourly`: write `manual`"),
            (
                "{ cron: \"0 3 * * *\", tz: UTC }",
                "unknown key `tz` (allowed here: poll, cron, timezone)",
            ),
            (
                "{ cron: \"0 3 * * *\", timezon: UTC }",
                "unknown key `timezon`; did you mean `timezone`?",
            ),
            (
                "{ poll: 30s, timezone: UTC }",
                "`timezone` goes with `cron`",
            ),
            (
                "{ poll: 30s, cron: \"0 3 * * *\" }",
                "`poll` or `cron`, not both",
            ),
            ("{ timezone: UTC }", "a trigger needs `poll` or `cron`"),
            ("{ poll: soon }", "`soon` is not a duration"),
        ] {
            let err = trigger(yaml).unwrap_err();
            assert!(err.contains(says), "{yaml}: {err}");
        }
    }

    #[test]
    fn the_schema_shows_the_three_forms_and_the_zone() {
        let schema = serde_json::to_value(schemars::schema_for!(Trigger)).unwrap();
        let text = schema.to_string();
        for part in [
            "\"manual\"",
            "\"poll\"",
            "\"cron\"",
            "\"timezone\"",
            "seconds first",
            "\"pattern\"",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        let forms = schema["anyOf"].as_array().expect("anyOf");
        assert_eq!(forms.len(), 3, "{schema}");
        assert!(
            forms[1..]
                .iter()
                .all(|f| f["additionalProperties"] == serde_json::json!(false)),
            "{schema}"
        );
    }

    #[test]
    fn zone_names_are_iana_names_and_a_near_miss_is_pointed_at() {
        assert_eq!(parse_zone("Asia/Shanghai"), Ok(chrono_tz::Asia::Shanghai));
        assert_eq!(parse_zone(" UTC "), Ok(Tz::UTC));
        for (typo, meant) in [
            ("Asia/Shangai", "Asia/Shanghai"),
            ("asia/shanghai", "Asia/Shanghai"),
            ("Shanghai", "Asia/Shanghai"),
            ("new york", "America/New_York"),
            ("Europe/Berln", "Europe/Berlin"),
        ] {
            let err = parse_zone(typo).unwrap_err();
            assert_eq!(
                err,
                format!("unknown time zone `{typo}`; did you mean `{meant}`?")
            );
        }
        let err = parse_zone("+08:00").unwrap_err();
        assert!(err.contains("not an offset"), "{err}");
        let err = parse_zone("Nowhere").unwrap_err();
        assert!(
            err.contains("use an IANA name such as Asia/Shanghai"),
            "{err}"
        );
    }

    #[test]
    fn the_tz_variable_counts_only_when_it_names_a_zone() {
        let shanghai = Some(chrono_tz::Asia::Shanghai);
        assert_eq!(zone_of_tz_variable("Asia/Shanghai"), shanghai);
        assert_eq!(zone_of_tz_variable(":Asia/Shanghai"), shanghai);
        assert_eq!(
            zone_of_tz_variable("/usr/share/zoneinfo/Asia/Shanghai"),
            shanghai
        );
        assert_eq!(zone_of_tz_variable("CST-8"), None);
        assert_eq!(zone_of_tz_variable(""), None);
    }

    const CONFIG: &str = "timezone: ZONE
systems:
  crm: { kind: sql, url: \"sqlite://crm.db\" }
flows:
  customers:
    entity: customer
    source: { system: crm, table: customers }
    target: { system: crm, table: copy }
    trigger: { cron: \"0 3 * * *\", timezone: TRIGGER }
    reconcile: { schedule: \"0 4 * * *\", timezone: RECONCILE }
    mapping: { code: customer_no }
";

    fn config(zone: &str, trigger: &str, reconcile: &str) -> Result<Config, Vec<String>> {
        let yaml = CONFIG
            .replace("ZONE", zone)
            .replace("TRIGGER", trigger)
            .replace("RECONCILE", reconcile);
        crate::config::load_str(std::path::Path::new("ferry.yaml"), &yaml)
            .map(|loaded| loaded.config)
            .map_err(|e| e.problems)
    }

    #[test]
    fn each_schedule_is_read_in_its_own_zone_or_the_workspace_one() {
        let config = config("Asia/Shanghai", "Europe/Berlin", "Asia/Shanghai").unwrap();
        assert_eq!(config.zone(), chrono_tz::Asia::Shanghai);
        assert_eq!(
            config.schedule_zone(Some("Europe/Berlin")),
            chrono_tz::Europe::Berlin
        );
        assert_eq!(config.schedule_zone(None), chrono_tz::Asia::Shanghai);
    }

    #[test]
    fn every_unknown_zone_is_reported_at_its_key() {
        let problems = config("Asia/Shangai", "Berlin", "UTC+8").unwrap_err();
        assert_eq!(
            problems,
            [
                "ferry.yaml:1:1: timezone: unknown time zone `Asia/Shangai`; did you mean \
                 `Asia/Shanghai`?",
                "ferry.yaml:9:35: flows.customers.trigger.timezone: unknown time zone \
                 `Berlin`; did you mean `Europe/Berlin`?",
                "ferry.yaml:10:41: flows.customers.reconcile.timezone: unknown time zone \
                 `UTC+8`: write the IANA name of a place, such as Asia/Shanghai, not an \
                 offset (the zone knows its offsets, daylight saving included)",
            ]
        );
    }
}
