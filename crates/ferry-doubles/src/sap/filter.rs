//! A small `$filter` parser and evaluator: `eq ne gt ge lt le`, `and or not`, parentheses,
//! `substringof`, `startswith`, `endswith`, `tolower`, `toupper`; string, number, boolean,
//! `null`, `datetime'…'`, `datetimeoffset'…'` and `time'…'` literals. Comparisons are typed
//! by the property's EDM type, as Gateway types them: a date property against a string
//! literal is refused, not compared as text.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::answer::SapError;
use super::catalog::{EntitySet, Kind};
use super::values;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Num(f64),
    Ms(i64),
    Secs(i64),
    Open,
    Close,
    Comma,
}

/// A typed value being compared.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Str(String),
    Num(f64),
    Ms(i64),
    Secs(i64),
    Bool(bool),
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug)]
pub enum Operand {
    Prop(String),
    Lit(Val),
    Call(String, Vec<Operand>),
}

/// A parsed `$filter`.
#[derive(Clone, Debug)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, Op, Operand),
    /// A boolean function used as a condition.
    Test(Operand),
}

fn syntax(text: &str, why: &str) -> SapError {
    SapError::syntax(format!("Invalid filter expression: '{text}' ({why})"))
}

fn tokens(text: &str) -> Result<Vec<Token>, SapError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let string_at = |i: &mut usize| -> Result<String, SapError> {
        // chars[*i] is the opening quote
        let mut s = String::new();
        *i += 1;
        loop {
            match chars.get(*i) {
                None => return Err(syntax(text, "unterminated string")),
                Some('\'') if chars.get(*i + 1) == Some(&'\'') => {
                    s.push('\'');
                    *i += 2;
                }
                Some('\'') => {
                    *i += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(*c);
                    *i += 1;
                }
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' | ')' | ',' => {
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
                i += 1;
            }
            '\'' => out.push(Token::Str(string_at(&mut i)?)),
            '-' | '0'..='9' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let number: String = chars[start..i].iter().collect();
                if i < chars.len() && "MmDdFfLl".contains(chars[i]) {
                    i += 1;
                }
                let n = number.parse().map_err(|_| syntax(text, "bad number"))?;
                out.push(Token::Num(n));
            }
            _ if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '/')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if chars.get(i) == Some(&'\'') {
                    let literal = string_at(&mut i)?;
                    out.push(typed_literal(text, &word, &literal)?);
                } else {
                    out.push(Token::Word(word));
                }
            }
            _ => return Err(syntax(text, &format!("unexpected '{c}'"))),
        }
    }
    Ok(out)
}

fn typed_literal(text: &str, prefix: &str, literal: &str) -> Result<Token, SapError> {
    match prefix {
        "datetime" | "datetimeoffset" => values::iso_millis(literal)
            .map(Token::Ms)
            .ok_or_else(|| syntax(text, &format!("bad {prefix} literal '{literal}'"))),
        "time" => values::time_seconds(literal)
            .map(Token::Secs)
            .ok_or_else(|| syntax(text, "bad time literal")),
        "guid" => Ok(Token::Str(literal.to_owned())),
        _ => Err(syntax(text, &format!("unknown literal prefix {prefix}"))),
    }
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w == word)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, token: &Token) -> Result<(), SapError> {
        match self.next() {
            Some(t) if &t == token => Ok(()),
            _ => Err(syntax(self.text, &format!("expected {token:?}"))),
        }
    }

    fn or(&mut self) -> Result<Expr, SapError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, SapError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, SapError> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.tokens.get(self.at) == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(&Token::Close)?;
            return Ok(inner);
        }
        let left = self.operand()?;
        let op = match self.tokens.get(self.at) {
            Some(Token::Word(w)) => match w.as_str() {
                "eq" => Some(Op::Eq),
                "ne" => Some(Op::Ne),
                "gt" => Some(Op::Gt),
                "ge" => Some(Op::Ge),
                "lt" => Some(Op::Lt),
                "le" => Some(Op::Le),
                _ => None,
            },
            _ => None,
        };
        match (op, left) {
            (Some(op), left) => {
                self.at += 1;
                Ok(Expr::Cmp(left, op, self.operand()?))
            }
            (None, call @ Operand::Call(..)) => Ok(Expr::Test(call)),
            (None, _) => Err(syntax(self.text, "expected a comparison operator")),
        }
    }

    fn operand(&mut self) -> Result<Operand, SapError> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Operand::Lit(Val::Str(s))),
            Some(Token::Num(n)) => Ok(Operand::Lit(Val::Num(n))),
            Some(Token::Ms(ms)) => Ok(Operand::Lit(Val::Ms(ms))),
            Some(Token::Secs(s)) => Ok(Operand::Lit(Val::Secs(s))),
            Some(Token::Word(w)) if w == "true" || w == "false" => {
                Ok(Operand::Lit(Val::Bool(w == "true")))
            }
            Some(Token::Word(w)) if w == "null" => Ok(Operand::Lit(Val::Null)),
            Some(Token::Word(w)) if self.tokens.get(self.at) == Some(&Token::Open) => {
                self.at += 1;
                let mut args = vec![self.operand()?];
                while self.tokens.get(self.at) == Some(&Token::Comma) {
                    self.at += 1;
                    args.push(self.operand()?);
                }
                self.expect(&Token::Close)?;
                Ok(Operand::Call(w, args))
            }
            Some(Token::Word(w)) => Ok(Operand::Prop(w)),
            _ => Err(syntax(self.text, "expected a property or a literal")),
        }
    }
}

/// Parses `text` and checks every property exists in `set`.
pub fn parse(text: &str, set: &EntitySet) -> Result<Expr, SapError> {
    let mut parser = Parser {
        text,
        tokens: tokens(text)?,
        at: 0,
    };
    let expr = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(syntax(text, "unexpected text after the expression"));
    }
    check_props(&expr, set)?;
    Ok(expr)
}

fn check_props(expr: &Expr, set: &EntitySet) -> Result<(), SapError> {
    fn operand(o: &Operand, set: &EntitySet) -> Result<(), SapError> {
        match o {
            Operand::Prop(p) if set.kind(p).is_none() => Err(SapError::bad_request(
                "/IWBEP/CM_MGW_RT/004",
                format!("Property '{p}' not found in type '{}'", set.type_name()),
            )),
            Operand::Call(name, args) => {
                let known = [
                    "substringof",
                    "startswith",
                    "endswith",
                    "tolower",
                    "toupper",
                ];
                if !known.contains(&name.as_str()) {
                    return Err(SapError::syntax(format!("Unknown function '{name}'")));
                }
                args.iter().try_for_each(|a| operand(a, set))
            }
            _ => Ok(()),
        }
    }
    match expr {
        Expr::Or(a, b) | Expr::And(a, b) => {
            check_props(a, set)?;
            check_props(b, set)
        }
        Expr::Not(a) => check_props(a, set),
        Expr::Cmp(a, _, b) => {
            operand(a, set)?;
            operand(b, set)
        }
        Expr::Test(a) => operand(a, set),
    }
}

/// Whether the rendered `entity` of `set` passes.
pub fn admits(expr: &Expr, set: &EntitySet, entity: &Map<String, Value>) -> Result<bool, SapError> {
    Ok(match expr {
        Expr::Or(a, b) => admits(a, set, entity)? || admits(b, set, entity)?,
        Expr::And(a, b) => admits(a, set, entity)? && admits(b, set, entity)?,
        Expr::Not(a) => !admits(a, set, entity)?,
        Expr::Test(call) => value(call, set, entity)? == Val::Bool(true),
        Expr::Cmp(a, op, b) => {
            let (a, b) = (value(a, set, entity)?, value(b, set, entity)?);
            let ordering = compare(&a, &b)?;
            match (op, ordering) {
                (Op::Eq, o) => o == Some(Ordering::Equal),
                (Op::Ne, o) => o != Some(Ordering::Equal),
                (Op::Gt, Some(o)) => o == Ordering::Greater,
                (Op::Ge, Some(o)) => o != Ordering::Less,
                (Op::Lt, Some(o)) => o == Ordering::Less,
                (Op::Le, Some(o)) => o != Ordering::Greater,
                (_, None) => false,
            }
        }
    })
}

/// The order of two typed values; `None` when one is null. Values of different types are
/// an error, as Gateway refuses them.
fn compare(a: &Val, b: &Val) -> Result<Option<Ordering>, SapError> {
    Ok(match (a, b) {
        (Val::Null, Val::Null) => Some(Ordering::Equal),
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Ms(x), Val::Ms(y)) | (Val::Secs(x), Val::Secs(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        _ => {
            return Err(SapError::syntax(format!(
                "Invalid filter: operands of different types ({a:?}, {b:?})"
            )));
        }
    })
}

/// A property's value typed by its EDM type.
fn typed(kind: Kind, value: &Value) -> Val {
    match (kind, value) {
        (_, Value::Null) => Val::Null,
        (Kind::Dec, Value::String(s)) => s.parse().map_or(Val::Null, Val::Num),
        (Kind::Date | Kind::Stamp, Value::String(s)) => {
            values::millis(s).map_or(Val::Null, Val::Ms)
        }
        (Kind::Time, Value::String(s)) => values::time_seconds(s).map_or(Val::Null, Val::Secs),
        (_, Value::Bool(b)) => Val::Bool(*b),
        (_, Value::String(s)) => Val::Str(s.clone()),
        (_, other) => Val::Str(other.to_string()),
    }
}

/// Orders two entities by one property (for `$orderby`).
pub fn order(
    set: &EntitySet,
    prop: &str,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
) -> Ordering {
    let kind = set.kind(prop).unwrap_or(Kind::Str);
    let get = |e: &Map<String, Value>| typed(kind, e.get(prop).unwrap_or(&Value::Null));
    match compare(&get(a), &get(b)) {
        Ok(Some(o)) => o,
        _ => Ordering::Equal,
    }
}

fn value(o: &Operand, set: &EntitySet, entity: &Map<String, Value>) -> Result<Val, SapError> {
    match o {
        Operand::Lit(v) => Ok(v.clone()),
        Operand::Prop(p) => {
            let kind = set.kind(p).unwrap_or(Kind::Str);
            Ok(typed(kind, entity.get(p).unwrap_or(&Value::Null)))
        }
        Operand::Call(name, args) => {
            let texts = args
                .iter()
                .map(|a| match value(a, set, entity)? {
                    Val::Str(s) => Ok(s),
                    Val::Null => Ok(String::new()),
                    other => Err(SapError::syntax(format!(
                        "Invalid parameter type used at function '{name}' ({other:?})"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let arity = |n: usize| {
                if texts.len() == n {
                    Ok(())
                } else {
                    Err(SapError::syntax(format!(
                        "Function '{name}' takes {n} parameters"
                    )))
                }
            };
            match name.as_str() {
                "substringof" => arity(2).map(|()| Val::Bool(texts[1].contains(&texts[0]))),
                "startswith" => arity(2).map(|()| Val::Bool(texts[0].starts_with(&texts[1]))),
                "endswith" => arity(2).map(|()| Val::Bool(texts[0].ends_with(&texts[1]))),
                "tolower" => arity(1).map(|()| Val::Str(texts[0].to_lowercase())),
                _ => arity(1).map(|()| Val::Str(texts[0].to_uppercase())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sap::catalog;

    fn passes(filter: &str, entity: Value) -> Result<bool, SapError> {
        let set = catalog::named("A_SalesOrder");
        let expr = parse(filter, set)?;
        admits(&expr, set, entity.as_object().unwrap())
    }

    #[test]
    fn typed_comparisons_and_logic() {
        let order = json!({"SalesOrder": "4000001", "SoldToParty": "10100001",
                           "TotalNetAmount": "120.50", "LastChangeDateTime": "/Date(1714521600000+0000)/"});
        let t = |f: &str| passes(f, order.clone()).unwrap();
        assert!(t(
            "LastChangeDateTime ge datetimeoffset'2024-05-01T00:00:00Z'"
        ));
        assert!(!t(
            "LastChangeDateTime gt datetimeoffset'2024-05-01T00:00:00Z'"
        ));
        assert!(t(
            "TotalNetAmount gt 100 and (SoldToParty eq '10100002' or SalesOrder eq '4000001')"
        ));
        assert!(t("not TotalNetAmount lt 120.5M"));
        assert!(t(
            "substringof('0100',SoldToParty) and startswith(SalesOrder,'40')"
        ));
        assert!(passes("LastChangeDateTime gt '2024-05-01'", order.clone()).is_err());
        assert!(passes("Nope eq 'x'", order.clone()).is_err());
        assert!(passes("SalesOrder eq", order).is_err());
    }
}
