//! Deserializing `ferry.yaml` so that a problem is reported once, at its own key, in words.
//!
//! serde-saphyr knows where the parser was when serde gave up, which is not always where the
//! problem is (a missing `entity:` is noticed at the end of the flow, on the next flow's
//! line). serde_path_to_error knows the key path; [`Positions`] knows where each key is
//! written. Together they put the message at the right line.

use serde::Deserialize;
use serde_path_to_error::Segment;
use serde_saphyr::Error as YamlError;

use super::positions::{Position, Positions, Written};
use super::words;

/// A file serde could not read into the type: where, at which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misread {
    pub path: Vec<String>,
    pub at: Option<Position>,
    pub message: String,
}

/// Deserializes `text` into `T`, explaining the first problem found.
pub(crate) fn read<T>(text: &str, positions: &Positions) -> Result<T, Misread>
where
    T: for<'de> Deserialize<'de>,
{
    let mut segments: Vec<Segment> = Vec::new();
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            segments = e.path().iter().cloned().collect();
            e.into_inner()
        })
    })
    .map_err(|e| explain(e.without_snippet(), &segments, positions))
}

fn explain(err: &YamlError, segments: &[Segment], positions: &Positions) -> Misread {
    let path = key_path(segments);
    let reported = err.location().and_then(|l| {
        (l.line() > 0).then_some(Position {
            line: l.line() as usize,
            column: l.column() as usize,
        })
    });
    if let Some(variant) = variant_written_bare(segments, positions) {
        let enum_path = path[..path.len().saturating_sub(1)].to_vec();
        return Misread {
            at: positions.value(&enum_path),
            path: enum_path,
            message: format!("`{variant}` needs a value: write `{{ {variant}: … }}`"),
        };
    }
    let value_at = || positions.value(&path).or(reported);
    match err {
        YamlError::SerdeMissingField { field, .. } => Misread {
            at: positions.nearest_key(&path),
            message: format!("missing `{field}:`"),
            path,
        },
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let mut at_key = path.clone();
            if at_key.last() != Some(field) {
                at_key.push(field.clone());
            }
            Misread {
                at: positions.key(&at_key).or(reported),
                message: words::unknown_key(field, expected),
                path: at_key,
            }
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => Misread {
            at: value_at(),
            message: words::unknown_value(variant, expected),
            path,
        },
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => Misread {
            at: value_at(),
            message: words::expected_found(expected, unexpected),
            path,
        },
        YamlError::InvalidScalar { ty, .. } => Misread {
            at: value_at(),
            message: words::expected_found(ty, &found(positions, &path)),
            path,
        },
        YamlError::Unexpected { expected, .. } => Misread {
            at: value_at(),
            message: words::expected_found(expected, &found(positions, &path)),
            path,
        },
        YamlError::DuplicateMappingKey { key, .. } => Misread {
            at: reported,
            message: match key {
                Some(key) => format!("`{key}` is written twice in the same map"),
                None => "a key is written twice in the same map".to_owned(),
            },
            path,
        },
        // Syntax errors and our own deserializers' messages: the parser knows where it was.
        other => Misread {
            at: reported.or_else(|| positions.nearest_key(&path)),
            message: words::humanize(&strip_location(&other.to_string())),
            path,
        },
    }
}

/// The dotted path serde was at. Enum variants are kept: `trigger.poll` is a key in YAML too.
fn key_path(segments: &[Segment]) -> Vec<String> {
    segments
        .iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect()
}

/// A variant that takes a value written as a bare word (`trigger: poll` for
/// `trigger: { poll: 30s }`): the parser then reads the *next* key as its value, so its own
/// message would blame the wrong line.
fn variant_written_bare<'a>(segments: &'a [Segment], positions: &Positions) -> Option<&'a str> {
    let Some(Segment::Enum { variant }) = segments.last() else {
        return None;
    };
    let path = key_path(segments);
    let enum_path = &path[..path.len() - 1];
    (positions.scalar(enum_path) == Some(variant.as_str())).then_some(variant.as_str())
}

/// What is written at `path`, for "found …".
fn found(positions: &Positions, path: &[String]) -> String {
    match positions.written(path) {
        Some(Written::Scalar(text)) if text.is_empty() => "nothing".to_owned(),
        Some(Written::Scalar(text)) => format!("`{text}`"),
        Some(Written::Map) => "a map".to_owned(),
        Some(Written::List) => "a list".to_owned(),
        Some(Written::Alias) => "an alias".to_owned(),
        None => "nothing".to_owned(),
    }
}

/// serde-saphyr frames some messages with `line N column M: ` or ` at line N, column M`; the
/// location is reported separately.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = match first.strip_prefix("line ") {
        Some(rest) => rest
            .split_once(": ")
            .filter(|(at, _)| at.contains("column"))
            .map_or(first, |(_, msg)| msg),
        None => first,
    };
    match first.rsplit_once(" at line ") {
        Some((msg, at)) if at.contains("column") => msg.to_owned(),
        _ => first.to_owned(),
    }
}
