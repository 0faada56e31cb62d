//! Terminal tables and JSON output, the one way commands write to stdout, and the one way
//! they show a time.

use std::io::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// `print!` for command output: through [`write_stdout`], so a closed pipe ends quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` for command output: through [`write_stdout`], so a closed pipe ends quietly.
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// Writes command output to stdout. `println!` panics when the reader has gone away
/// (`ferry schema | head`), as Rust ignores SIGPIPE; here a broken pipe ends the process
/// quietly with exit 0 instead: whoever reads has taken all they wanted. Any other write
/// error is reported once and exits 1.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = write!(stdout, "{args}").and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// How the CLI shows instants to a person: in the workspace's zone (`timezone:` in the
/// config, else this machine's), with the UTC offset as its label, `2026-12-07 11:42:05
/// +08:00`. The offset makes a time read off the screen unambiguous, which a zone
/// abbreviation (CST: China, or the US Central?) would not. `--json` stays RFC 3339 UTC.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    zone: Tz,
}

impl Times {
    /// Times shown in `zone`.
    pub fn new(zone: Tz) -> Self {
        Self { zone }
    }

    /// The workspace's zone, as the config says (see `Config::zone`).
    pub fn of(config: &ferry_model::config::Config) -> Self {
        Self::new(config.zone())
    }

    /// `2026-12-07 11:42:05 +08:00`.
    pub fn show(&self, t: DateTime<Utc>) -> String {
        self.format(t, "%Y-%m-%d %H:%M:%S %:z")
    }

    /// With milliseconds, `2026-12-07 11:42:05.123 +08:00`: for the ledger, whose entries
    /// for one record often fall within a second.
    pub fn show_ms(&self, t: DateTime<Utc>) -> String {
        self.format(t, "%Y-%m-%d %H:%M:%S%.3f %:z")
    }

    fn format(&self, t: DateTime<Utc>, pattern: &str) -> String {
        t.with_timezone(&self.zone).format(pattern).to_string()
    }
}

/// A plain text table with left-aligned columns sized to their content (CJK counted as two).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let width = |s: &str| {
        s.chars()
            .map(|c| if is_wide(c) { 2 } else { 1 })
            .sum::<usize>()
    };
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(cell));
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6)
}

/// Shortens text to `max` characters with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!(
            "{}…",
            s.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_shown_in_the_workspace_zone_with_its_offset() {
        let t = DateTime::parse_from_rfc3339("2026-12-07T03:42:05.123Z")
            .unwrap()
            .to_utc();
        let shanghai = Times::new(chrono_tz::Asia::Shanghai);
        assert_eq!(shanghai.show(t), "2026-12-07 11:42:05 +08:00");
        assert_eq!(shanghai.show_ms(t), "2026-12-07 11:42:05.123 +08:00");
        assert_eq!(Times::new(Tz::UTC).show(t), "2026-12-07 03:42:05 +00:00");
        let summer = DateTime::parse_from_rfc3339("2026-07-01T12:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            Times::new(chrono_tz::Europe::Berlin).show(summer),
            "2026-07-01 14:00:00 +02:00"
        );
    }
}
