//! The GraphQL the connector sends, built as a tree so that one description gives both the
//! text and its requested cost (Shopify's rules: a scalar 0, an object 1 plus its fields,
//! a connection `first` × its node + 2, a mutation 10). Knowing the cost before sending is
//! what lets [`crate::throttle`] wait for the points instead of being refused, and lets a
//! page be sized so that its query stays under the 1,000-point ceiling.

use serde_json::Value;

/// The most a single query may cost.
pub const MAX_COST: u64 = 1000;
/// What a mutation costs.
pub const MUTATION_COST: u64 = 10;

/// One selected field.
#[derive(Debug, Clone, PartialEq)]
pub struct Sel {
    pub alias: Option<String>,
    pub name: String,
    /// Arguments as GraphQL text (`"first" → "20"`, `"query" → "\"…\""`).
    pub args: Vec<(String, String)>,
    pub children: Vec<Sel>,
    /// A connection of this many nodes (`first`), answered as `pageInfo` + `nodes`; the
    /// GID type of its nodes (`LineItem`), for reassembling bulk results.
    pub connection: Option<(u64, &'static str)>,
}

impl Sel {
    /// A scalar field.
    pub fn scalar(name: &str) -> Self {
        Self {
            alias: None,
            name: name.to_owned(),
            args: Vec::new(),
            children: Vec::new(),
            connection: None,
        }
    }

    /// An object field with these fields.
    pub fn object(name: &str, children: Vec<Sel>) -> Self {
        Self {
            children,
            ..Self::scalar(name)
        }
    }

    /// A connection of `first` nodes of GID type `node`, with these node fields.
    pub fn connection(name: &str, first: u64, node: &'static str, children: Vec<Sel>) -> Self {
        Self {
            children,
            connection: Some((first, node)),
            ..Self::scalar(name)
        }
    }

    /// Scalars by name.
    pub fn scalars(names: &[&str]) -> Vec<Sel> {
        names.iter().map(|n| Self::scalar(n)).collect()
    }

    #[must_use]
    pub fn arg(mut self, name: &str, value: impl Into<String>) -> Self {
        self.args.push((name.to_owned(), value.into()));
        self
    }

    #[must_use]
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// The key the answer holds this field under.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// The requested cost of this field.
    pub fn cost(&self) -> u64 {
        let object = || 1 + self.children.iter().map(Sel::cost).sum::<u64>();
        match self.connection {
            Some((first, _)) => first * object() + 2,
            None if self.children.is_empty() => 0,
            None => object(),
        }
    }

    /// The field as GraphQL text. A connection selects `pageInfo` and `nodes`, or, with
    /// `edges`, `edges { cursor node }` (the cursor of each node).
    pub fn render(&self, out: &mut String, edges: bool) {
        self.render_as(out, if edges { Mode::Edges } else { Mode::Nodes });
    }

    /// The field as GraphQL text in `mode`.
    pub fn render_as(&self, out: &mut String, mode: Mode) {
        if let Some(alias) = &self.alias {
            out.push_str(alias);
            out.push_str(": ");
        }
        out.push_str(&self.name);
        let mut args: Vec<(String, String)> = Vec::new();
        // Nested connections keep their size in a bulk query too (the locations of a
        // variant, as in a paged read); the bulk query's top-level connection is written
        // by `crate::bulk` without one.
        if let Some((first, _)) = self.connection {
            args.push(("first".into(), first.to_string()));
        }
        args.extend(self.args.iter().cloned());
        if !args.is_empty() {
            out.push('(');
            let parts: Vec<String> = args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            out.push_str(&parts.join(", "));
            out.push(')');
        }
        if self.children.is_empty() {
            out.push(' ');
            return;
        }
        let inner = if mode == Mode::Bulk {
            Mode::Bulk
        } else {
            Mode::Nodes
        };
        let mut fields = String::new();
        for c in &self.children {
            c.render_as(&mut fields, inner);
        }
        if self.connection.is_some() {
            out.push_str(&match mode {
                Mode::Edges => format!(
                    " {{ pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {fields}}} }} }} "
                ),
                Mode::Nodes => format!(
                    " {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {fields}}} }} "
                ),
                Mode::Bulk => format!(" {{ edges {{ node {{ {fields}}} }} }} "),
            });
        } else {
            out.push_str(&format!(" {{ {fields}}} "));
        }
    }
}

/// How a connection is written: `pageInfo` with `edges { cursor node }` or with `nodes`,
/// or, in a bulk operation's query, `edges { node }` alone (bulk queries take no paging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Edges,
    Nodes,
    Bulk,
}

/// A query of these top-level fields; `edges`: top-level connections select edges.
pub fn query(fields: &[Sel], edges: bool) -> String {
    let mut out = String::from("query { ");
    for f in fields {
        f.render(&mut out, edges);
    }
    out.push('}');
    out
}

/// The requested cost of a query of these top-level fields.
pub fn cost(fields: &[Sel]) -> u64 {
    fields.iter().map(Sel::cost).sum()
}

/// A GraphQL string literal.
pub fn string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_cost_follow_shopifys_rules() {
        let page = Sel::connection(
            "customers",
            10,
            "Customer",
            vec![
                Sel::scalar("id"),
                Sel::object("defaultAddress", Sel::scalars(&["city"])),
            ],
        )
        .arg("query", string("updated_at:>='2024-05-01T00:00:00Z'"));
        // The dossier's example: node 1 + address 1 = 2; 10 × 2 + 2.
        assert_eq!(page.cost(), 22);
        let text = query(std::slice::from_ref(&page), true);
        assert_eq!(
            text,
            "query { customers(first: 10, query: \"updated_at:>='2024-05-01T00:00:00Z'\") { pageInfo { hasNextPage endCursor } edges { cursor node { id defaultAddress { city } } } } }"
        );
    }
}
