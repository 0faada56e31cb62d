//! # The `files` connector: a folder of CSV and XLSX files
//!
//! Chinese and other ERPs often talk through files: an export folder the ERP fills, an
//! import folder it reads. A `files` system is one such folder.
//!
//! ```yaml
//! systems:
//!   inbox:
//!     kind: files
//!     dir: ./exchange/inbox        # relative to the config file; created on the first write
//!
//! flows:
//!   customers-in:
//!     entity: customer
//!     source:
//!       system: inbox
//!       pattern: "customers*.csv"  # `*` any run of characters, `?` one; case-insensitive
//!       encoding: auto             # utf-8 | gbk | gb18030 | auto (default)
//!       delimiter: ","             # default `,`; `tab` for tab
//!       header_row: 1              # default 1; lines above are skipped (report titles)
//!       id: 客户编码                # the column with the record id (header or renamed field)
//!       columns: { 客户编码: code, 客户名称: name, 信用额度: credit_limit }
//!       types: { credit_limit: decimal, 建档日期: date, active: bool }
//!   orders-in:
//!     source: { system: inbox, pattern: "orders_*.xlsx", sheet: 订单, id: order_no }
//!   customers-out:
//!     target:
//!       system: outbox
//!       file: "customers-{date}.csv" # `{date}` YYYY-MM-DD, `{timestamp}` YYYYMMDDTHHMMSS
//!       columns: [code, name, { credit_limit: 信用额度 }, lines]
//!       encoding: utf-8-bom        # utf-8 (default) | utf-8-bom (for Excel) | gbk
//!       delimiter: ","
//! ```
//!
//! ## Reading
//!
//! - **Which files.** Files of `dir` (not sub-folders) whose name matches `pattern`; hidden
//!   files (`.name`, including this connector's own `.part` files) and Excel lock files
//!   (`~$name`) are ignored. `format` is `csv` or `xlsx`, by default from each file's
//!   extension (`.csv`, `.xlsx`, `.xlsm`).
//! - **Change detection.** The cursor lists each file imported with its size, modification
//!   time and SHA-256. A read takes the files that are new or whose content hash changed (a
//!   file only touched, same bytes, is not read again) and imports them in (mtime, name)
//!   order, each whole, records in file order. A changed file is re-imported whole; the
//!   engine's record hashes skip the rows that did not change. Files that disappear are
//!   dropped from the cursor.
//! - **Paging.** A page ends inside a file when `limit` is reached; the cursor then holds
//!   `{file, hash, row}` and the next read re-opens the file and skips `row` data rows
//!   (rows are streamed, never loaded all at once; at most one page of records is held).
//!   When the file's hash is no longer `hash`, the file starts again at row 0. `more` is
//!   `false` once every file is done.
//! - **Cursor format** (JSON, opaque to the engine):
//!   `{"v":1,"done":{"customers-1.csv":{"size":1834,"mtime":"2025-01-31T08:00:00.123456789Z","hash":"<sha256 hex>"}},"current":{"file":"customers-2.csv","hash":"<sha256 hex>","row":1000}}`.
//! - **Records.** `Record.id` is the id column's text (trimmed); `updated_at` is the file's
//!   modification time. Field names are the headers, renamed by `columns`; an empty header
//!   cell is named `column_<n>` and a repeated header `<name>_2`, `<name>_3`… CSV cells stay
//!   text (`""` when empty). XLSX cells become text too: numbers without float noise
//!   (`1234.5` stays `"1234.5"`, 15 significant digits like Excel shows), dates as
//!   `YYYY-MM-DD`, date-times as `YYYY-MM-DDTHH:MM:SS` (Excel stores no time zone, so none is
//!   added), booleans as `"true"`/`"false"`. A column named in `types` is parsed: `integer` → JSON
//!   number, `decimal` → decimal string (`"1234.50"`, scale kept), `date` → `YYYY-MM-DD`
//!   (also read from `YYYY/MM/DD`, `YYYY.MM.DD`, `YYYYMMDD`, `YYYY年MM月DD日`), `bool` → JSON
//!   boolean (`true/false`, `yes/no`, `y/n`, `1/0`, `是/否`); an empty typed cell is `null`.
//!   Rows whose cells are all empty are skipped.
//! - **Encodings.** `auto` reads UTF-8 (with or without BOM; the BOM never reaches the first
//!   header) when the file has a BOM or is valid UTF-8 — or nearly: many more valid
//!   multi-byte characters than bad sequences, so one damaged byte is reported rather than
//!   turning the file into mojibake — and GB18030 (a superset of GBK) otherwise. Set
//!   `encoding` explicitly when a file is ambiguous.
//!
//! ## Bad rows and bad files: the `_error` convention
//!
//! Nothing in a file stops the import, and nothing is dropped silently: every row of a file
//! comes back as a record, readable or not. A row that cannot be read is returned as a record
//! whose `fields` hold the row's **raw cell text** under the field names plus a field
//! **`_error`** naming file, line and what is wrong, e.g.
//! `customers.csv line 17, column "credit_limit": "12,5x" is not a decimal` (XLSX says
//! `book.xlsx row 17`; several problems of one row are joined with `; `). The engine
//! dead-letters every record carrying `_error`, with the record as its payload. What makes a
//! row unreadable:
//!
//! - a cell that does not parse as its `types:` entry, an Excel error cell (`#N/A`), or an
//!   empty id;
//! - **bytes that do not decode** in the file's encoding: named per cell, the bytes shown as
//!   `\xNN` (UTF-8) or `U+FFFD` (GBK/GB18030), never silently replaced;
//! - a CSV row with **the wrong number of values**: fewer than the header's columns (up to its
//!   last named one: trailing unnamed columns may be left out), or a value past its last
//!   column (trailing empty values are fine). XLSX rows only have the second check;
//! - a CSV row with an **unterminated quote** (below).
//!
//! Its id is the id cell's text; `<file>:<line>` when that is empty or does not decode, and
//! always for a CSV row of the wrong width or with an unterminated quote (its cells may not
//! line up with the header, so the id cell may hold another column's value). Either way the
//! id depends only on the file's name and content, so reading the same broken file again
//! gives the same record and opens no second dead letter. A row whose cells could not be
//! taken apart also carries **`_raw`**, its text as read. Every record's `origin` is
//! `<file> line <n>` (`<file> row <n>` for XLSX), and the engine starts any dead letter's
//! error with it (`orders.csv line 17: flow …, field `email`: …`), validation failures
//! included. Once the file is fixed, a row whose dead letter is `<file>:<line>` arrives under
//! its own id; that dead letter has no record left to replay, so `ferry dlq skip` it.
//!
//! A file that cannot be used at all (not a workbook, no such sheet, no id column, a
//! `columns`/`types` entry naming a column the file lacks, a header with undecodable bytes or
//! an unterminated quote) is one record with id `<file>` and fields `_file` and `_error`, and
//! the next files are still read. An XLSX sheet that turns out damaged part-way is such a
//! record too (its rows read before the damage are kept). Once a file is fixed (new hash) it
//! is read again.
//!
//! ### Quotes, line breaks and resynchronisation (CSV)
//!
//! A value in quotes may hold delimiters, `""` for a quote, and line breaks: a quoted value
//! that opens on line L and closes on line K makes one record of lines L..K. A quote that is
//! never properly closed would otherwise swallow the rows after it, so a quote still open at
//! the end of line L is **unterminated** when:
//!
//! 1. no closing quote comes before the end of the file, or within the next 1,000 lines;
//! 2. the line K where it would close reads on its own as a well-formed row of the header's
//!    width: that quote opens a value of a row of its own (in a valid file the line closing a
//!    multi-line value never reads so, so valid files are unaffected); or
//! 3. closing it there would make a row of the wrong number of values.
//!
//! The broken row is then **line L alone** (its open value cut at the end of the line, its
//! `_raw` the line), and reading starts again at line L + 1; every following row is read as
//! it would be without the bad one. So `1,"Alice` followed by `2,Bob` is a broken row and the
//! row `2`, whether the bad line is first, in the middle or last in the file. The one case
//! left ambiguous: an unclosed quote that a later line closes with a *stray* quote
//! (`12" pizza`) at just the place that gives the header's width is read as one multi-line
//! row; the lines it swallowed are then inside one of its values (seen there, not dropped).
//! Lines in quoted values count as lines: `line` is where a row starts.
//!
//! `fetch(ids)` reads every matching file in (mtime, name) order and returns the last row
//! seen for each id (later files and later rows win); ids not found come back deleted.
//!
//! ## Writing
//!
//! - `file` is the output name template; its extension picks CSV or XLSX. `{date}` and
//!   `{timestamp}` are filled in (local time) for each batch.
//! - `columns` is required and fixes the column order: each item is a field name (also the
//!   header) or `{field: header}`. It must include the flow's business key field. A dotted name (`extra.wechat`) also reaches into nested
//!   objects. Missing and `null` fields are empty cells; arrays and objects (order `lines`) are
//!   written as JSON text.
//! - **CSV** appends each batch to the file: a new file appears whole (header and first batch
//!   written to `.<name>.part`, synced, renamed); later batches are appended with a single
//!   write and an fsync. Before appending, the file's header must equal ours (else the batch
//!   fails: fatal) and a torn last line left by a crash is cut off. Lines end in CRLF. A file
//!   sink does not update rows in place: a record written twice appears twice, and the last
//!   line of a key is its latest state — the same rule `fetch` applies when reading. With
//!   `encoding: gbk`, a record holding a character GBK cannot encode is refused (naming the
//!   field), the rest of the batch is written. `utf-8-bom` writes the BOM once, at the start.
//! - **XLSX** cannot be appended to safely, so each batch becomes its own workbook
//!   `<name>-<n>.xlsx` (`n` = 1 + the highest existing), written aside and renamed. Strings
//!   are written as text (decimal strings stay exact), JSON numbers as numbers, booleans as
//!   booleans. A record with a text longer than Excel's 32,767 characters is refused.
//! - `Written.target_id` is `<file name>#<key>`.
//!
//! `discover()` lists every `.csv`/`.xlsx` file of `dir` with its header columns (type
//! `text`); CSV delimiters are guessed among `,` `;` tab `|`; each sheet of a workbook with
//! several sheets is listed as `<file>#<sheet>`.

mod config;
mod connector;
mod csv;
mod decode;
mod discover;
mod probe;
mod rows;
mod sink;
mod source;
mod split;
mod xlsx;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{
    ColumnItem, ColumnType, Format, ReadEncoding, SourceOptions, SystemSettings, TargetOptions,
    WriteEncoding,
};
pub use connector::{FilesConnector, FilesFactory};
pub use source::Cursor;
