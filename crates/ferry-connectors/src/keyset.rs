//! The keyset cursor shared by sources that page by `(watermark, id)`: the sql tables and
//! Tryton models today.
//!
//! Written as JSON, `{"v":1,"w":<watermark>,"id":<id>,"end":true}`: `w` is the watermark of
//! the last record read (absent at the start of a scan, and when nothing is watermarked), `id`
//! the last id read (absent: before every record at `w`), `end` marks the cursor that ends a
//! scan (its `w` already moved back by the source's overlap window), `p` the snapshot pass in
//! progress for sources that read in passes. The watermark and id types are the source's own.
//! What a source does with the position (its query) stays with the source; how the position
//! moves from page to page — the part that must be exact at ties and at the end of a scan —
//! lives here once.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A position between two reads (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "W: Deserialize<'de>, I: Deserialize<'de>"))]
pub(crate) struct Keyset<W, I> {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<W>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<I>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<i64>,
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
        }
    }

    /// The cursor that ends a scan at watermark `w` (already moved back by the overlap) and,
    /// where the watermark cannot tie-break by itself, id `id`.
    pub fn end_at(w: W, id: Option<I>) -> Self {
        Self {
            v: 1,
            w: Some(w),
            id,
            end: true,
            p: None,
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

impl<W: Clone, I: Clone> Keyset<W, I> {
    /// The cursor after a page.
    ///
    /// - `last` is the position of the page's last record (`None`: the page was empty);
    ///   `more` says whether records are waiting after it.
    /// - Mid-scan, the cursor is that position (in snapshot pass `pass`, if any).
    /// - At the end of a scan, `end` makes the scan-ending cursor from the last position
    ///   read: the source moves the watermark back by its overlap, or starts over when it
    ///   has no watermark.
    /// - An empty page after a scan-ending cursor keeps it, so an idle source does not walk
    ///   its overlap window back again and again.
    pub fn after_page(
        &self,
        last: Option<(Option<W>, Option<I>)>,
        more: bool,
        pass: Option<i64>,
        end: impl FnOnce(Option<W>, Option<I>) -> Self,
    ) -> Self {
        match (last, more) {
            (Some((w, id)), true) => Self {
                v: 1,
                w,
                id,
                end: false,
                p: pass,
            },
            (Some((w, id)), false) => end(w, id),
            (None, _) if self.end => self.clone(),
            (None, _) => end(self.w.clone(), self.id.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type K = Keyset<i64, i64>;

    fn end(w: Option<i64>, id: Option<i64>) -> K {
        match w {
            Some(w) => K::end_at(w - 5, id),
            None => K::start(),
        }
    }

    #[test]
    fn a_page_with_more_points_at_its_last_record_and_the_last_page_ends_the_scan() {
        let start = K::start();
        let mid = start.after_page(Some((Some(10), Some(3))), true, None, end);
        assert_eq!((mid.w, mid.id, mid.end), (Some(10), Some(3), false));
        let last = mid.after_page(Some((Some(20), Some(1))), false, None, end);
        assert_eq!((last.w, last.end), (Some(15), true));
        // Idle: an empty page keeps the scan-ending cursor instead of moving it back again.
        assert_eq!(last.after_page(None, false, None, end), last);
        // An empty first read of an unwatermarked source starts over.
        assert_eq!(start.after_page(None, false, None, end), K::start());
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_versions() {
        let mut c = K::end_at(7, Some(2));
        c.p = Some(99);
        assert_eq!(K::decode(Some(&c.encode())).unwrap(), c);
        assert_eq!(K::decode(None).unwrap(), K::start());
        assert_eq!(K::decode(Some("  ")).unwrap(), K::start());
        assert!(
            K::decode(Some(r#"{"v":2}"#))
                .unwrap_err()
                .contains("version 2")
        );
        assert!(K::decode(Some("nope")).is_err());
    }
}
