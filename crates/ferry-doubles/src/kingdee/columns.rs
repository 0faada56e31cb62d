//! What a field key of a query names (a header field, an entry field, an entry's id or
//! sequence, a part of a referenced record), and reading it from a record and one of its
//! entry lines.

use std::cmp::Ordering;

use chrono::{FixedOffset, NaiveDateTime};
use serde_json::{Map, Value};

use super::answer::KdError;
use super::catalog;
use super::dates;
use super::forms::{self, ENTRY_ID, Field, Form, Kind, Target};
use crate::store::{Record, RecordStore};

/// A field key resolved against a form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// The primary key (`FID`, `FCUSTID`): the record id.
    Pk,
    /// `<EntryKey>_FEntryId`.
    EntryId,
    /// `<EntryKey>_FSeq`: the line's 1-based position.
    EntrySeq,
    /// A field's own value (for a reference: the referenced record's id).
    Value {
        field: &'static Field,
        in_entry: bool,
    },
    /// `FCustId.FNumber`, `FCustId.FName`, `FMaterialId.FSpecification`.
    RefPart {
        field: &'static Field,
        in_entry: bool,
        part: Part,
    },
}

/// The part of a referenced record a dotted key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Number,
    Name,
    /// Another header field of the referenced form.
    Field(&'static Field),
}

impl Column {
    /// Whether reading the column needs an entry line (rows then expand per line).
    pub fn in_entry(&self) -> bool {
        match self {
            Self::Pk => false,
            Self::EntryId | Self::EntrySeq => true,
            Self::Value { in_entry, .. } | Self::RefPart { in_entry, .. } => *in_entry,
        }
    }
}

/// The column `key` names on `form`; keys compare without case.
pub fn resolve(form: &Form, key: &str) -> Result<Column, KdError> {
    let unknown = || KdError::UnknownField(key.to_owned());
    let key = key.trim();
    if key.eq_ignore_ascii_case(form.pk) {
        return Ok(Column::Pk);
    }
    if let Some(entry) = form.entry
        && let Some(rest) = strip_prefix_ci(key, entry.key).and_then(|r| r.strip_prefix('_'))
    {
        if rest.eq_ignore_ascii_case("FEntryId") {
            return Ok(Column::EntryId);
        }
        if rest.eq_ignore_ascii_case("FSeq") {
            return Ok(Column::EntrySeq);
        }
    }
    if let Some((base, part)) = key.split_once('.') {
        let (field, in_entry) = field_of(form, base).ok_or_else(unknown)?;
        let Kind::Ref(target) = field.kind else {
            return Err(unknown());
        };
        let part = ref_part(target, part).ok_or_else(unknown)?;
        return Ok(Column::RefPart {
            field,
            in_entry,
            part,
        });
    }
    let (field, in_entry) = field_of(form, key).ok_or_else(unknown)?;
    Ok(Column::Value { field, in_entry })
}

fn strip_prefix_ci<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let head = key.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &key[prefix.len()..])
}

fn field_of(form: &Form, key: &str) -> Option<(&'static Field, bool)> {
    form.header_field(key)
        .map(|f| (f, false))
        .or_else(|| form.entry_field(key).map(|f| (f, true)))
}

fn ref_part(target: Target, part: &str) -> Option<Part> {
    if part.eq_ignore_ascii_case("FNumber") {
        return Some(Part::Number);
    }
    if part.eq_ignore_ascii_case("FName") {
        return Some(Part::Name);
    }
    match target {
        Target::Form(id) => forms::form(id)?.header_field(part).map(Part::Field),
        Target::Fixed(_) => None,
    }
}

/// One value read from a record, typed for comparing and for answering.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Num(f64),
    Text(String),
    Bool(bool),
    Date(NaiveDateTime),
}

impl Cell {
    /// The value as a query answers it: ids as integers, quantities as floats, dates as
    /// `yyyy-MM-ddTHH:mm:ss.fff`.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Int(i) => (*i).into(),
            Self::Num(n) => Value::from(*n),
            Self::Text(t) => t.clone().into(),
            Self::Bool(b) => (*b).into(),
            Self::Date(d) => dates::answer(*d).into(),
        }
    }

    /// The order of two values of one column: empty first, numbers by value, text without
    /// case (SQL Server's default collation), dates by time.
    pub fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Null, Self::Null) => Ordering::Equal,
            (Self::Null, _) => Ordering::Less,
            (_, Self::Null) => Ordering::Greater,
            (Self::Text(a), Self::Text(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
            (Self::Date(a), Self::Date(b)) => a.cmp(b),
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            _ => match (self.number(), other.number()) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                _ => Ordering::Equal,
            },
        }
    }

    pub fn number(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Num(n) => Some(*n),
            Self::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }
}

/// Reads columns from records of the store, resolving references against it.
#[derive(Clone, Copy)]
pub struct Reader<'s> {
    pub store: &'s RecordStore,
    pub zone: FixedOffset,
}

/// One row of a query: a record, and one of its entry lines when rows expand per line.
#[derive(Clone, Copy, Debug)]
pub struct Row<'r> {
    pub record: &'r Record,
    /// The line and its 0-based position.
    pub line: Option<(usize, &'r Map<String, Value>)>,
}

impl Reader<'_> {
    /// The value of `column` on `row`.
    pub fn cell(&self, column: Column, row: Row<'_>) -> Cell {
        match column {
            Column::Pk => Cell::Int(id_int(row.record.id)),
            Column::EntryId => Cell::Int(row.line.map_or(0, |(_, l)| int_of(l.get(ENTRY_ID)))),
            Column::EntrySeq => Cell::Int(row.line.map_or(0, |(i, _)| i as i64 + 1)),
            Column::Value { field, in_entry } => {
                let source = self.source(row, in_entry);
                self.value(field, source, row.record)
            }
            Column::RefPart {
                field,
                in_entry,
                part,
            } => {
                let number = reference_number(self.source(row, in_entry), field.key);
                self.ref_part(field, number, part)
            }
        }
    }

    fn source<'r>(&self, row: Row<'r>, in_entry: bool) -> Option<&'r Map<String, Value>> {
        if in_entry {
            row.line.map(|(_, l)| l)
        } else {
            Some(&row.record.fields)
        }
    }

    /// A field's own value in `source` (the header or a line of `record`).
    pub fn value(
        &self,
        field: &Field,
        source: Option<&Map<String, Value>>,
        record: &Record,
    ) -> Cell {
        let raw = source.and_then(|s| s.get(field.key));
        match field.kind {
            Kind::Text => Cell::Text(raw.map(text_of).unwrap_or_default()),
            Kind::Decimal => Cell::Num(raw.and_then(number_of).unwrap_or(0.0)),
            Kind::Int => Cell::Int(int_of(raw)),
            Kind::Bool => Cell::Bool(raw.is_some_and(bool_of)),
            Kind::Date => raw
                .and_then(Value::as_str)
                .and_then(dates::parse)
                .map_or(Cell::Null, Cell::Date),
            Kind::Created => Cell::Date(dates::local(record.created_at, self.zone)),
            Kind::Modified => Cell::Date(dates::local(record.updated_at, self.zone)),
            Kind::Ref(target) => {
                let number = reference_number(source, field.key);
                Cell::Int(number.map_or(0, |n| self.reference_id(target, n)))
            }
        }
    }

    fn ref_part(&self, field: &Field, number: Option<&str>, part: Part) -> Cell {
        let Kind::Ref(target) = field.kind else {
            return Cell::Null;
        };
        let Some(number) = number.filter(|n| !n.is_empty()) else {
            return match part {
                Part::Field(f) => self.value(f, None, &empty_record()),
                _ => Cell::Text(String::new()),
            };
        };
        if number.trim().is_empty() {
            // A blank reference the server answers as one space (see the README).
            return Cell::Text(" ".into());
        }
        match (part, target) {
            (Part::Number, _) => Cell::Text(number.to_owned()),
            (Part::Name, Target::Fixed(items)) => Cell::Text(
                catalog::by_number(items, number)
                    .map_or("", |i| i.name)
                    .to_owned(),
            ),
            (Part::Name, Target::Form(form)) => self.referenced_value(form, number, "FName"),
            (Part::Field(f), Target::Form(form)) => self.referenced_value(form, number, f.key),
            (Part::Field(_), Target::Fixed(_)) => Cell::Null,
        }
    }

    fn referenced_value(&self, form_id: &str, number: &str, key: &str) -> Cell {
        let Some(form) = forms::form(form_id) else {
            return Cell::Null;
        };
        let Some(field) = form.header_field(key) else {
            return Cell::Null;
        };
        match self.store.find_by_key(form.id, number) {
            Ok(Some(record)) => self.value(field, Some(&record.fields), &record),
            _ => self.value(field, None, &empty_record()),
        }
    }

    /// The internal id of the record `number` names (0 when there is none).
    pub fn reference_id(&self, target: Target, number: &str) -> i64 {
        match target {
            Target::Fixed(items) => catalog::by_number(items, number).map_or(0, |i| id_int(i.id)),
            Target::Form(form) => match self.store.find_by_key(form, number) {
                Ok(Some(record)) => id_int(record.id),
                _ => 0,
            },
        }
    }
}

/// The number a stored reference (`{"FNumber": "C001"}`) holds.
pub fn reference_number<'m>(source: Option<&'m Map<String, Value>>, key: &str) -> Option<&'m str> {
    match source?.get(key)? {
        Value::Object(r) => r.get("FNumber").and_then(Value::as_str),
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn empty_record() -> Record {
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    Record {
        id: 0,
        created_at: epoch,
        updated_at: epoch,
        fields: Map::new(),
    }
}

fn id_int(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A number stored as a JSON number or a numeric string.
pub fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn int_of(v: Option<&Value>) -> i64 {
    v.and_then(number_of).map_or(0, |f| f as i64)
}

fn bool_of(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true") || s == "1",
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}
