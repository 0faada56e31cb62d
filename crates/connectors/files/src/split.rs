//! Splitting CSV text into records and fields, and finding where a broken record ends.
//!
//! The csv crate's reader cannot go back: a quote that opens a value and is never closed
//! makes it read every following line into that value. This module reads physical lines
//! itself, so that it can look ahead and, when a quote turns out to be unterminated, start
//! again on the line after the one where the quote opened.
//!
//! Fields are split the way the csv crate (and Excel) split them: a value that starts with
//! `"` is quoted, `""` inside it is one quote, and it may span lines; a quote anywhere else is
//! an ordinary character; text after a closing quote is appended to the value. Those last two
//! are accepted but make a line *sloppy*, which matters for the resynchronisation rule:
//!
//! A record whose quote is still open at the end of its first line (line L) is read on to the
//! line K where the quote closes. The quote is **unterminated** — the record is line L alone,
//! reported as broken, and reading resumes at line L + 1 — when:
//!
//! 1. no line closes it before the end of the file, or within [`MAX_QUOTED_LINES`] lines;
//! 2. line K, read on its own, is a well-formed (not sloppy) record of the header's width: its
//!    quote opens a value of a row of its own. (In a valid file the line that closes a quoted
//!    value has an odd number of quotes, and a well-formed line an even number, so this never
//!    fires on a valid file);
//! 3. the record L..K would not have the header's width (a value that swallowed rows).
//!
//! Otherwise L..K is one record whose quoted value holds line breaks. What is left ambiguous:
//! an unterminated quote whose (sloppy) closing line happens to give the record the header's
//! width is read as one multi-line record; the rows it swallowed are then inside one value of
//! it, visible there, not dropped.

use std::collections::VecDeque;
use std::io::{self, BufRead};

/// The most lines (after the first) a quoted value may span.
pub const MAX_QUOTED_LINES: usize = 1000;

/// One physical line: its 1-based number and its bytes without the `\n`.
#[derive(Debug)]
pub struct Line {
    /// 1-based line number.
    pub number: u64,
    /// The bytes, without the `\n` (a `\r` before it is kept).
    pub bytes: Vec<u8>,
}

/// The physical lines of a text, with look-ahead.
pub struct Lines<R> {
    input: R,
    ahead: VecDeque<Line>,
    read: u64,
    eof: bool,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `input`, numbered from 1.
    pub fn new(input: R) -> Self {
        Self {
            input,
            ahead: VecDeque::new(),
            read: 0,
            eof: false,
        }
    }

    /// The `i`-th line not yet consumed (0: the next one), or `None` past the end.
    pub fn peek(&mut self, i: usize) -> io::Result<Option<&Line>> {
        while self.ahead.len() <= i && !self.eof {
            let mut bytes = Vec::new();
            if self.input.read_until(b'\n', &mut bytes)? == 0 {
                self.eof = true;
                break;
            }
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            self.read += 1;
            self.ahead.push_back(Line {
                number: self.read,
                bytes,
            });
        }
        Ok(self.ahead.get(i))
    }

    /// The next `n` (buffered) lines joined by `\n`, without their `\r`.
    fn text(&self, n: usize) -> Vec<u8> {
        let mut text = Vec::new();
        for (i, line) in self.ahead.iter().take(n).enumerate() {
            if i > 0 {
                text.push(b'\n');
            }
            text.extend_from_slice(line.bytes.strip_suffix(b"\r").unwrap_or(&line.bytes));
        }
        text
    }

    /// Drops the next `n` lines.
    pub fn consume(&mut self, n: usize) {
        self.ahead.drain(..n.min(self.ahead.len()));
    }
}

/// The fields of one record, in one buffer.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Fields {
    /// How many fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The fields, left to right.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(s, e)| &self.buf[s..*e])
    }

    /// Whether every field is empty (a blank line, or only delimiters).
    pub fn is_blank(&self) -> bool {
        self.buf.is_empty()
    }
}

/// How many columns a row must have.
#[derive(Debug, Clone, Copy)]
pub struct Width {
    /// The header's cells.
    pub columns: usize,
    /// Up to the header's last non-empty cell: a row may leave out trailing unnamed columns.
    pub named: usize,
}

impl Width {
    /// The width of a header.
    pub fn of(header: &[String]) -> Self {
        Self {
            columns: header.len(),
            named: header
                .iter()
                .rposition(|h| !h.is_empty())
                .map_or(0, |i| i + 1),
        }
    }

    /// `None` when the row fits (no fewer values than named columns, no non-empty value past
    /// the last column); else the count of values to report.
    pub fn misfit(&self, fields: &Fields) -> Option<usize> {
        let used = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_empty())
            .last()
            .map_or(0, |(i, _)| i + 1);
        if used > self.columns {
            Some(used)
        } else if fields.len() < self.named {
            Some(fields.len())
        } else {
            None
        }
    }
}

/// Why a quote is taken as unterminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unclosed {
    /// No closing quote before the end of the file.
    EndOfFile,
    /// None within [`MAX_QUOTED_LINES`] lines.
    TooLong,
    /// The line that would close it is a row of its own.
    RowOfItsOwn(u64),
    /// Closing it there would make a row of this many values.
    WrongWidth(u64, usize),
}

impl std::fmt::Display for Unclosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unclosed::EndOfFile => write!(f, "no closing quote before the end of the file"),
            Unclosed::TooLong => write!(
                f,
                "no closing quote within the next {MAX_QUOTED_LINES} lines"
            ),
            Unclosed::RowOfItsOwn(line) => write!(
                f,
                "the next quote, on line {line}, belongs to a row of its own"
            ),
            Unclosed::WrongWidth(line, n) => write!(
                f,
                "closing it at the quote on line {line} would make a row of {n} values"
            ),
        }
    }
}

/// A record as split from the text.
#[derive(Debug)]
pub struct Split {
    /// The line it starts on.
    pub line: u64,
    /// Its fields (for an unterminated quote: its first line's, the open value cut at the
    /// end of the line).
    pub fields: Fields,
    /// Set when a quote opened on `line` is unterminated: the 0-based field it opened, and why.
    pub unterminated: Option<(usize, Unclosed)>,
    /// Set when the record does not have the header's width: the count of values.
    pub misfit: Option<usize>,
    /// The record's lines as read (joined by `\n`, without `\r`), when it is unterminated or
    /// does not fit: what an operator needs to repair it.
    pub raw: Option<Vec<u8>>,
}

/// Splits the next record off `lines`: one line, several when a quoted value holds line
/// breaks, or one line with an unterminated quote (see the module's rule). `width` is the
/// header's, once known (before that only rule 1 applies). `None` at the end of the text.
pub fn next_record<R: BufRead>(
    lines: &mut Lines<R>,
    delimiter: u8,
    width: Option<Width>,
) -> io::Result<Option<Split>> {
    let mut parser = Parser::new(delimiter);
    let Some(first) = lines.peek(0)? else {
        return Ok(None);
    };
    let line = first.number;
    let mut taken = 1;
    let unclosed = loop {
        let Some(next) = lines.peek(taken - 1)? else {
            break Some(Unclosed::EndOfFile);
        };
        if parser.feed(&next.bytes) {
            break judge(lines, taken - 1, &parser, delimiter, width)?;
        }
        if taken > MAX_QUOTED_LINES {
            break Some(Unclosed::TooLong);
        }
        taken += 1;
    };
    let Some(why) = unclosed else {
        let fields = parser.finish();
        let misfit = width.and_then(|w| w.misfit(&fields));
        let raw = misfit.map(|_| lines.text(taken));
        lines.consume(taken);
        return Ok(Some(Split {
            line,
            fields,
            unterminated: None,
            misfit,
            raw,
        }));
    };
    // The quote opened on the first line; that line alone is the broken record.
    let mut alone = Parser::new(delimiter);
    let first = lines.peek(0)?.expect("the first line is buffered");
    alone.feed(&first.bytes);
    let open = alone.open_field;
    let raw = lines.text(1);
    lines.consume(1);
    Ok(Some(Split {
        line,
        fields: alone.finish(),
        unterminated: Some((open, why)),
        misfit: None,
        raw: Some(raw),
    }))
}

/// Rules 2 and 3 for a record whose quoted value closed on look-ahead line `last` (`None`:
/// the record is fine).
fn judge<R: BufRead>(
    lines: &mut Lines<R>,
    last: usize,
    parser: &Parser,
    delimiter: u8,
    width: Option<Width>,
) -> io::Result<Option<Unclosed>> {
    let Some(width) = width.filter(|_| last > 0) else {
        return Ok(None);
    };
    let closing = lines.peek(last)?.expect("the closing line is buffered");
    let mut own = Parser::new(delimiter);
    if own.feed(&closing.bytes) && !own.sloppy && width.misfit(&own.fields).is_none() {
        return Ok(Some(Unclosed::RowOfItsOwn(closing.number)));
    }
    Ok(width
        .misfit(&parser.fields)
        .map(|n| Unclosed::WrongWidth(closing.number, n)))
}

/// Where the parser is inside a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted value: `""` (one quote) or the closing quote.
    QuoteInQuoted,
}

/// Splits one record into fields, a line at a time.
struct Parser {
    delimiter: u8,
    state: State,
    fields: Fields,
    /// A quote outside a quoted value, or text after a closing quote.
    sloppy: bool,
    /// The 0-based field whose quoted value is (or was last) open.
    open_field: usize,
}

impl Parser {
    fn new(delimiter: u8) -> Self {
        Self {
            delimiter,
            state: State::FieldStart,
            fields: Fields::default(),
            sloppy: false,
            open_field: 0,
        }
    }

    /// Feeds one line (without its `\n`); `true` when the record ends with it, `false` when
    /// a quoted value is still open (the line break is then part of the value).
    fn feed(&mut self, line: &[u8]) -> bool {
        let (body, cr) = match line.strip_suffix(b"\r") {
            Some(body) => (body, true),
            None => (line, false),
        };
        for &b in body {
            self.byte(b);
        }
        if self.state == State::Quoted {
            if cr {
                self.fields.buf.push(b'\r');
            }
            self.fields.buf.push(b'\n');
            return false;
        }
        self.end_field();
        true
    }

    fn byte(&mut self, b: u8) {
        let d = self.delimiter;
        let buf = &mut self.fields.buf;
        match self.state {
            State::FieldStart if b == d => self.end_field(),
            State::FieldStart if b == b'"' => {
                self.state = State::Quoted;
                self.open_field = self.fields.ends.len();
            }
            State::FieldStart => {
                buf.push(b);
                self.state = State::Unquoted;
            }
            State::Unquoted if b == d => self.end_field(),
            State::Unquoted => {
                self.sloppy |= b == b'"';
                buf.push(b);
            }
            State::Quoted if b == b'"' => self.state = State::QuoteInQuoted,
            State::Quoted => buf.push(b),
            State::QuoteInQuoted if b == b'"' => {
                buf.push(b'"');
                self.state = State::Quoted;
            }
            State::QuoteInQuoted if b == d => self.end_field(),
            State::QuoteInQuoted => {
                self.sloppy = true;
                buf.push(b);
                self.state = State::Unquoted;
            }
        }
    }

    fn end_field(&mut self) {
        self.fields.ends.push(self.fields.buf.len());
        self.state = State::FieldStart;
    }

    /// The fields; a value still open ends here (without the line break `feed` added).
    fn finish(mut self) -> Fields {
        if self.state == State::Quoted {
            let buf = &mut self.fields.buf;
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            self.end_field();
        }
        self.fields
    }
}
