//! A small SOQL subset (dossier §3, checklist): `SELECT f, … FROM Object [WHERE cond]
//! [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n] [OFFSET n]`, where a condition
//! is comparisons (`= != <> < <= > >=`), `IN (…)`, `NOT IN (…)`, `LIKE '…'`, joined by
//! `AND`, `OR`, `NOT` and parentheses. Literals: `'text'` (backslash escapes), numbers,
//! `true`/`false`/`null`, unquoted dates (`2024-05-01`) and datetimes (`2024-05-01T00:00:00Z`,
//! `…+08:00`). Keywords and field names are read without case. Not served: relationship
//! fields (`Account.Name`), sub-queries, aggregates, date literals such as `TODAY`.

use chrono::{DateTime, NaiveDate, Utc};

use super::records::parse_datetime;

#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, Op, Lit),
    In(String, Vec<Lit>, bool),
    Like(String, String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderKey {
    pub field: String,
    pub desc: bool,
    pub nulls_last: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub object: String,
    pub filter: Option<Expr>,
    pub order: Vec<OrderKey>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Lit(Lit),
    Op(Op),
    Comma,
    Open,
    Close,
}

/// Reads `text`; the error is the `MALFORMED_QUERY` message.
pub fn parse(text: &str) -> Result<Query, String> {
    let toks = lex(text)?;
    let mut p = Parser { toks, at: 0 };
    let q = p.query()?;
    match p.toks.get(p.at) {
        None => Ok(q),
        Some(t) => Err(format!("unexpected token: {}", show(t))),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("'{w}'"),
        Tok::Lit(l) => format!("{l:?}"),
        Tok::Op(o) => format!("{o:?}"),
        Tok::Comma => "','".into(),
        Tok::Open => "'('".into(),
        Tok::Close => "')'".into(),
    }
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            _ if c.is_whitespace() => i += 1,
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '=' => {
                out.push(Tok::Op(Op::Eq));
                i += 1;
            }
            '!' if next == Some('=') => {
                out.push(Tok::Op(Op::Ne));
                i += 2;
            }
            '<' if next == Some('>') => {
                out.push(Tok::Op(Op::Ne));
                i += 2;
            }
            '<' if next == Some('=') => {
                out.push(Tok::Op(Op::Le));
                i += 2;
            }
            '>' if next == Some('=') => {
                out.push(Tok::Op(Op::Ge));
                i += 2;
            }
            '<' => {
                out.push(Tok::Op(Op::Lt));
                i += 1;
            }
            '>' => {
                out.push(Tok::Op(Op::Gt));
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') => break,
                        Some('\\') => {
                            let e = chars.get(i + 1).ok_or("unterminated string literal")?;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => *other,
                            });
                            i += 2;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Tok::Lit(Lit::Str(s)));
            }
            _ if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let start = i;
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|ch| ch.is_ascii_digit() || ".:-+TZtz".contains(*ch))
                {
                    i += 1;
                }
                let run: String = chars[start..i].iter().collect();
                out.push(Tok::Lit(literal(&run)?));
            }
            _ if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|ch| ch.is_alphanumeric() || *ch == '_' || *ch == '.')
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            _ => return Err(format!("unexpected character '{c}'")),
        }
    }
    Ok(out)
}

fn literal(run: &str) -> Result<Lit, String> {
    if run.contains('T') || run.contains('t') {
        return parse_datetime(&run.replace('t', "T").replace('z', "Z"))
            .map(Lit::DateTime)
            .ok_or_else(|| format!("line 1: invalid datetime: {run}"));
    }
    if run.len() == 10 && run.as_bytes()[4] == b'-' {
        return NaiveDate::parse_from_str(run, "%Y-%m-%d")
            .map(Lit::Date)
            .map_err(|_| format!("invalid date: {run}"));
    }
    run.parse()
        .map(Lit::Num)
        .map_err(|_| format!("unexpected token: '{run}'"))
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.peek_kw(kw);
        self.at += usize::from(yes);
        yes
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(format!("expecting {kw}, found {}", self.found()))
        }
    }

    fn found(&self) -> String {
        self.toks.get(self.at).map_or("end of query".into(), show)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let yes = self.toks.get(self.at) == Some(tok);
        self.at += usize::from(yes);
        yes
    }

    fn name(&mut self) -> Result<String, String> {
        const RESERVED: [&str; 12] = [
            "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT",
            "OFFSET",
        ];
        match self.toks.get(self.at) {
            Some(Tok::Word(w)) if !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)) => {
                self.at += 1;
                Ok(w.clone())
            }
            _ => Err(format!("unexpected token: {}", self.found())),
        }
    }

    fn number(&mut self) -> Result<usize, String> {
        match self.toks.get(self.at) {
            Some(Tok::Lit(Lit::Num(n))) if n.fract() == 0.0 && *n >= 0.0 => {
                self.at += 1;
                Ok(*n as usize)
            }
            _ => Err(format!("expecting a number, found {}", self.found())),
        }
    }

    fn query(&mut self) -> Result<Query, String> {
        self.expect_kw("SELECT")?;
        let mut fields = vec![self.name()?];
        while self.eat(&Tok::Comma) {
            fields.push(self.name()?);
        }
        self.expect_kw("FROM")?;
        let object = self.name()?;
        let filter = if self.eat_kw("WHERE") {
            Some(self.or()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let field = self.name()?;
                let desc = self.eat_kw("DESC");
                if !desc {
                    self.eat_kw("ASC");
                }
                let mut nulls_last = desc;
                if self.eat_kw("NULLS") {
                    nulls_last = if self.eat_kw("LAST") {
                        true
                    } else {
                        self.expect_kw("FIRST")?;
                        false
                    };
                }
                order.push(OrderKey {
                    field,
                    desc,
                    nulls_last,
                });
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.number()?)
        } else {
            None
        };
        let offset = if self.eat_kw("OFFSET") {
            Some(self.number()?)
        } else {
            None
        };
        Ok(Query {
            fields,
            object,
            filter,
            order,
            limit,
            offset,
        })
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.eat_kw("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.eat_kw("AND") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat(&Tok::Open) {
            let inner = self.or()?;
            if !self.eat(&Tok::Close) {
                return Err(format!("expecting ')', found {}", self.found()));
            }
            return Ok(inner);
        }
        let field = self.name()?;
        if self.eat_kw("LIKE") {
            return match self.lit()? {
                Lit::Str(p) => Ok(Expr::Like(field, p)),
                _ => Err("LIKE needs a string".into()),
            };
        }
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            if !self.eat(&Tok::Open) {
                return Err(format!("expecting '(', found {}", self.found()));
            }
            let mut values = vec![self.lit()?];
            while self.eat(&Tok::Comma) {
                values.push(self.lit()?);
            }
            if !self.eat(&Tok::Close) {
                return Err(format!("expecting ')', found {}", self.found()));
            }
            return Ok(Expr::In(field, values, negated));
        }
        if negated {
            return Err(format!("expecting IN, found {}", self.found()));
        }
        match self.toks.get(self.at).cloned() {
            Some(Tok::Op(op)) => {
                self.at += 1;
                Ok(Expr::Cmp(field, op, self.lit()?))
            }
            _ => Err(format!("unexpected token: {}", self.found())),
        }
    }

    fn lit(&mut self) -> Result<Lit, String> {
        let lit = match self.toks.get(self.at) {
            Some(Tok::Lit(l)) => l.clone(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Lit::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Lit::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Lit::Null,
            _ => return Err(format!("unexpected token: {}", self.found())),
        };
        self.at += 1;
        Ok(lit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_incremental_query_of_the_dossier() {
        let q = parse("select Id, Name from Account where SystemModstamp > 2024-05-01T00:00:00Z and (Name like '上海%' or ERP_Id__c in ('C1','C\\'2')) order by SystemModstamp, Id desc nulls first limit 10").unwrap();
        assert_eq!(q.fields, ["Id", "Name"]);
        assert_eq!(q.object, "Account");
        assert_eq!(q.limit, Some(10));
        assert_eq!(q.order.len(), 2);
        assert!(q.order[1].desc && !q.order[1].nulls_last);
        let Some(Expr::And(left, right)) = q.filter else {
            panic!()
        };
        assert!(matches!(*left, Expr::Cmp(_, Op::Gt, Lit::DateTime(_))));
        assert!(matches!(*right, Expr::Or(..)));
    }

    #[test]
    fn refuses_what_is_not_soql() {
        assert!(parse("SELECT FROM Account").is_err());
        assert!(parse("SELECT Id FROM Account WHERE").is_err());
        assert!(parse("SELECT Id FROM Account WHERE Name = 'x").is_err());
        assert!(parse("SELECT Id FROM Account LIMIT 5 extra").is_err());
        let offset = parse("SELECT Id FROM Account WHERE CreatedDate > 2024-05-01T00:00:00+08:00");
        assert!(offset.is_ok());
    }
}
