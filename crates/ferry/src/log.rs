//! The log's writer: one event, one line.
//!
//! Log fields can hold text from outside: a webhook's path or body, a record id a notice
//! named, an error message a system sent back. The server records such text Debug-formatted
//! (`?value`), which escapes control characters; this writer is the net under every other log
//! line, from any crate: it escapes CR, LF (but the one ending the event), NUL, the other C0
//! control characters and DEL, so no text can start a line of its own, overwrite one, or cut
//! one short. Tabs stay. ESC stays when the log is coloured (a terminal: the colours are made
//! of it; tracing escapes ESC in messages itself).
//!
//! tracing's fmt layer formats each event into one buffer and hands it over in one
//! `write_all`, so each call of [`Escaping::write`] is one whole event.

use std::borrow::Cow;
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Makes [`Escaping`] writers around `M`'s.
pub struct OneLine<M> {
    inner: M,
    keep_esc: bool,
}

impl<M> OneLine<M> {
    /// `keep_esc`: the log is coloured, so ESC is the formatter's own.
    pub fn new(inner: M, keep_esc: bool) -> Self {
        OneLine { inner, keep_esc }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLine<M> {
    type Writer = Escaping<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Escaping {
            inner: self.inner.make_writer(),
            keep_esc: self.keep_esc,
        }
    }
}

/// Writes each buffer (one formatted event) with its control characters escaped.
pub struct Escaping<W> {
    inner: W,
    keep_esc: bool,
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(&escape(buf, self.keep_esc))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `event` with its control characters escaped (`\r`, `\n`, `\0`, `\xNN`), the final newline
/// kept.
fn escape(event: &[u8], keep_esc: bool) -> Cow<'_, [u8]> {
    let (body, end): (&[u8], &[u8]) = match event.strip_suffix(b"\n") {
        Some(body) => (body, b"\n"),
        None => (event, b""),
    };
    if !body.iter().any(|&b| needs_escape(b, keep_esc)) {
        return Cow::Borrowed(event);
    }
    let mut out = Vec::with_capacity(event.len() + 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            b if needs_escape(b, keep_esc) => {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            }
            b => out.push(b),
        }
    }
    out.extend_from_slice(end);
    Cow::Owned(out)
}

fn needs_escape(b: u8, keep_esc: bool) -> bool {
    match b {
        b'\t' => false,
        0x1b => !keep_esc,
        0x00..=0x1f | 0x7f => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(event: &str, keep_esc: bool) -> String {
        String::from_utf8(escape(event.as_bytes(), keep_esc).into_owned()).unwrap()
    }

    #[test]
    fn an_event_stays_one_line() {
        assert_eq!(
            escaped("INFO a\r\nERROR forged\0 b\x07\x7f\n", false),
            "INFO a\\r\\nERROR forged\\0 b\\x07\\x7f\n"
        );
        // Text, tabs and UTF-8 as they are; borrowed when there is nothing to escape.
        let plain = "INFO 客户\tok\n";
        assert_eq!(escaped(plain, false), plain);
        assert!(matches!(escape(plain.as_bytes(), false), Cow::Borrowed(_)));
        // ESC: the formatter's own colours on a terminal, escaped otherwise.
        assert_eq!(
            escaped("\x1b[32mINFO\x1b[0m\n", true),
            "\x1b[32mINFO\x1b[0m\n"
        );
        assert_eq!(escaped("\x1b[2J\n", false), "\\x1b[2J\n");
    }

    #[test]
    fn the_writer_escapes_each_write() {
        let mut out = Vec::new();
        let mut w = Escaping {
            inner: &mut out,
            keep_esc: false,
        };
        w.write_all(b"one\ntwo\n").unwrap();
        w.write_all(b"three\n").unwrap();
        assert_eq!(out, b"one\\ntwo\nthree\n");
    }
}
