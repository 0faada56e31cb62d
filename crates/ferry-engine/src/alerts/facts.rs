//! What an alert says, as figures, and in words: English for the log and the JSON POST (and
//! English channels), 简体中文 for channels set to `language: zh`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ferry_model::config::Language;
use ferry_store::ReconcileCounts;

use super::Condition;

/// The figures behind a condition found true.
#[derive(Debug, Clone, PartialEq)]
pub enum Facts {
    /// The last finished run stopped with an error.
    RunStopped {
        /// The run.
        run: i64,
        /// Its error.
        error: String,
    },
    /// The last finished run failed more than the threshold of what it read.
    FailedShare {
        /// The run.
        run: i64,
        /// Records that failed.
        failed: u64,
        /// Records read.
        read: u64,
        /// The share allowed (0.05 = 5 %).
        threshold: f64,
    },
    /// Open dead letters at or above the threshold.
    DeadLetters {
        /// How many are open.
        open: u64,
    },
    /// The oldest queued item has waited too long.
    Lag {
        /// How long it has waited.
        waited: Duration,
        /// The limit.
        limit: Duration,
    },
    /// No successful run for too long.
    Silent {
        /// How long without one.
        quiet: Duration,
        /// How often one is due.
        period: Duration,
        /// When the last one finished, if one did since Ferry started.
        last_success: Option<DateTime<Utc>>,
    },
    /// The latest reconciliation found source and target disagreeing.
    Drift {
        /// The reconciliation.
        id: i64,
        /// What started it (`schedule`, `cli`, …).
        trigger: String,
        /// When it started.
        started: DateTime<Utc>,
        /// What it found.
        counts: ReconcileCounts,
    },
    /// Polls keep finding changes no webhook announced.
    MissedNotices {
        /// Polls in the streak.
        polls: usize,
        /// Changes they wrote.
        written: u64,
        /// When the earliest of them started.
        since: DateTime<Utc>,
    },
}

impl Facts {
    /// The sentence for the log and the JSON POST: English, times in UTC.
    pub fn english(&self, flow: &str) -> String {
        self.describe(flow, Language::En, Tz::UTC)
    }

    /// The sentence in `language`, times in `zone`.
    pub fn describe(&self, flow: &str, language: Language, zone: Tz) -> String {
        match language {
            Language::En => self.en(flow, zone),
            Language::Zh => self.zh(flow, zone),
        }
    }

    /// The console page that shows the matter best, relative to the console's root.
    pub fn console_page(&self, flow: &str) -> Vec<String> {
        match self {
            Facts::Drift { id, .. } => vec!["reconciliations".to_owned(), id.to_string()],
            _ => vec!["flows".to_owned(), flow.to_owned()],
        }
    }

    fn en(&self, flow: &str, zone: Tz) -> String {
        match self {
            Facts::RunStopped { run, error } => format!("the last run (#{run}) stopped: {error}"),
            Facts::FailedShare {
                run,
                failed,
                read,
                threshold,
            } => format!(
                "{failed} of {read} records failed in the last run (#{run}): {:.1} %, \
                 above {:.1} %; see `ferry dlq list --flow {flow}`",
                share(*failed, *read) * 100.0,
                threshold * 100.0,
            ),
            Facts::DeadLetters { open } => {
                format!("{open} open dead letter(s); see `ferry dlq list --flow {flow}`")
            }
            Facts::Lag { waited, limit } => format!(
                "the oldest queued record has waited {} (limit {})",
                human(*waited, Language::En),
                human(*limit, Language::En)
            ),
            Facts::Silent {
                quiet,
                period,
                last_success,
            } => {
                let last = match last_success {
                    Some(t) => format!("the last one finished {}", when(*t, zone)),
                    None => "none since Ferry started".to_owned(),
                };
                format!(
                    "no successful run for {} although one is due every {} ({last})",
                    human(*quiet, Language::En),
                    human(*period, Language::En)
                )
            }
            Facts::Drift {
                id,
                trigger,
                started,
                counts: c,
            } => format!(
                "reconciliation #{id} ({trigger}, {}) found drift: {} differing, {} missing in \
                 the target, {} missing in the source, {} duplicate key(s), {} unmapped{}; see \
                 /console/reconciliations/{id}",
                when(*started, zone),
                c.differing,
                c.missing_in_target,
                c.missing_in_source,
                c.duplicate_keys_source + c.duplicate_keys_target,
                c.unmapped,
                match c.dead_lettered {
                    0 => String::new(),
                    n => format!(" ({n} known failure(s) waiting in the dead-letter ledger apart)"),
                },
            ),
            Facts::MissedNotices {
                polls,
                written,
                since,
            } => format!(
                "the last {polls} polls wrote {written} change(s) that no webhook announced, and \
                 no notice has arrived since {}: the sender has likely stopped pushing \
                 (Jiandaoyun disables a data push after repeated failed deliveries: re-enable it \
                 under 数据推送); polling alone is carrying the flow",
                when(*since, zone)
            ),
        }
    }

    fn zh(&self, flow: &str, zone: Tz) -> String {
        match self {
            Facts::RunStopped { run, error } => format!("最近一次运行（#{run}）中止：{error}"),
            Facts::FailedShare {
                run,
                failed,
                read,
                threshold,
            } => format!(
                "最近一次运行（#{run}）读取 {read} 条，失败 {failed} 条（{:.1}%，超过 {:.1}%）；\
                 查看 `ferry dlq list --flow {flow}`",
                share(*failed, *read) * 100.0,
                threshold * 100.0,
            ),
            Facts::DeadLetters { open } => {
                format!("{open} 条死信待处理；查看 `ferry dlq list --flow {flow}`")
            }
            Facts::Lag { waited, limit } => format!(
                "队列中最早的记录已等待 {}（上限 {}）",
                human(*waited, Language::Zh),
                human(*limit, Language::Zh)
            ),
            Facts::Silent {
                quiet,
                period,
                last_success,
            } => {
                let last = match last_success {
                    Some(t) => format!("上次成功于 {}", when(*t, zone)),
                    None => "自 Ferry 启动以来没有成功过".to_owned(),
                };
                format!(
                    "已 {} 没有成功运行，按计划应每 {} 运行一次（{last}）",
                    human(*quiet, Language::Zh),
                    human(*period, Language::Zh)
                )
            }
            Facts::Drift {
                id,
                trigger,
                started,
                counts: c,
            } => format!(
                "对账 #{id}（{trigger}，{}）发现数据不一致：{} 条不同，目标缺 {} 条，源缺 {} 条，\
                 重复键 {} 个，未映射 {} 条{}；见 /console/reconciliations/{id}",
                when(*started, zone),
                c.differing,
                c.missing_in_target,
                c.missing_in_source,
                c.duplicate_keys_source + c.duplicate_keys_target,
                c.unmapped,
                match c.dead_lettered {
                    0 => String::new(),
                    n => format!("（另有 {n} 条已知失败在死信中，未计入）"),
                },
            ),
            Facts::MissedNotices {
                polls,
                written,
                since,
            } => format!(
                "最近 {polls} 次轮询写入了 {written} 条没有 webhook 通知过的变更，自 {} 起未收到任何\
                 通知：推送方很可能已停止推送（简道云在多次推送失败后会停用数据推送，请在「数据推送」\
                 中重新启用）；目前仅靠轮询同步",
                when(*since, zone)
            ),
        }
    }
}

/// What a recovery says.
pub fn recovery(condition: Condition, language: Language) -> &'static str {
    match (language, condition) {
        (Language::En, Condition::Failures) => "the last run is back under the failure threshold",
        (Language::En, Condition::DeadLetters) => "dead letters are back under the threshold",
        (Language::En, Condition::Lag) => "the queue has caught up",
        (Language::En, Condition::Silent) => "a run succeeded again",
        (Language::En, Condition::Drift) => {
            "the latest reconciliation found source and target in agreement"
        }
        (Language::En, Condition::MissedNotices) => "webhook notices are arriving again",
        (Language::Zh, Condition::Failures) => "最近一次运行的失败率已回到阈值以下",
        (Language::Zh, Condition::DeadLetters) => "死信数量已回到阈值以下",
        (Language::Zh, Condition::Lag) => "队列积压已消化",
        (Language::Zh, Condition::Silent) => "已重新成功运行",
        (Language::Zh, Condition::Drift) => "最近一次对账显示源与目标一致",
        (Language::Zh, Condition::MissedNotices) => "webhook 通知已恢复",
    }
}

/// What a condition is called in a heading.
pub fn label(condition: Condition, language: Language) -> &'static str {
    match (language, condition) {
        (Language::En, Condition::Failures) => "failures",
        (Language::En, Condition::DeadLetters) => "dead letters",
        (Language::En, Condition::Lag) => "queue lag",
        (Language::En, Condition::Silent) => "no successful run",
        (Language::En, Condition::Drift) => "drift",
        (Language::En, Condition::MissedNotices) => "missed webhook notices",
        (Language::Zh, Condition::Failures) => "运行失败",
        (Language::Zh, Condition::DeadLetters) => "死信",
        (Language::Zh, Condition::Lag) => "队列积压",
        (Language::Zh, Condition::Silent) => "长时间未成功运行",
        (Language::Zh, Condition::Drift) => "数据不一致",
        (Language::Zh, Condition::MissedNotices) => "webhook 推送中断",
    }
}

fn share(failed: u64, read: u64) -> f64 {
    if read == 0 {
        0.0
    } else {
        failed as f64 / read as f64
    }
}

/// A time as the CLI shows it: `2026-12-07 03:12:05 +08:00`, or `… UTC` in UTC (by any of
/// its names: a server's zone is often `Etc/UTC`).
pub fn when(t: DateTime<Utc>, zone: Tz) -> String {
    let utc = ["UTC", "UCT", "Universal", "Zulu"]
        .iter()
        .any(|name| zone.name().trim_start_matches("Etc/") == *name);
    if utc {
        t.format("%F %T UTC").to_string()
    } else {
        t.with_timezone(&zone).format("%F %T %:z").to_string()
    }
}

/// A duration in whole seconds: `1h 1m` in English, `1小时1分钟` in Chinese.
pub fn human(d: Duration, language: Language) -> String {
    let d = Duration::from_secs(d.as_secs());
    match language {
        Language::En => humantime::format_duration(d).to_string(),
        Language::Zh => {
            let s = d.as_secs();
            let parts = [
                (s / 86_400, "天"),
                (s / 3600 % 24, "小时"),
                (s / 60 % 60, "分钟"),
                (s % 60, "秒"),
            ];
            let text: String = parts
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, unit)| format!("{n}{unit}"))
                .collect();
            if text.is_empty() {
                "0秒".to_owned()
            } else {
                text
            }
        }
    }
}
