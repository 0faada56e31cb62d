//! The keyset cursor shared by sources that page by `(watermark, id)`: the sql tables and
//! Tryton models today.
//!
//! Written as JSON, `{"v":1,"w":<watermark>,"id":<id>,"end":true,"top":{…}}`: `w` is the
//! watermark of the last record read (absent at the start of a scan, and when nothing is
//! watermarked), `id` the last id read (absent: before every record at `w`), `end` marks the
//! cursor that ends a scan, `p` the snapshot pass in progress for sources that read in passes.
//! The watermark and id types are the source's own. What a source does with the position (its
//! query) stays with the source; how the position moves from page to page — the part that must
//! be exact at ties, at the end of a scan and in the overlap window — lives here once.
//!
//! # The overlap window, and how it settles
//!
//! A row stamped `T` may commit up to `overlap` after `T` (a long transaction, a clock
//! behind), so a scan that ends at the highest position read, the *top* `(T, id)`, leaves a
//! window: the next scan starts at `T − overlap` and re-reads what is stamped since (the
//! engine's read hashes make that cost no writes, but the rows are read). Re-reading it on
//! every poll for ever is what an idle source must not do, so the window *settles*:
//!
//! - The scan-ending cursor also keeps the top and `since`, this host's clock (epoch ms) just
//!   after the page holding the top came back (`"top":{"w":…,"id":…,"since":…}`). A row
//!   stamped `T` had committed by then, so the source's clock had reached `T` at `since`.
//! - Mid-scan cursors carry that top unchanged and `scan`, this host's clock just before the
//!   scan's first page was asked for.
//! - A scan that ends with a different top (something newer arrived, or the top row is gone)
//!   starts the window over: new top, `since` = now.
//! - A scan that ends with the same top (or reads nothing) and *started* at least `overlap`
//!   after `since` settles: every row stamped at or before `T` had committed before that scan
//!   asked for its first page (it is `overlap` later on the source's clock too: elapsed time
//!   is measured, not compared across hosts, so clock offsets and the time zone of text
//!   timestamps do not matter), so that scan read them all; the cursor becomes the exact
//!   position after the top (`"w":T,"id":id`) and the next poll reads only rows after it.
//!   Asking from the scan's start rather than its end matters: a late row committed while a
//!   long scan was under way was not necessarily seen by its earlier pages.
//! - A settled cursor stays settled while nothing new arrives: an idle source reads nothing.
//!   A new row starts a new window at its own stamp minus the overlap (which may re-read
//!   rows stamped just before, for one overlap at most).
//!
//! Sources without a window (no watermark, integer watermarks) end scans at an exact position
//! or at the start, as before. Cursors written before the top existed read as cursors without
//! one: the next scan that reads a row records it.

use chrono::TimeDelta;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A position between two reads (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "W: Deserialize<'de>, I: Deserialize<'de>"))]
pub struct Keyset<W, I> {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<W>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<I>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<i64>,
    /// The highest position read and when (sources with an overlap window only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<Top<W, I>>,
    /// Mid-scan: this host's clock (epoch ms) just before the scan's first page was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<i64>,
}

/// The highest position a source has read, and this host's clock (epoch ms) just after it
/// was first read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "W: Deserialize<'de>, I: Deserialize<'de>"))]
pub struct Top<W, I> {
    pub w: W,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<I>,
    pub since: i64,
}

/// When a page was read, on this host's clock (epoch ms): just before the query was sent and
/// just after its rows came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAt {
    pub asked: i64,
    pub answered: i64,
}

impl ReadAt {
    /// `asked` is now; call [`ReadAt::answered`] once the rows are in.
    pub fn asking() -> i64 {
        now_ms()
    }

    /// A page asked for at `asked` whose rows have just come back.
    pub fn answered(asked: i64) -> Self {
        Self {
            asked,
            answered: now_ms(),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How a source ends a scan at a position (the watermark and id of the highest record read).
#[derive(Debug, Clone, PartialEq)]
pub enum ScanEnd<W, I> {
    /// This cursor, exactly: an exact position (integer watermarks, rows without one) or the
    /// start (no watermark: the next scan reads everything again). Nothing to settle.
    Exact(Keyset<W, I>),
    /// A window: the next scan starts at `from` (the position's watermark moved back by
    /// `overlap`) until the window settles (see the module docs).
    Window {
        from: Keyset<W, I>,
        overlap: TimeDelta,
    },
}

impl<W, I> Keyset<W, I> {
    /// The beginning: everything is ahead.
    pub fn start() -> Self {
        Self {
            v: 1,
            w: None,
            id: None,
            end: false,
            p: None,
            top: None,
            scan: None,
        }
    }

    /// The cursor that ends a scan at watermark `w` (for a window: already moved back by the
    /// overlap) and, where the watermark cannot tie-break by itself, id `id`.
    pub fn end_at(w: W, id: Option<I>) -> Self {
        Self {
            w: Some(w),
            id,
            end: true,
            ..Self::start()
        }
    }
}

impl<W: Serialize, I: Serialize> Keyset<W, I> {
    /// The text the engine stores.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl<W: DeserializeOwned, I: DeserializeOwned> Keyset<W, I> {
    /// Reads a stored cursor; `None` or blank is the start. The error says why, for the
    /// source to put in context.
    pub fn decode(text: Option<&str>) -> Result<Self, String> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(Self::start());
        };
        let cursor: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if cursor.v != 1 {
            return Err(format!("unknown cursor version {}", cursor.v));
        }
        Ok(cursor)
    }
}

impl<W: Clone + PartialEq, I: Clone + PartialEq> Keyset<W, I> {
    /// The cursor after a page read at `at`.
    ///
    /// - `last` is the position of the page's last record (`None`: the page was empty);
    ///   `more` says whether records are waiting after it.
    /// - Mid-scan, the cursor is that position (in snapshot pass `pass`, if any), with the
    ///   top carried and the scan's start.
    /// - At the end of a scan, `end` says how the source ends a scan at a position: the
    ///   highest position read, which is the new top when it differs from the one this scan
    ///   started with; with an unchanged top the window settles once it has passed (see the
    ///   module docs).
    /// - An empty page after a scan-ending cursor without a top keeps it, so an idle source
    ///   does not walk its overlap window back again and again.
    pub fn after_page(
        &self,
        last: Option<(Option<W>, Option<I>)>,
        more: bool,
        pass: Option<i64>,
        at: ReadAt,
        end: impl FnOnce(Option<W>, Option<I>) -> ScanEnd<W, I>,
    ) -> Self {
        let scan = match (self.end, self.scan) {
            (false, Some(started)) => started,
            _ => at.asked,
        };
        match (last, more) {
            (Some((w, id)), true) => Self {
                v: 1,
                w,
                id,
                end: false,
                p: pass,
                top: self.top.clone(),
                scan: Some(scan),
            },
            (Some(position), false) => self.end_scan(Some(position), scan, at.answered, end),
            // Mid-scan, an empty page (rows gone between pages) ends the scan where it was.
            (None, _) if !self.end => {
                let reached = (self.w.clone(), self.id.clone());
                self.end_scan(Some(reached), scan, at.answered, end)
            }
            (None, _) => self.end_scan(None, scan, at.answered, end),
        }
    }

    /// The cursor that ends a scan that started at `scan` and whose highest position read is
    /// `reached` (`None`: it read nothing), its last page answered at `answered`.
    fn end_scan(
        &self,
        reached: Option<(Option<W>, Option<I>)>,
        scan: i64,
        answered: i64,
        end: impl FnOnce(Option<W>, Option<I>) -> ScanEnd<W, I>,
    ) -> Self {
        let new_top = reached.filter(|(w, id)| {
            self.top
                .as_ref()
                .is_none_or(|top| w.as_ref() != Some(&top.w) || *id != top.id)
        });
        if let Some((w, id)) = new_top {
            return match end(w.clone(), id.clone()) {
                ScanEnd::Exact(cursor) => cursor,
                ScanEnd::Window { from, .. } => match w {
                    Some(w) => Self {
                        top: Some(Top {
                            w,
                            id,
                            since: answered,
                        }),
                        ..from
                    },
                    None => from,
                },
            };
        }
        // Nothing past the top: the same top, or nothing read after a scan-ending cursor.
        let Some(top) = &self.top else {
            return self.clone();
        };
        match end(Some(top.w.clone()), top.id.clone()) {
            ScanEnd::Exact(cursor) => cursor,
            ScanEnd::Window { from, overlap } => {
                let settled = scan >= top.since.saturating_add(overlap.num_milliseconds());
                if settled {
                    // Exactly after the top: every row up to it is read, for good.
                    Self {
                        top: Some(top.clone()),
                        ..Self::end_at(top.w.clone(), top.id.clone())
                    }
                } else {
                    Self {
                        top: Some(top.clone()),
                        ..from
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type K = Keyset<i64, i64>;

    /// Watermarks and the clock are both in milliseconds here, so a stamp reads as the time
    /// it was made.
    const OVERLAP: i64 = 5_000;

    /// A source whose scans end in a window of `OVERLAP`, like the sql source's.
    fn window(w: Option<i64>, _id: Option<i64>) -> ScanEnd<i64, i64> {
        match w {
            Some(w) => ScanEnd::Window {
                from: K::end_at(w - OVERLAP, None),
                overlap: TimeDelta::milliseconds(OVERLAP),
            },
            None => ScanEnd::Exact(K::start()),
        }
    }

    /// A page read instantly at `t`.
    fn at(t: i64) -> ReadAt {
        ReadAt {
            asked: t,
            answered: t,
        }
    }

    /// The committed rows of a table, `(watermark, id)`, and the reads a source makes of it.
    #[derive(Default)]
    struct Table(Vec<(i64, i64)>);

    impl Table {
        fn commit(&mut self, w: i64, id: i64) {
            self.0.push((w, id));
            self.0.sort_unstable();
        }

        /// One page after `cursor` (the sql source's conditions), its cursor after.
        fn page(&self, cursor: &K, limit: usize, read: ReadAt) -> (Vec<(i64, i64)>, K) {
            let after = |&&(w, id): &&(i64, i64)| match (cursor.w, cursor.id) {
                (None, _) => true,
                (Some(cw), None) => w >= cw,
                (Some(cw), Some(cid)) => w > cw || (w == cw && id > cid),
            };
            let mut rows: Vec<(i64, i64)> = self.0.iter().filter(after).copied().collect();
            let more = rows.len() > limit;
            rows.truncate(limit);
            let last = rows.last().map(|&(w, id)| (Some(w), Some(id)));
            (rows, cursor.after_page(last, more, None, read, window))
        }

        /// A whole scan, its pages read instantly from `t` on, one millisecond apart.
        fn scan(&self, cursor: &K, limit: usize, t: i64) -> (usize, K) {
            let (mut read, mut cursor, mut t) = (0, cursor.clone(), t);
            loop {
                let (rows, next) = self.page(&cursor, limit, at(t));
                read += rows.len();
                cursor = next;
                t += 1;
                if cursor.end {
                    return (read, cursor);
                }
            }
        }
    }

    /// 400 rows written by one mass update at 100 s (and read a moment later).
    fn mass_update() -> Table {
        let mut table = Table::default();
        for id in 1..=400 {
            table.commit(100_000, id);
        }
        table
    }

    #[test]
    fn the_window_is_read_again_until_it_has_passed_then_settles() {
        let table = mass_update();
        let (read, first) = table.scan(&K::start(), 100, 100_500);
        assert_eq!(read, 400);
        let top = first.top.clone().expect("a top");
        assert_eq!((top.w, top.id, top.since), (100_000, Some(400), 100_503));
        assert_eq!((first.w, first.id, first.end), (Some(95_000), None, true));
        // Within the overlap, every poll reads the window again.
        let (read, second) = table.scan(&first, 100, 101_000);
        assert_eq!((read, &second), (400, &first));
        // A scan that starts a moment too early reads it and does not settle yet.
        let (read, third) = table.scan(&second, 100, 105_502);
        assert_eq!((read, &third), (400, &first));
        // The first scan that starts once the overlap has passed reads the window one last
        // time and settles exactly after the top.
        let (read, settled) = table.scan(&third, 100, 105_503);
        assert_eq!(read, 400);
        assert_eq!(
            (settled.w, settled.id, settled.end),
            (Some(100_000), Some(400), true)
        );
        let (read, _) = table.scan(&settled, 100, 105_600);
        assert_eq!(read, 0);
    }

    #[test]
    fn an_idle_source_with_a_settled_cursor_reads_nothing() {
        let table = mass_update();
        let (_, open) = table.scan(&K::start(), 1000, 100_000);
        let (_, settled) = table.scan(&open, 1000, 200_000);
        assert_eq!(settled.w, Some(100_000));
        let text = settled.encode();
        for t in [200_100, 300_000, 900_000] {
            let (read, again) = table.scan(&settled, 1000, t);
            assert_eq!(read, 0);
            assert_eq!(
                again.encode(),
                text,
                "an idle poll leaves the cursor as it was"
            );
        }
    }

    #[test]
    fn a_newer_row_starts_the_window_over() {
        let mut table = mass_update();
        let (_, first) = table.scan(&K::start(), 1000, 100_000);
        // A newer row arrives before the window has passed: a new top, a new `since`.
        table.commit(104_000, 7);
        let (read, second) = table.scan(&first, 1000, 104_000);
        assert_eq!(read, 401);
        let top = second.top.clone().unwrap();
        assert_eq!((top.w, top.id, top.since), (104_000, Some(7), 104_000));
        assert_eq!(second.w, Some(99_000));
        // The first top's overlap has passed, the new one's has not: no settling yet.
        let (read, third) = table.scan(&second, 1000, 108_000);
        assert_eq!((read, &third), (401, &second));
        let (read, settled) = table.scan(&third, 1000, 109_000);
        assert_eq!(read, 401);
        assert_eq!((settled.w, settled.id), (Some(104_000), Some(7)));
        // After settling, a new row is read once and opens a window of its own.
        table.commit(200_000, 1);
        let (read, reopened) = table.scan(&settled, 1000, 200_000);
        assert_eq!(read, 1);
        assert_eq!(reopened.w, Some(195_000));
        assert_eq!(reopened.top.unwrap().since, 200_000);
    }

    #[test]
    fn a_late_row_committed_inside_the_window_is_caught() {
        let mut table = mass_update();
        let (_, first) = table.scan(&K::start(), 1000, 100_000);
        // Stamped before the top, committed 4 s later: the window finds it.
        table.commit(99_000, 999);
        let (read, second) = table.scan(&first, 1000, 103_000);
        assert_eq!(read, 401);
        assert_eq!(second, first, "an older row does not move the top");
        // Committed while a scan that started just before the window passed was under way,
        // after that scan's first page had gone by (stamp 99 999, commit 104 950: within the
        // overlap). The scan ends after the window has passed but must not settle, since its
        // first page could not see the row.
        let (rows, mid) = table.page(&second, 100, at(104_900));
        assert_eq!(rows.len(), 100);
        table.commit(99_999, 1000);
        let (mut cursor, mut t) = (mid, 105_000);
        while !cursor.end {
            cursor = table.page(&cursor, 100, at(t)).1;
            t += 100;
        }
        assert!(t > 105_100, "the scan ended after the window had passed");
        assert_eq!(cursor.w, Some(95_000), "not settled: {cursor:?}");
        let (read, settled) = table.scan(&cursor, 1000, 105_300);
        assert_eq!(read, 402, "the late row is read");
        assert_eq!((settled.w, settled.id), (Some(100_000), Some(400)));
    }

    #[test]
    fn exact_sources_end_where_they_are_and_keep_no_top() {
        let exact = |w: Option<i64>, id: Option<i64>| match w {
            Some(w) => ScanEnd::Exact(K::end_at(w, id)),
            None => ScanEnd::Exact(K::start()),
        };
        let start = K::start();
        let mid = start.after_page(Some((Some(10), Some(3))), true, None, at(1), exact);
        assert_eq!(
            (mid.w, mid.id, mid.end, mid.scan),
            (Some(10), Some(3), false, Some(1))
        );
        let last = mid.after_page(Some((Some(20), Some(1))), false, None, at(2), exact);
        assert_eq!(last, K::end_at(20, Some(1)));
        // Idle: an empty page keeps the scan-ending cursor.
        assert_eq!(last.after_page(None, false, None, at(3), exact), last);
        // An empty first read of an unwatermarked source starts over.
        assert_eq!(
            start.after_page(None, false, None, at(4), exact),
            K::start()
        );
    }

    #[test]
    fn cursors_round_trip_and_older_ones_still_read() {
        let mut c = K::end_at(7, Some(2));
        c.p = Some(99);
        c.top = Some(Top {
            w: 12,
            id: Some(4),
            since: 1_700_000_000_000,
        });
        assert_eq!(K::decode(Some(&c.encode())).unwrap(), c);
        assert_eq!(K::decode(None).unwrap(), K::start());
        assert_eq!(K::decode(Some("  ")).unwrap(), K::start());
        assert!(
            K::decode(Some(r#"{"v":2}"#))
                .unwrap_err()
                .contains("version 2")
        );
        assert!(K::decode(Some("nope")).is_err());
        // A window cursor written before tops existed: an idle poll keeps it, a read records
        // the top.
        let old = K::decode(Some(r#"{"v":1,"w":95000,"end":true}"#)).unwrap();
        assert_eq!(old.after_page(None, false, None, at(1), window), old);
        let table = mass_update();
        let (read, now) = table.scan(&old, 1000, 200_000);
        assert_eq!(read, 400);
        assert_eq!(now.top.unwrap().w, 100_000);
    }
}
