//! Which source fields a canonical field is computed from, read off a flow's `mapping:`.
//!
//! The server masks personal data by canonical field name (`server.mask: { email: email }`),
//! but a dead letter holds the source record as read, where the same value may sit under
//! another name (`email: { from: contact_email }`). [`source_fields`] says which source
//! fields feed a canonical field, so they can be masked too:
//!
//! - `from:` (and the shorthand `email: contact_email`) names the field;
//! - an `expr:` is compiled alone and VRL's own record of the paths it reads is used
//!   (`downcase(string!(.contact_email))` reads `contact_email`);
//! - in a `lines` rule's `fields:` the same, relative to each element;
//! - a `vrl:` program that assigns the field (or the whole record) is taken to feed it from
//!   every `%source` path it reads, and from the source fields of every mapped field it reads.
//!
//! When the reads cannot be told (an expression reading `.` whole or through `get`, a program
//! reading `%source` whole), the answer is [`Feeds::Whole`]: any source field may hold the
//! value.

use std::collections::BTreeSet;

use ferry_model::config::{FieldRule, MappingConfig};
use indexmap::IndexMap;
use vrl::compiler::ProgramInfo;
use vrl::path::{OwnedSegment, OwnedTargetPath, PathPrefix};

/// The source fields a canonical field is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feeds {
    /// These source paths, dotted as in `from:` (`contact_email`, `address.city`); empty for a
    /// constant or an unmapped field. Inside `lines`, relative to each element.
    Fields(BTreeSet<String>),
    /// Cannot be told: any field of the source record may hold the value.
    Whole,
}

impl Default for Feeds {
    fn default() -> Self {
        Feeds::Fields(BTreeSet::new())
    }
}

impl Feeds {
    fn add(&mut self, path: String) {
        if let Feeds::Fields(paths) = self {
            paths.insert(path);
        }
    }

    fn merge(&mut self, other: Feeds) {
        match other {
            Feeds::Whole => *self = Feeds::Whole,
            Feeds::Fields(paths) => paths.into_iter().for_each(|p| self.add(p)),
        }
    }
}

/// The source fields `canonical` is computed from in `mapping` (at the top, in `lines`, and by
/// the `vrl:` program).
pub fn source_fields(mapping: &MappingConfig, canonical: &str) -> Feeds {
    let mut feeds = rules_feeding(&mapping.fields, canonical);
    if let Some(program) = &mapping.vrl {
        feeds.merge(program_feeding(program, mapping, canonical));
    }
    feeds
}

/// What each top-level rule of `mapping` reads from the source record, by the rule's name, and
/// what the `vrl:` program reads of `%source`, under `vrl`: the source fields a flow needs
/// (`ferry check --live` compares them with what the source's records carry). A `lines`
/// rule's `fields:` read each element, not the record, so they are not listed.
pub fn reads(mapping: &MappingConfig) -> Vec<(String, Feeds)> {
    let mut out: Vec<(String, Feeds)> = mapping
        .fields
        .iter()
        .map(|(name, rule)| (name.clone(), rule_reads(rule)))
        .collect();
    if let Some(program) = &mapping.vrl {
        out.push(("vrl".to_owned(), program_source_reads(program)));
    }
    out
}

/// The `%source` paths a `vrl:` program reads.
fn program_source_reads(program: &str) -> Feeds {
    let Some(info) = info(program) else {
        return Feeds::Whole;
    };
    let mut feeds = Feeds::default();
    for query in &info.target_queries {
        let first = match query.path.segments.first() {
            Some(OwnedSegment::Field(f)) => Some(f.as_str()),
            _ => None,
        };
        if query.prefix == PathPrefix::Metadata && first == Some("source") {
            match source_path(query) {
                Some(path) => feeds.add(path),
                None => return Feeds::Whole,
            }
        }
    }
    feeds
}

/// What the rules named `canonical` read, in `rules` and in every `fields:` below them (a
/// line's `phone` is masked like a top-level one).
fn rules_feeding(rules: &IndexMap<String, FieldRule>, canonical: &str) -> Feeds {
    let mut feeds = Feeds::default();
    for (name, rule) in rules {
        if name == canonical {
            feeds.merge(rule_reads(rule));
        }
        if let Some(fields) = &rule.fields {
            feeds.merge(rules_feeding(fields, canonical));
        }
    }
    feeds
}

/// What one rule reads: its `from`, and the record paths its `expr` queries.
fn rule_reads(rule: &FieldRule) -> Feeds {
    let mut feeds = Feeds::default();
    if let Some(from) = &rule.from {
        feeds.add(from.clone());
    }
    if let Some(expr) = &rule.expr {
        let Some(info) = info(expr) else {
            return Feeds::Whole;
        };
        for query in &info.target_queries {
            match (&query.prefix, dotted(query)) {
                (PathPrefix::Event, Some(path)) => feeds.add(path),
                // `.` whole, `get(.)`, or a path we cannot spell.
                (PathPrefix::Event, None) => return Feeds::Whole,
                // Expressions see no metadata.
                (PathPrefix::Metadata, _) => {}
            }
        }
    }
    feeds
}

/// What the `vrl:` program feeds `canonical` from, if it assigns it (or the whole record):
/// every `%source` path it reads, and the sources of the mapped fields it reads.
fn program_feeding(program: &str, mapping: &MappingConfig, canonical: &str) -> Feeds {
    let Some(info) = info(program) else {
        return Feeds::Whole;
    };
    let assigns = info.target_assignments.iter().any(|path| {
        path.prefix == PathPrefix::Event
            && (path.path.segments.is_empty()
                || path
                    .path
                    .segments
                    .iter()
                    .any(|s| matches!(s, OwnedSegment::Field(f) if f.as_str() == canonical)))
    });
    if !assigns {
        return Feeds::default();
    }
    let mut feeds = Feeds::default();
    for query in &info.target_queries {
        let first = match query.path.segments.first() {
            Some(OwnedSegment::Field(f)) => Some(f.as_str()),
            _ => None,
        };
        match (&query.prefix, first) {
            (PathPrefix::Metadata, Some("source")) => match source_path(query) {
                Some(path) => feeds.add(path),
                None => return Feeds::Whole,
            },
            // `%id` and other metadata carry no source field.
            (PathPrefix::Metadata, _) => {}
            // A mapped field read: its own sources feed the value too.
            (PathPrefix::Event, Some(field)) => feeds.merge(rules_feeding(&mapping.fields, field)),
            // The whole mapped record read: every rule's sources.
            (PathPrefix::Event, None) => {
                for rule in mapping.fields.values() {
                    feeds.merge(rule_reads(rule));
                }
            }
        }
    }
    feeds
}

/// VRL's record of what a program reads and writes; `None` when it does not compile (the
/// config check reports that).
fn info(source: &str) -> Option<ProgramInfo> {
    let functions = crate::script::functions();
    vrl::compiler::compile(source, &functions)
        .ok()
        .map(|compiled| compiled.program.info().clone())
}

/// A query's path as `a.b.c` (indexes dropped: masking goes by field name); `None` for the
/// root.
fn dotted(query: &OwnedTargetPath) -> Option<String> {
    join(&query.path.segments)
}

/// A `%source.a.b` query's path in the source record (`a.b`); `None` for `%source` whole.
fn source_path(query: &OwnedTargetPath) -> Option<String> {
    join(query.path.segments.get(1..).unwrap_or_default())
}

fn join(segments: &[OwnedSegment]) -> Option<String> {
    let names: Vec<&str> = segments
        .iter()
        .filter_map(|s| match s {
            OwnedSegment::Field(f) => Some(f.as_str()),
            OwnedSegment::Index(_) => None,
        })
        .collect();
    (!names.is_empty()).then(|| names.join("."))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ferry_model::config::load_str;

    use super::*;

    /// The mapping of a customer flow written as `mapping` (unindented YAML).
    fn mapping(yaml: &str) -> MappingConfig {
        mapping_of("customer", yaml)
    }

    /// The mapping of a flow of `entity` written as `mapping` (unindented YAML).
    fn mapping_of(entity: &str, yaml: &str) -> MappingConfig {
        let indented: String = yaml.lines().map(|l| format!("      {l}\n")).collect();
        let text = format!(
            "systems:\n  crm: {{ kind: sql, url: \"sqlite://crm.db\" }}\n  \
             erp: {{ kind: sql, url: \"sqlite://erp.db\" }}\nflows:\n  f:\n    \
             entity: {entity}\n    source: {{ system: crm, table: a }}\n    \
             target: {{ system: erp, table: b }}\n    mapping:\n{indented}"
        );
        let loaded = load_str(Path::new("ferry.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
        loaded.config.flows["f"].mapping.clone()
    }

    fn fields(paths: &[&str]) -> Feeds {
        Feeds::Fields(paths.iter().map(|p| (*p).to_owned()).collect())
    }

    #[test]
    fn from_and_its_shorthand_name_the_source_field() {
        let m = mapping(
            "code: customer_no\nemail: contact_email\nphone: { from: contact.mobile, case: trim }",
        );
        assert_eq!(source_fields(&m, "email"), fields(&["contact_email"]));
        assert_eq!(source_fields(&m, "phone"), fields(&["contact.mobile"]));
        assert_eq!(source_fields(&m, "tax_id"), fields(&[]));
    }

    #[test]
    fn expressions_feed_from_the_paths_they_read() {
        let m = mapping(
            "code: customer_no\n\
             email: { expr: 'downcase(string(.contact_email) ?? string!(.backup.mail))' }\n\
             name: { expr: 'string!(.first) + \" \" + string!(.last)' }\n\
             phone: { expr: 'encode_json(.)' }\n\
             tax_id: { expr: 'get!(., [\"vat\"])' }",
        );
        assert_eq!(
            source_fields(&m, "email"),
            fields(&["backup.mail", "contact_email"])
        );
        assert_eq!(source_fields(&m, "name"), fields(&["first", "last"]));
        // Reading the record whole, or by a path built at run time: cannot be told.
        assert_eq!(source_fields(&m, "phone"), Feeds::Whole);
        assert_eq!(source_fields(&m, "tax_id"), Feeds::Whole);
    }

    #[test]
    fn reads_lists_each_top_level_rule_and_the_program_s_source_paths() {
        let m = mapping_of(
            "sales_order",
            "number: order_no\n\
             status: { value: open }\n\
             total: { expr: 'to_float!(.net) + to_float!(.tax)' }\n\
             lines: { from: items, fields: { sku: product } }\n\
             vrl: '.currency = %source.memo'",
        );
        assert_eq!(
            reads(&m),
            vec![
                ("number".to_owned(), fields(&["order_no"])),
                ("status".to_owned(), fields(&[])),
                ("total".to_owned(), fields(&["net", "tax"])),
                ("lines".to_owned(), fields(&["items"])),
                ("vrl".to_owned(), fields(&["memo"])),
            ]
        );
    }

    #[test]
    fn line_fields_count_like_top_level_ones() {
        let m = mapping_of(
            "sales_order",
            "number: order_no\n\
             lines: { from: items, fields: { description: { from: text }, sku: product } }",
        );
        assert_eq!(source_fields(&m, "description"), fields(&["text"]));
        assert_eq!(source_fields(&m, "lines"), fields(&["items"]));
    }

    #[test]
    fn a_vrl_program_feeds_the_fields_it_assigns() {
        let m = mapping(
            "code: customer_no\nname: name\nwebsite: alt_mail\n\
             vrl: |\n  .email = string(%source.contact_email) ?? string!(.website)\n  \
             .notes = %id",
        );
        assert_eq!(
            source_fields(&m, "email"),
            fields(&["alt_mail", "contact_email"])
        );
        // Not assigned by the program: nothing from it.
        assert_eq!(source_fields(&m, "name"), fields(&["name"]));
        let whole = mapping("code: customer_no\nvrl: '. = merge(., %source)'");
        assert_eq!(source_fields(&whole, "email"), Feeds::Whole);
    }
}
