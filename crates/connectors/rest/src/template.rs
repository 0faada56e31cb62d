//! Templates of paths and bodies (minijinja), compiled when the settings are read so that a
//! typo fails `ferry check`, and rendered with bounded work (fuel) so that a template cannot
//! hang a flow.
//!
//! Every value a path template prints is percent-encoded (a key `A/B 1` becomes
//! `A%2FB%201`), so a record cannot change which endpoint is called. A JSON body template
//! prints values as JSON (`{{ record.name }}` → `"Ada"`, `{{ record }}` → the object); an XML
//! body template escapes what it prints.

use std::fmt::Write as _;
use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, Value};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Steps of template work allowed per render.
const FUEL: u64 = 50_000;

/// What a template produces, which decides how printed values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// A URL path: values percent-encoded.
    Path,
    /// A JSON body: values printed as JSON.
    Json,
    /// An XML body: values XML-escaped.
    Xml,
}

/// A compiled-and-checked template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    escape: Escape,
}

impl Template {
    /// Checks `source`'s syntax. The error says what is wrong and where.
    pub fn compile(source: &str, escape: Escape) -> Result<Self, String> {
        env(escape)
            .template_from_str(source)
            .map_err(|e| describe(&e))?;
        Ok(Self {
            source: source.to_owned(),
            escape,
        })
    }

    /// Renders with `context` (a map of variables).
    pub fn render(&self, context: &Value) -> Result<String, String> {
        env(self.escape)
            .render_str(&self.source, context)
            .map_err(|e| describe(&e))
    }
}

/// One environment per escape, made once.
fn env(escape: Escape) -> &'static Environment<'static> {
    static ENVS: [OnceLock<Environment<'static>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match escape {
        Escape::Path => 0,
        Escape::Json => 1,
        Escape::Xml => 2,
    };
    ENVS[slot].get_or_init(|| {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        match escape {
            Escape::Path => env.set_formatter(|out, _, value| {
                let text = if value.is_undefined() || value.is_none() {
                    String::new()
                } else {
                    value.to_string()
                };
                write!(out, "{}", utf8_percent_encode(&text, SEGMENT)).map_err(|_| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed")
                })
            }),
            Escape::Json => env.set_auto_escape_callback(|_| AutoEscape::Json),
            Escape::Xml => env.set_auto_escape_callback(|_| AutoEscape::Html),
        }
        env
    })
}

fn describe(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    if let Some(detail) = e.detail() {
        let _ = write!(text, " ({detail})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn paths_encode_what_they_print_and_bodies_escape_for_their_format() {
        let path = Template::compile("/api/customers/by-key/{{ key }}", Escape::Path).unwrap();
        assert_eq!(
            path.render(&context! { key => "A/B 1?x" }).unwrap(),
            "/api/customers/by-key/A%2FB%201%3Fx"
        );
        let json = Template::compile(
            r#"{"customer": {{ record }}, "n": {{ record.name }}}"#,
            Escape::Json,
        )
        .unwrap();
        let record = serde_json::json!({"name": "A \"B\"", "qty": 2});
        let body = json
            .render(&context! { record => Value::from(minijinja::value::Serde(&record)) })
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["customer"], record);
        assert_eq!(parsed["n"], "A \"B\"");
        let xml = Template::compile("<name>{{ record.name }}</name>", Escape::Xml).unwrap();
        assert_eq!(
            xml.render(&context! { record => Value::from(minijinja::value::Serde(&record)) })
                .unwrap(),
            "<name>A &quot;B&quot;</name>"
        );
    }

    #[test]
    fn a_syntax_error_or_a_runaway_loop_is_an_error_not_a_hang() {
        assert!(Template::compile("/x/{{ id ", Escape::Path).is_err());
        let forever = Template::compile(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            Escape::Json,
        )
        .unwrap();
        assert!(forever.render(&context! {}).is_err());
    }
}
