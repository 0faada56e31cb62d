//! The VRL side: compiling expressions and `vrl:` programs, running them with a reused
//! runtime, and converting between `serde_json` and VRL values.
//!
//! All `expr:` rules of one rule set are compiled into **one** program that evaluates to an
//! array (one element per expression), so a record pays for one VRL run however many fields
//! use expressions. Each expression sits in its own block; its byte range in the combined
//! source lets a runtime error be blamed on the right field.

use std::cell::RefCell;

use serde_json::{Map, Number, Value as Json};
use vrl::compiler::runtime::Runtime;
use vrl::compiler::{Function, Program, TargetValue, TimeZone};
use vrl::diagnostic::{DiagnosticMessage, Formatter};
use vrl::value::{KeyString, ObjectMap, Secrets, Value};

thread_local! {
    // A VRL runtime only holds the program's local variables; one per thread, cleared after
    // every run, saves an allocation per record and keeps `CompiledMapping` Sync.
    static RUNTIME: RefCell<Runtime> = RefCell::new(Runtime::default());
}

/// The VRL standard library (network, env and system functions are not compiled in).
pub(crate) fn functions() -> Vec<Box<dyn Function>> {
    vrl::stdlib::all()
}

/// How many lines of VRL's formatted diagnostic go into a config issue.
const DIAGNOSTIC_LINES: usize = 12;

/// Compiles a VRL program; on failure returns VRL's own formatted diagnostic (first lines).
pub(crate) fn compile(source: &str, fns: &[Box<dyn Function>]) -> Result<Program, String> {
    match vrl::compiler::compile(source, fns) {
        Ok(result) => Ok(result.program),
        Err(diagnostics) => {
            let text = Formatter::new(source, diagnostics).to_string();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(DIAGNOSTIC_LINES)
                .collect();
            Err(format!("VRL does not compile:\n{}", lines.join("\n")))
        }
    }
}

/// Where one expression sits in a combined program.
#[derive(Debug)]
pub(crate) struct ExprSpan {
    pub start: usize,
    pub end: usize,
}

/// Several expressions compiled as one program evaluating to an array.
#[derive(Debug)]
pub(crate) struct ExprProgram {
    program: Program,
    spans: Vec<ExprSpan>,
}

/// The combined source of several expressions: `[ { e0 }, { e1 }, … ]`, with where each one is.
pub(crate) fn combine(exprs: &[&str]) -> (String, Vec<ExprSpan>) {
    let mut source = String::from("[\n");
    let mut spans = Vec::with_capacity(exprs.len());
    for expr in exprs {
        source.push_str("{\n");
        let start = source.len();
        source.push_str(expr);
        spans.push(ExprSpan {
            start,
            end: source.len(),
        });
        source.push_str("\n},\n");
    }
    source.push(']');
    (source, spans)
}

impl ExprProgram {
    pub(crate) fn new(program: Program, spans: Vec<ExprSpan>) -> Self {
        Self { program, spans }
    }

    /// Runs the program with `.` = `input`; returns one JSON value per expression, or the
    /// index of the failing expression (when known) and VRL's message.
    pub(crate) fn run(
        &self,
        input: &Map<String, Json>,
        tz: &TimeZone,
    ) -> Result<Vec<Json>, (Option<usize>, String)> {
        let mut target = TargetValue {
            value: Value::Object(object_to_vrl(input)),
            metadata: Value::Object(ObjectMap::new()),
            secrets: Secrets::default(),
        };
        let result = RUNTIME.with_borrow_mut(|rt| {
            let r = rt.resolve(&mut target, &self.program, tz);
            rt.clear();
            r
        });
        match result {
            Ok(Value::Array(items)) => Ok(items.into_iter().map(to_json).collect()),
            Ok(other) => Err((
                None,
                format!(
                    "expressions returned {} instead of an array",
                    to_json(other)
                ),
            )),
            Err(err) => {
                let err = err.get_expression_error();
                let at = err
                    .labels()
                    .iter()
                    .find(|l| l.primary)
                    .or(err.labels().first())
                    .map(|l| l.span.start());
                let index = at.and_then(|pos| {
                    self.spans
                        .iter()
                        .position(|s| s.start <= pos && pos <= s.end)
                });
                Err((index, err.to_string()))
            }
        }
    }
}

/// Runs a `vrl:` program with `.` = `mapped`, `%source` = the source fields and `%id` = the
/// record id. Returns the final `.`, which must be an object.
pub(crate) fn run_program(
    program: &Program,
    mapped: &Map<String, Json>,
    source: &Map<String, Json>,
    id: &str,
    tz: &TimeZone,
) -> Result<Map<String, Json>, String> {
    let mut metadata = ObjectMap::new();
    metadata.insert(
        KeyString::from("source"),
        Value::Object(object_to_vrl(source)),
    );
    metadata.insert(KeyString::from("id"), Value::from(id));
    let mut target = TargetValue {
        value: Value::Object(object_to_vrl(mapped)),
        metadata: Value::Object(metadata),
        secrets: Secrets::default(),
    };
    let result = RUNTIME.with_borrow_mut(|rt| {
        let r = rt.resolve(&mut target, program, tz);
        rt.clear();
        r
    });
    result.map_err(|e| e.to_string())?;
    match to_json(target.value) {
        Json::Object(map) => Ok(map),
        other => Err(format!(
            "the `vrl:` program must leave `.` an object, not {}",
            crate::values::show(&other)
        )),
    }
}

/// serde_json → VRL. Integers stay integers; other numbers become floats (VRL has no decimal,
/// which is why money should reach expressions as strings).
pub(crate) fn to_vrl(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::from_f64_or_zero(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::Array(items.iter().map(to_vrl).collect()),
        Json::Object(map) => Value::Object(object_to_vrl(map)),
    }
}

fn object_to_vrl(map: &Map<String, Json>) -> ObjectMap {
    map.iter()
        .map(|(k, v)| (KeyString::from(k.as_str()), to_vrl(v)))
        .collect()
}

/// VRL → serde_json. Timestamps become RFC 3339 in UTC; floats stay JSON numbers (the type
/// normalisation reads them through their shortest text, so `0.1` stays `0.1`).
pub(crate) fn to_json(value: Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::Integer(i) => Json::Number(i.into()),
        Value::Float(f) => Number::from_f64(f.into_inner()).map_or(Json::Null, Json::Number),
        Value::Timestamp(t) => Json::String(crate::values::format_instant(t)),
        Value::Array(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Value::Object(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| (String::from(k), to_json(v)))
                .collect(),
        ),
        other @ (Value::Bytes(_) | Value::String(_) | Value::Regex(_)) => Json::String(
            other
                .to_str_lossy()
                .map(|s| s.into_owned())
                .unwrap_or_else(|| other.to_string()),
        ),
    }
}
