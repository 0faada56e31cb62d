//! What `ferry check --live` learns from a connector about one end of a flow.
//!
//! [`Source::probe`](crate::Source::probe) and [`Sink::probe`](crate::Sink::probe) look at
//! the live system without changing anything in it (no write, no cursor, no file moved) and
//! say what the configuration names that the system does not have: a table, a column, a
//! model's field, a folder. The engine puts each [`ProbeIssue`] at its place in the config
//! file, so the operator sees `ferry.yaml:14:5: flows.customers.source.table: …`.

use ferry_model::ConnectorError;
use ferry_model::config::words;

/// What a probe found about one end of a flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// The problems, each pointing at the option or the mapped field it is about.
    pub issues: Vec<ProbeIssue>,
    /// The top-level fields the source's records carry, when the connector can tell (the
    /// columns a SQL source selects, a Tryton source's `fields`, a CSV file's header): the
    /// engine checks the fields the flow's mapping reads against them. `None`: cannot tell,
    /// nothing is checked.
    pub fields: Option<KnownFields>,
}

/// The fields a source's records carry, and where they were seen (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFields {
    /// The top-level field names.
    pub names: Vec<String>,
    /// Where they come from, as a phrase: "the columns of table `customers`".
    pub origin: String,
}

/// One problem a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeIssue {
    /// Where in the config it points.
    pub at: ProbeAt,
    /// What is wrong, in a sentence, without secrets.
    pub message: String,
}

/// Where a [`ProbeIssue`] points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAt {
    /// A key path inside the endpoint's options (`["table"]`, `["watermark", "column"]`);
    /// empty for the endpoint itself.
    Option(Vec<String>),
    /// The mapping rule that makes this canonical field (a sink has no column for it).
    Mapped(String),
}

impl Probe {
    /// A problem at a key path of the endpoint's options.
    pub fn option(&mut self, path: &[&str], message: impl Into<String>) {
        self.issues.push(ProbeIssue {
            at: ProbeAt::Option(path.iter().map(|s| (*s).to_owned()).collect()),
            message: message.into(),
        });
    }

    /// A problem with the canonical field `field` the flow's mapping makes.
    pub fn mapped(&mut self, field: &str, message: impl Into<String>) {
        self.issues.push(ProbeIssue {
            at: ProbeAt::Mapped(field.to_owned()),
            message: message.into(),
        });
    }

    /// The probe could not look (the object cannot be read at all): one problem at the
    /// endpoint, with the connector's (secret-free) message.
    pub fn failed(error: &ConnectorError) -> Self {
        let mut probe = Probe::default();
        probe.option(&[], error.message());
        probe
    }

    /// Records the fields the source's records carry (see [`Probe::fields`]).
    pub fn carries(&mut self, names: Vec<String>, origin: impl Into<String>) {
        self.fields = Some(KnownFields {
            names,
            origin: origin.into(),
        });
    }

    /// Whether nothing was found wrong.
    pub fn is_ok(&self) -> bool {
        self.issues.is_empty()
    }
}

/// ` (did you mean `x`?)` when one of `candidates` is close to `name` (a typo, another case),
/// else the empty string: appended to "no column `nmae`" messages. The rule for "close" is
/// the one every config message uses ([`words::did_you_mean`]).
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    words::did_you_mean(name, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_gets_a_suggestion_and_a_stranger_none() {
        let columns = ["id", "customer_name", "email", "updated_at"];
        assert_eq!(
            did_you_mean("custmer_name", columns),
            " (did you mean `customer_name`?)"
        );
        assert_eq!(did_you_mean("EMAIL", columns), " (did you mean `email`?)");
        assert_eq!(did_you_mean("zip", columns), "");
        assert_eq!(did_you_mean("x", []), "");
    }
}
