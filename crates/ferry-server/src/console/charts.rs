//! Small charts and figures computed from a flow's recent runs, drawn as inline SVG on the
//! server: no script and nothing fetched, so the console works on a closed network.

use std::fmt::Write;

use ferry_store::RequestLatency;

use crate::api::views::RunView;

/// Figures from a flow's recent runs (newest first, as the store lists them).
#[derive(Debug, Default)]
pub struct RunFigures {
    /// Records read per second of run time, over the finished runs.
    pub throughput: Option<f64>,
    /// Failed records / records read, in percent.
    pub error_rate: Option<f64>,
    /// Median run duration, seconds.
    pub p50: Option<f64>,
    /// 99th percentile run duration, seconds.
    pub p99: Option<f64>,
    /// Records read per run, oldest first.
    pub read_per_run: Vec<u64>,
}

impl RunFigures {
    /// Figures of `runs` (newest first). A row of idle runs spans many polls, not one run's
    /// time: it counts for no duration.
    pub fn of(runs: &[RunView]) -> Self {
        let mut durations: Vec<f64> = runs
            .iter()
            .filter(|r| r.idle_runs == 0)
            .filter_map(|r| {
                r.finished_at
                    .map(|end| (end - r.started_at).num_milliseconds().max(0) as f64 / 1000.0)
            })
            .collect();
        durations.sort_by(f64::total_cmp);
        let finished_read: u64 = runs
            .iter()
            .filter(|r| r.finished_at.is_some() && r.idle_runs == 0)
            .map(|r| r.read)
            .sum();
        let total_secs: f64 = durations.iter().sum();
        let read: u64 = runs.iter().map(|r| r.read).sum();
        let failed: u64 = runs.iter().map(|r| r.failed).sum();
        Self {
            throughput: (total_secs > 0.0).then(|| finished_read as f64 / total_secs),
            error_rate: (read > 0).then(|| failed as f64 * 100.0 / read as f64),
            p50: percentile(&durations, 50.0),
            p99: percentile(&durations, 99.0),
            read_per_run: runs.iter().rev().map(|r| r.read).collect(),
        }
    }
}

/// Per-record latency from a flow's recent tracked requests (API sync and webhooks): seconds
/// from a request being accepted into the queue to the first ledger entry of its record
/// since then that left the target up to date (written, or found already equal).
#[derive(Debug, Default)]
pub struct LatencyFigures {
    /// Median, seconds.
    pub p50: Option<f64>,
    /// 99th percentile, seconds.
    pub p99: Option<f64>,
    /// Requests delivered (the figures' sample).
    pub delivered: usize,
    /// Requests still queued (not in the figures).
    pub queued: usize,
}

impl LatencyFigures {
    /// Figures of `requests`. Requests neither delivered nor queued (dead-lettered, or done
    /// with nothing recorded) are left out.
    pub fn of(requests: &[RequestLatency]) -> Self {
        let mut seconds: Vec<f64> = requests
            .iter()
            .filter_map(|r| {
                r.done_at.map(|done| {
                    (done - r.request.requested_at).num_milliseconds().max(0) as f64 / 1000.0
                })
            })
            .collect();
        seconds.sort_by(f64::total_cmp);
        Self {
            p50: percentile(&seconds, 50.0),
            p99: percentile(&seconds, 99.0),
            delivered: seconds.len(),
            queued: requests.iter().filter(|r| r.queued).count(),
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A number for a table cell, or `n/a`.
pub fn figure(value: Option<f64>, unit: &str) -> String {
    match value {
        None => "n/a".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}{unit}"),
        Some(v) if v >= 10.0 => format!("{v:.1}{unit}"),
        Some(v) => format!("{v:.2}{unit}"),
    }
}

/// A sparkline of `values` (oldest first) as an inline SVG, with a title for screen readers
/// and hover; empty text when there is nothing to draw.
pub fn sparkline(values: &[u64], title: &str) -> String {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    if values.is_empty() {
        return String::new();
    }
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if values.len() > 1 {
        W / (values.len() - 1) as f64
    } else {
        0.0
    };
    let mut points = String::new();
    for (i, v) in values.iter().enumerate() {
        let x = if values.len() > 1 {
            i as f64 * step
        } else {
            W / 2.0
        };
        let y = H - 2.0 - (*v as f64 / max) * (H - 4.0);
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">\
         <title>{}</title><polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" \
         points=\"{}\"/></svg>",
        crate::html::escape(title),
        points.trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn latency_counts_delivered_requests_only() {
        use chrono::{Duration, TimeZone, Utc};
        use ferry_store::SyncRequest;
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let request = |id: i64, done_ms: Option<i64>, queued: bool| RequestLatency {
            request: SyncRequest {
                id,
                flow: "f".into(),
                source_id: id.to_string(),
                trigger: "webhook".into(),
                requested_at: t0,
            },
            done_at: done_ms.map(|ms| t0 + Duration::milliseconds(ms)),
            queued,
        };
        let mut requests: Vec<_> = (1..=99).map(|n| request(n, Some(n * 10), false)).collect();
        requests.push(request(100, Some(60_000), false));
        requests.push(request(101, None, true));
        requests.push(request(102, None, false));
        let f = LatencyFigures::of(&requests);
        assert_eq!(f.delivered, 100);
        assert_eq!(f.queued, 1);
        assert_eq!(f.p50, Some(0.5));
        assert_eq!(f.p99, Some(0.99));
        let none = LatencyFigures::of(&[request(1, None, true)]);
        assert_eq!((none.p50, none.delivered, none.queued), (None, 0, 1));
    }

    #[test]
    fn sparklines_scale_to_the_largest_value_and_escape_titles() {
        let svg = sparkline(&[0, 5, 10], "a<b");
        assert!(
            svg.contains("points=\"0.0,22.0 60.0,12.0 120.0,2.0\""),
            "{svg}"
        );
        assert!(svg.contains("a&lt;b"));
        assert_eq!(sparkline(&[], "x"), "");
    }
}
