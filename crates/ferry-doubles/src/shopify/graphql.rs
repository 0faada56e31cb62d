//! A small GraphQL reader: one operation (`query` or `mutation`, named or anonymous, with
//! variable definitions), fields with aliases and arguments, nested selection sets.
//! Values: strings (also `"""block"""`), integers, floats, booleans, `null`, enums,
//! `$variables`, lists and objects. Fragments and directives are refused (README).

use serde_json::{Map, Value};

/// The kind of the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Query,
    Mutation,
}

/// One field of a selection set.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    pub args: Map<String, Value>,
    pub selection: Vec<Field>,
}

impl Field {
    /// The key the field is answered under.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// The sub-field named `name`, if selected.
    pub fn child(&self, name: &str) -> Option<&Field> {
        self.selection.iter().find(|f| f.name == name)
    }
}

/// A parsed operation with its variables substituted.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub kind: OpKind,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(String),
    Var(String),
    Punct(char),
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            if chars[i..].starts_with(&['"', '"', '"']) {
                let start = i + 3;
                let mut j = start;
                while j + 2 < chars.len() && !chars[j..].starts_with(&['"', '"', '"']) {
                    j += 1;
                }
                if j + 2 >= chars.len() {
                    return Err("unterminated block string".into());
                }
                out.push(Tok::Str(
                    chars[start..j].iter().collect::<String>().trim().to_owned(),
                ));
                i = j + 3;
            } else {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            match chars.get(i) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('u') => {
                                    let hex: String =
                                        chars.get(i + 1..i + 5).unwrap_or(&[]).iter().collect();
                                    let code = u32::from_str_radix(&hex, 16)
                                        .map_err(|_| "bad \\u escape")?;
                                    s.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                    i += 4;
                                }
                                Some(&other) => s.push(other),
                                None => return Err("unterminated string".into()),
                            }
                        }
                        Some(&other) => s.push(other),
                    }
                    i += 1;
                }
                out.push(Tok::Str(s));
                i += 1;
            }
        } else if c == '$' {
            let start = i + 1;
            i = start;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Var(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | 'e' | 'E'))
            {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(chars[start..i].iter().collect()));
        } else if "{}()[]:!=".contains(c) {
            out.push(Tok::Punct(c));
            i += 1;
        } else if c == '.' && chars[i..].starts_with(&['.', '.', '.']) {
            return Err("fragments are not served by this double".into());
        } else if c == '@' {
            return Err("directives are not served by this double".into());
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    vars: &'a Map<String, Value>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}`, found {}", self.describe()))
        }
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of document".into(),
            Some(Tok::Name(n)) => format!("`{n}`"),
            Some(Tok::Punct(c)) => format!("`{c}`"),
            Some(Tok::Str(_)) => "a string".into(),
            Some(Tok::Num(n)) => format!("`{n}`"),
            Some(Tok::Var(v)) => format!("`${v}`"),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Name(n)) => Ok(n),
            _ => {
                self.at -= 1;
                Err(format!("expected a name, found {}", self.describe()))
            }
        }
    }

    fn document(&mut self) -> Result<Operation, String> {
        let kind = match self.peek() {
            Some(Tok::Punct('{')) => OpKind::Query,
            Some(Tok::Name(n)) if n == "query" => OpKind::Query,
            Some(Tok::Name(n)) if n == "mutation" => OpKind::Mutation,
            Some(Tok::Name(n)) if n == "fragment" || n == "subscription" => {
                return Err(format!("`{n}` is not served by this double"));
            }
            _ => return Err(format!("expected an operation, found {}", self.describe())),
        };
        if matches!(self.peek(), Some(Tok::Name(_))) {
            self.at += 1;
            if matches!(self.peek(), Some(Tok::Name(_))) {
                self.at += 1;
            }
            if self.eat('(') {
                // Variable definitions: `$name: Type! = default`, skipped (values come
                // from `variables`).
                let mut depth = 1;
                while depth > 0 {
                    match self.next() {
                        None => return Err("unterminated variable definitions".into()),
                        Some(Tok::Punct('(')) => depth += 1,
                        Some(Tok::Punct(')')) => depth -= 1,
                        _ => {}
                    }
                }
            }
        }
        let fields = self.selection()?;
        if self.peek().is_some() {
            return Err("only one operation per document is served by this double".into());
        }
        Ok(Operation { kind, fields })
    }

    fn selection(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while !self.eat('}') {
            fields.push(self.field()?);
        }
        if fields.is_empty() {
            return Err("empty selection".into());
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<Field, String> {
        let mut name = self.name()?;
        let mut alias = None;
        if self.eat(':') {
            alias = Some(name);
            name = self.name()?;
        }
        let mut args = Map::new();
        if self.eat('(') {
            while !self.eat(')') {
                let arg = self.name()?;
                self.expect(':')?;
                let value = self.value()?;
                args.insert(arg, value);
            }
        }
        let selection = if self.peek() == Some(&Tok::Punct('{')) {
            self.selection()?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            args,
            selection,
        })
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => n
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| n.parse::<f64>().map(Value::from))
                .map_err(|_| format!("bad number `{n}`")),
            Some(Tok::Var(v)) => Ok(self.vars.get(&v).cloned().unwrap_or(Value::Null)),
            Some(Tok::Name(n)) => Ok(match n.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::String(n),
            }),
            Some(Tok::Punct('[')) => {
                let mut list = Vec::new();
                while !self.eat(']') {
                    list.push(self.value()?);
                }
                Ok(Value::Array(list))
            }
            Some(Tok::Punct('{')) => {
                let mut map = Map::new();
                while !self.eat('}') {
                    let key = self.name()?;
                    self.expect(':')?;
                    map.insert(key, self.value()?);
                }
                Ok(Value::Object(map))
            }
            _ => {
                self.at -= 1;
                Err(format!("expected a value, found {}", self.describe()))
            }
        }
    }
}

/// Parses `query` with `variables` substituted.
pub fn parse(query: &str, variables: &Map<String, Value>) -> Result<Operation, String> {
    let toks = lex(query)?;
    Parser {
        toks,
        at: 0,
        vars: variables,
    }
    .document()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_operations_arguments_and_variables() {
        let vars = json!({"q": "updated_at:>'2024-05-01T00:00:00Z'"});
        let op = parse(
            r#"query Sync($cursor: String, $q: String = "x") {
                c: customers(first: 2, after: $cursor, query: $q, sortKey: UPDATED_AT) {
                  pageInfo { hasNextPage endCursor }
                  nodes { id metafield(namespace: "erp", key: "customer_no") { value } }
                }
              }"#,
            vars.as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(op.kind, OpKind::Query);
        let f = &op.fields[0];
        assert_eq!((f.key(), f.name.as_str()), ("c", "customers"));
        assert_eq!(f.args["first"], json!(2));
        assert_eq!(f.args["after"], Value::Null);
        assert_eq!(f.args["sortKey"], json!("UPDATED_AT"));
        assert_eq!(f.args["query"], vars["q"]);
        let nodes = f.child("nodes").unwrap();
        assert_eq!(nodes.selection[1].args["key"], json!("customer_no"));
    }

    #[test]
    fn reads_block_strings_and_refuses_fragments() {
        let op = parse(
            "mutation { bulkOperationRunQuery(query: \"\"\"\n { customers { edges { node { id } } } }\n\"\"\") { bulkOperation { id } } }",
            &Map::new(),
        )
        .unwrap();
        assert_eq!(op.kind, OpKind::Mutation);
        assert!(
            op.fields[0].args["query"]
                .as_str()
                .unwrap()
                .starts_with("{ customers")
        );
        assert!(parse("{ ...F }", &Map::new()).is_err());
        assert!(parse("{ customers(first: 1) { nodes { id } }", &Map::new()).is_err());
    }
}
