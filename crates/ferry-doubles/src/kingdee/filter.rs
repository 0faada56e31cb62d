//! `FilterString`: the SQL-like subset clients send, parsed properly.
//!
//! ```text
//! filter     := or
//! or         := and ("OR" and)*
//! and        := unary ("AND" unary)*
//! unary      := "NOT" unary | "(" or ")" | predicate
//! predicate  := key op literal
//!             | key ["NOT"] "LIKE" string
//!             | key ["NOT"] "IN" "(" literal ("," literal)* ")"
//!             | key "IS" ["NOT"] "NULL"
//! op         := "=" | "<>" | "!=" | ">" | ">=" | "<" | "<="
//! literal    := 'single-quoted text' ('' for a quote) | number
//! key        := FName | FCustId.FNumber | FSaleOrderEntry_FEntryId …
//! ```
//!
//! Keywords are case-insensitive. Text compares without case (SQL Server's default
//! collation); a literal compared with a date field is read as a date
//! (`'2024-05-01 00:00:00'`), with a number field as a number.

use std::cmp::Ordering;

use super::columns::Cell;
use super::dates;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A literal of the filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
}

/// A parsed filter over fields named by `K` (keys as written, then resolved columns).
#[derive(Clone, Debug, PartialEq)]
pub enum Filter<K> {
    And(Box<Filter<K>>, Box<Filter<K>>),
    Or(Box<Filter<K>>, Box<Filter<K>>),
    Not(Box<Filter<K>>),
    Compare {
        key: K,
        op: Op,
        value: Literal,
    },
    Like {
        key: K,
        pattern: String,
        negated: bool,
    },
    In {
        key: K,
        values: Vec<Literal>,
        negated: bool,
    },
    IsNull {
        key: K,
        negated: bool,
    },
}

/// Why a filter string could not be read. `at` is a character offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("位置{at}：未结束的字符串")]
    UnterminatedText { at: usize },
    #[error("位置{at}：无法识别的字符[{found}]")]
    BadCharacter { at: usize, found: char },
    #[error("位置{at}：应为{expected}，实际为[{found}]")]
    Unexpected {
        at: usize,
        expected: &'static str,
        found: String,
    },
    #[error("过滤条件意外结束，应为{expected}")]
    UnexpectedEnd { expected: &'static str },
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Op(Op),
    Open,
    Close,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Self::Word(w) => w.clone(),
            Self::Text(t) => format!("'{t}'"),
            Self::Number(n) => n.to_string(),
            Self::Op(op) => format!("{op:?}"),
            Self::Open => "(".into(),
            Self::Close => ")".into(),
            Self::Comma => ",".into(),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self, Self::Word(w) if w.eq_ignore_ascii_case(word))
    }
}

/// Reads a filter string; `None` for an empty one.
pub fn parse(text: &str) -> Result<Option<Filter<String>>, FilterError> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser { tokens, next: 0 };
    let filter = parser.or()?;
    match parser.tokens.get(parser.next) {
        None => Ok(Some(filter)),
        Some((at, token)) => Err(FilterError::Unexpected {
            at: *at,
            expected: "AND、OR或结束",
            found: token.describe(),
        }),
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let (token, end) = token_at(&chars, i)?;
        tokens.push((i, token));
        i = end;
    }
    Ok(tokens)
}

/// The token starting at `i` (not a space) and the index after it.
fn token_at(chars: &[char], i: usize) -> Result<(Token, usize), FilterError> {
    let c = chars[i];
    let bad = FilterError::BadCharacter { at: i, found: c };
    let negative_number = c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
    Ok(match c {
        '(' => (Token::Open, i + 1),
        ')' => (Token::Close, i + 1),
        ',' => (Token::Comma, i + 1),
        '\'' => {
            let (text, end) = quoted(chars, i)?;
            (Token::Text(text), end)
        }
        '=' | '<' | '>' | '!' => {
            let (op, len) = operator(&chars[i..]).ok_or(bad)?;
            (Token::Op(op), i + len)
        }
        _ if c.is_ascii_digit() || negative_number => {
            let end = scan(chars, i + 1, |c| c.is_ascii_digit() || c == '.');
            let number: String = chars[i..end].iter().collect();
            (Token::Number(number.parse().map_err(|_| bad)?), end)
        }
        _ if c.is_alphabetic() || c == '_' => {
            let end = scan(chars, i, |c| c.is_alphanumeric() || c == '_' || c == '.');
            (Token::Word(chars[i..end].iter().collect()), end)
        }
        _ => return Err(bad),
    })
}

fn scan(chars: &[char], from: usize, keep: impl Fn(char) -> bool) -> usize {
    chars[from..]
        .iter()
        .position(|c| !keep(*c))
        .map_or(chars.len(), |p| from + p)
}

/// The text of a quoted literal starting at `open`, and the index after its closing quote.
fn quoted(chars: &[char], open: usize) -> Result<(String, usize), FilterError> {
    let mut text = String::new();
    let mut i = open + 1;
    while i < chars.len() {
        if chars[i] == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                text.push('\'');
                i += 2;
                continue;
            }
            return Ok((text, i + 1));
        }
        text.push(chars[i]);
        i += 1;
    }
    Err(FilterError::UnterminatedText { at: open })
}

fn operator(chars: &[char]) -> Option<(Op, usize)> {
    let two: String = chars.iter().take(2).collect();
    match two.as_str() {
        "<>" | "!=" => Some((Op::Ne, 2)),
        ">=" => Some((Op::Ge, 2)),
        "<=" => Some((Op::Le, 2)),
        _ => match chars.first()? {
            '=' => Some((Op::Eq, 1)),
            '>' => Some((Op::Gt, 1)),
            '<' => Some((Op::Lt, 1)),
            _ => None,
        },
    }
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn take(&mut self, expected: &'static str) -> Result<(usize, Token), FilterError> {
        let token = self
            .tokens
            .get(self.next)
            .cloned()
            .ok_or(FilterError::UnexpectedEnd { expected })?;
        self.next += 1;
        Ok(token)
    }

    fn unexpected<T>(at: usize, expected: &'static str, token: &Token) -> Result<T, FilterError> {
        Err(FilterError::Unexpected {
            at,
            expected,
            found: token.describe(),
        })
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.peek().is_some_and(|t| t.is_word(word));
        if found {
            self.next += 1;
        }
        found
    }

    fn or(&mut self) -> Result<Filter<String>, FilterError> {
        let mut left = self.and()?;
        while self.eat_word("OR") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter<String>, FilterError> {
        let mut left = self.unary()?;
        while self.eat_word("AND") {
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter<String>, FilterError> {
        if self.eat_word("NOT") {
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next += 1;
            let inner = self.or()?;
            return match self.take(")")? {
                (_, Token::Close) => Ok(inner),
                (at, token) => Self::unexpected(at, ")", &token),
            };
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Filter<String>, FilterError> {
        let key = match self.take("字段标识")? {
            (_, Token::Word(w)) if !is_keyword(&w) => w,
            (at, token) => return Self::unexpected(at, "字段标识", &token),
        };
        let (at, token) = self.take("比较符")?;
        match token {
            Token::Op(op) => Ok(Filter::Compare {
                key,
                op,
                value: self.literal()?,
            }),
            Token::Word(w) if w.eq_ignore_ascii_case("IS") => {
                let negated = self.eat_word("NOT");
                match self.take("NULL")? {
                    (_, t) if t.is_word("NULL") => Ok(Filter::IsNull { key, negated }),
                    (at, t) => Self::unexpected(at, "NULL", &t),
                }
            }
            Token::Word(w) if w.eq_ignore_ascii_case("NOT") => self.like_or_in(key, true),
            Token::Word(w) if w.eq_ignore_ascii_case("LIKE") || w.eq_ignore_ascii_case("IN") => {
                self.next -= 1;
                self.like_or_in(key, false)
            }
            token => Self::unexpected(at, "比较符", &token),
        }
    }

    fn like_or_in(&mut self, key: String, negated: bool) -> Result<Filter<String>, FilterError> {
        let (at, token) = self.take("LIKE或IN")?;
        if token.is_word("LIKE") {
            return match self.take("字符串")? {
                (_, Token::Text(pattern)) => Ok(Filter::Like {
                    key,
                    pattern,
                    negated,
                }),
                (at, t) => Self::unexpected(at, "字符串", &t),
            };
        }
        if !token.is_word("IN") {
            return Self::unexpected(at, "LIKE或IN", &token);
        }
        match self.take("(")? {
            (_, Token::Open) => {}
            (at, t) => return Self::unexpected(at, "(", &t),
        }
        let mut values = vec![self.literal()?];
        loop {
            match self.take(")")? {
                (_, Token::Comma) => values.push(self.literal()?),
                (_, Token::Close) => break,
                (at, t) => return Self::unexpected(at, ", 或 )", &t),
            }
        }
        Ok(Filter::In {
            key,
            values,
            negated,
        })
    }

    fn literal(&mut self) -> Result<Literal, FilterError> {
        match self.take("值")? {
            (_, Token::Text(t)) => Ok(Literal::Text(t)),
            (_, Token::Number(n)) => Ok(Literal::Number(n)),
            (at, t) => Self::unexpected(at, "值", &t),
        }
    }
}

fn is_keyword(word: &str) -> bool {
    ["AND", "OR", "NOT", "LIKE", "IN", "IS", "NULL"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(word))
}

impl<K> Filter<K> {
    /// The same filter with every key mapped by `f` (to resolve keys to columns).
    pub fn try_map<J, E>(self, f: &mut impl FnMut(K) -> Result<J, E>) -> Result<Filter<J>, E> {
        Ok(match self {
            Self::And(a, b) => Filter::And(Box::new(a.try_map(f)?), Box::new(b.try_map(f)?)),
            Self::Or(a, b) => Filter::Or(Box::new(a.try_map(f)?), Box::new(b.try_map(f)?)),
            Self::Not(a) => Filter::Not(Box::new(a.try_map(f)?)),
            Self::Compare { key, op, value } => Filter::Compare {
                key: f(key)?,
                op,
                value,
            },
            Self::Like {
                key,
                pattern,
                negated,
            } => Filter::Like {
                key: f(key)?,
                pattern,
                negated,
            },
            Self::In {
                key,
                values,
                negated,
            } => Filter::In {
                key: f(key)?,
                values,
                negated,
            },
            Self::IsNull { key, negated } => Filter::IsNull {
                key: f(key)?,
                negated,
            },
        })
    }

    /// Every key the filter names.
    pub fn keys(&self) -> Vec<&K> {
        match self {
            Self::And(a, b) | Self::Or(a, b) => [a.keys(), b.keys()].concat(),
            Self::Not(a) => a.keys(),
            Self::Compare { key, .. }
            | Self::Like { key, .. }
            | Self::In { key, .. }
            | Self::IsNull { key, .. } => vec![key],
        }
    }

    /// Whether a row passes, reading its values with `cell`.
    pub fn admits(&self, cell: &impl Fn(&K) -> Cell) -> bool {
        match self {
            Self::And(a, b) => a.admits(cell) && b.admits(cell),
            Self::Or(a, b) => a.admits(cell) || b.admits(cell),
            Self::Not(a) => !a.admits(cell),
            Self::Compare { key, op, value } => {
                compare(&cell(key), value).is_some_and(|o| holds(*op, o))
            }
            Self::Like {
                key,
                pattern,
                negated,
            } => like(&cell(key), pattern) != *negated,
            Self::In {
                key,
                values,
                negated,
            } => {
                let value = cell(key);
                let found = values
                    .iter()
                    .any(|v| compare(&value, v) == Some(Ordering::Equal));
                found != *negated
            }
            Self::IsNull { key, negated } => (cell(key) == Cell::Null) != *negated,
        }
    }
}

fn holds(op: Op, order: Ordering) -> bool {
    match op {
        Op::Eq => order.is_eq(),
        Op::Ne => order.is_ne(),
        Op::Gt => order.is_gt(),
        Op::Ge => order.is_ge(),
        Op::Lt => order.is_lt(),
        Op::Le => order.is_le(),
    }
}

/// A cell against a literal, the literal read as the cell's type; `None` when they cannot
/// be compared (an empty date, a word against a number field).
fn compare(cell: &Cell, literal: &Literal) -> Option<Ordering> {
    let as_cell = match (cell, literal) {
        (Cell::Null, _) => return None,
        (Cell::Date(_), Literal::Text(t)) => Cell::Date(dates::parse(t)?),
        (Cell::Text(_), Literal::Number(n)) => Cell::Text(number_text(*n)),
        (Cell::Text(_), Literal::Text(t)) => Cell::Text(t.clone()),
        (Cell::Bool(_), Literal::Text(t)) => Cell::Bool(t == "1" || t.eq_ignore_ascii_case("true")),
        (_, Literal::Number(n)) => Cell::Num(*n),
        (_, Literal::Text(t)) => Cell::Num(t.trim().parse().ok()?),
    };
    if matches!(cell, Cell::Text(_)) {
        // SQL Server ignores trailing spaces when comparing text.
        let (Cell::Text(a), Cell::Text(b)) = (cell, &as_cell) else {
            return None;
        };
        return Some(
            a.trim_end()
                .to_lowercase()
                .cmp(&b.trim_end().to_lowercase()),
        );
    }
    Some(cell.compare(&as_cell))
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// SQL `LIKE`: `%` any run, `_` one character, without case.
fn like(cell: &Cell, pattern: &str) -> bool {
    let text = match cell {
        Cell::Null => return false,
        Cell::Text(t) => t.to_lowercase(),
        Cell::Date(d) => dates::answer(*d),
        other => other.number().map(number_text).unwrap_or_default(),
    };
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    like_match(&pattern, &text)
}

fn like_match(p: &[char], s: &[char]) -> bool {
    match p {
        [] => s.is_empty(),
        ['%', rest @ ..] => (0..=s.len()).any(|i| like_match(rest, &s[i..])),
        ['_', rest @ ..] => !s.is_empty() && like_match(rest, &s[1..]),
        [c, rest @ ..] => s.first() == Some(c) && like_match(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Filter<String> {
        parse(text).unwrap().unwrap()
    }

    fn cmp(key: &str, op: Op, value: Literal) -> Filter<String> {
        Filter::Compare {
            key: key.into(),
            op,
            value,
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let text = |t: &str| Literal::Text(t.into());
        let a = cmp("FA", Op::Eq, text("1"));
        let b = cmp("FB", Op::Ge, Literal::Number(2.0));
        let c = cmp("FC", Op::Ne, text("x'y"));
        assert_eq!(
            parsed("FA = '1' or FB >= 2 AND FC <> 'x''y'"),
            Filter::Or(
                Box::new(a.clone()),
                Box::new(Filter::And(Box::new(b.clone()), Box::new(c.clone())))
            )
        );
        assert_eq!(
            parsed("(FA='1' OR FB>=2) and FC!='x''y'"),
            Filter::And(Box::new(Filter::Or(Box::new(a), Box::new(b))), Box::new(c))
        );
        assert_eq!(parse("  ").unwrap(), None);
    }

    #[test]
    fn like_in_null_and_not_read() {
        let f = parsed(
            "FName not like '%公司' and FCustId.FNumber in ('C1', 'C2') and FApproveDate is not null",
        );
        let keys: Vec<&String> = f.keys();
        assert_eq!(keys, ["FName", "FCustId.FNumber", "FApproveDate"]);
        assert!(matches!(parsed("NOT FQty < 0"), Filter::Not(_)));
    }

    #[test]
    fn broken_filters_say_where() {
        assert_eq!(
            parse("FName = 'abc"),
            Err(FilterError::UnterminatedText { at: 8 })
        );
        assert!(matches!(
            parse("FName = "),
            Err(FilterError::UnexpectedEnd { .. })
        ));
        assert!(matches!(
            parse("FName 'a'"),
            Err(FilterError::Unexpected { at: 6, .. })
        ));
        assert!(matches!(
            parse("FA = 1 FB = 2"),
            Err(FilterError::Unexpected { .. })
        ));
        assert!(matches!(
            parse("FA = 1 AND (FB = 2"),
            Err(FilterError::UnexpectedEnd { .. })
        ));
        assert!(matches!(
            parse("FA ; 1"),
            Err(FilterError::BadCharacter { found: ';', .. })
        ));
    }

    #[test]
    fn values_compare_by_the_fields_type() {
        let row = |key: &String| match key.as_str() {
            "FName" => Cell::Text("上海宏达贸易有限公司".into()),
            "FQty" => Cell::Num(12.5),
            "FDate" => Cell::Date(dates::parse("2024-05-01 08:00:00").unwrap()),
            "FNumber" => Cell::Text("CUST0001".into()),
            _ => Cell::Null,
        };
        let admits = |text: &str| parsed(text).admits(&row);
        assert!(admits("FName like '上海%'"));
        assert!(admits("FNumber = 'cust0001'"));
        assert!(admits("FQty > 12 and FQty <= '12.5'"));
        assert!(admits(
            "FDate >= '2024-05-01' AND FDate < '2024-05-01 08:00:01'"
        ));
        assert!(!admits("FDate > '2024-05-01 08:00:00'"));
        assert!(admits("FNumber in ('CUST0002', 'CUST0001')"));
        assert!(admits("FApproveDate is null and not FNumber like 'X%'"));
        assert!(!admits("FApproveDate = '2024-05-01'"));
    }
}
