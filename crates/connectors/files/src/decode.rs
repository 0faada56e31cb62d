//! Text encodings: sniffing UTF-8 against GBK/GB18030, streaming GB18030 → UTF-8, encoding
//! output as GBK, and the content hash that change detection relies on.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use encoding_rs::{Decoder, GB18030, GBK};
use sha2::{Digest, Sha256};

use crate::config::ReadEncoding;

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What one pass over a file learned: its hash and whether it reads as UTF-8.
#[derive(Debug, Clone)]
pub struct FileScan {
    /// SHA-256 of the bytes, hex.
    pub hash: String,
    /// The file starts with a UTF-8 byte order mark.
    pub bom: bool,
    /// Byte sequences that are not valid UTF-8.
    pub invalid: u64,
    /// Valid multi-byte UTF-8 characters.
    pub multibyte: u64,
}

/// The encoding a CSV file is actually decoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// UTF-8 (a leading BOM is skipped).
    Utf8,
    /// GB18030, which also decodes GBK and GB2312.
    Gb18030,
}

impl Resolved {
    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Resolved::Utf8 => "UTF-8",
            Resolved::Gb18030 => "GBK/GB18030",
        }
    }
}

impl FileScan {
    /// The encoding to read the file with. `auto` picks UTF-8 when the file has a BOM, is
    /// valid UTF-8, or has many more valid multi-byte UTF-8 characters than invalid sequences
    /// (a UTF-8 file with a few damaged bytes, reported row by row); GB18030 otherwise.
    pub fn resolve(&self, wanted: ReadEncoding) -> Resolved {
        match wanted {
            ReadEncoding::Utf8 => Resolved::Utf8,
            ReadEncoding::Gbk | ReadEncoding::Gb18030 => Resolved::Gb18030,
            ReadEncoding::Auto => {
                if self.bom || self.invalid == 0 || self.multibyte > 4 * self.invalid {
                    Resolved::Utf8
                } else {
                    Resolved::Gb18030
                }
            }
        }
    }
}

/// Reads the whole file once: SHA-256 and UTF-8 statistics.
pub fn scan_file(path: &Path) -> io::Result<FileScan> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut sniffer = Utf8Sniffer::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = true;
    let mut bom = false;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        let mut chunk = &buf[..n];
        if first {
            first = false;
            // A BOM split over two reads is not worth handling: files are read in 64 KiB.
            if chunk.starts_with(BOM) {
                bom = true;
                chunk = &chunk[BOM.len()..];
            }
        }
        sniffer.feed(chunk);
    }
    sniffer.finish();
    Ok(FileScan {
        hash: hex::encode(hasher.finalize()),
        bom,
        invalid: sniffer.invalid,
        multibyte: sniffer.multibyte,
    })
}

/// Counts valid multi-byte characters and invalid sequences of a byte stream.
#[derive(Default)]
struct Utf8Sniffer {
    carry: Vec<u8>,
    invalid: u64,
    multibyte: u64,
}

impl Utf8Sniffer {
    fn feed(&mut self, chunk: &[u8]) {
        let joined;
        let mut rest: &[u8] = if self.carry.is_empty() {
            chunk
        } else {
            let mut v = std::mem::take(&mut self.carry);
            v.extend_from_slice(chunk);
            joined = v;
            &joined
        };
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.count(s.as_bytes());
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    self.count(&rest[..valid]);
                    match e.error_len() {
                        Some(n) => {
                            self.invalid += 1;
                            rest = &rest[valid + n..];
                        }
                        None => {
                            self.carry = rest[valid..].to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    fn count(&mut self, valid: &[u8]) {
        self.multibyte += valid.iter().filter(|b| **b >= 0xC0).count() as u64;
    }

    fn finish(&mut self) {
        if !self.carry.is_empty() {
            self.invalid += 1;
            self.carry.clear();
        }
    }
}

/// Opens a file for CSV parsing as a buffered UTF-8 byte stream: the BOM skipped for UTF-8, decoded
/// for GB18030 (bytes that do not decode become U+FFFD, which the row reader reports).
pub fn open_text(path: &Path, encoding: Resolved) -> io::Result<Box<dyn BufRead + Send>> {
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(path)?);
    match encoding {
        Resolved::Utf8 => {
            if reader.fill_buf()?.starts_with(BOM) {
                reader.consume(BOM.len());
            }
            Ok(Box::new(reader))
        }
        Resolved::Gb18030 => Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            DecodeReader::new(reader),
        ))),
    }
}

/// Streams GB18030 bytes as UTF-8.
pub struct DecodeReader<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> DecodeReader<R> {
    /// Wraps a reader of GB18030 (or GBK) bytes.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            decoder: GB18030.new_decoder_without_bom_handling(),
            input: vec![0; 32 * 1024],
            output: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        let n = loop {
            match self.inner.read(&mut self.input) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let last = n == 0;
        let cap = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 4 + 16);
        self.output.resize(cap, 0);
        let (_, read, written, _) =
            self.decoder
                .decode_to_utf8(&self.input[..n], &mut self.output, last);
        debug_assert_eq!(read, n);
        self.output.truncate(written);
        self.pos = 0;
        self.done = last;
        Ok(())
    }
}

impl<R: Read> Read for DecodeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.output.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = buf.len().min(self.output.len() - self.pos);
        buf[..n].copy_from_slice(&self.output[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Encodes text as GBK; the first character GBK cannot represent is the error.
pub fn encode_gbk(text: &str) -> Result<Vec<u8>, char> {
    let (bytes, _, unmappable) = GBK.encode(text);
    if !unmappable {
        return Ok(bytes.into_owned());
    }
    let bad = text
        .chars()
        .find(|c| GBK.encode(c.encode_utf8(&mut [0; 4])).2)
        .unwrap_or('\u{FFFD}');
    Err(bad)
}
