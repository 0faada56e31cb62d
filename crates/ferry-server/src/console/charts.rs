//! Small charts and figures computed from a flow's recent runs, drawn as inline SVG on the
//! server: no script and nothing fetched, so the console works on a closed network.

use std::fmt::Write;

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
    /// Figures of `runs` (newest first).
    pub fn of(runs: &[RunView]) -> Self {
        let mut durations: Vec<f64> = runs
            .iter()
            .filter_map(|r| {
                r.finished_at
                    .map(|end| (end - r.started_at).num_milliseconds().max(0) as f64 / 1000.0)
            })
            .collect();
        durations.sort_by(f64::total_cmp);
        let finished_read: u64 = runs
            .iter()
            .filter(|r| r.finished_at.is_some())
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
