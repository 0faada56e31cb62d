//! Validation rules, compiled once (regular expressions included) and checked against the
//! mapped value. A missing value fails only `required`: "if given, it must be an e-mail".

use std::sync::LazyLock;

use ferry_model::config::ValidationRule;
use regex::Regex;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::values::{self, show};

/// A pragmatic e-mail check: something@domain.tld, no spaces, one `@`, no empty labels.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$").expect("the e-mail pattern is valid")
});

/// The 31 characters of a unified social credit code (GB 32100-2015); no I, O, S, V, Z.
const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

#[derive(Debug)]
pub(crate) enum Check {
    Required,
    Email,
    Uscc,
    Regex(Regex),
    MaxLen(usize),
    OneOf(Vec<String>),
    Min(Decimal),
    Max(Decimal),
}

impl Check {
    /// Compiles a rule; a bad regular expression is the only way this fails.
    pub(crate) fn compile(rule: &ValidationRule) -> Result<Self, String> {
        Ok(match rule {
            ValidationRule::Required => Check::Required,
            ValidationRule::Email => Check::Email,
            ValidationRule::Uscc => Check::Uscc,
            ValidationRule::Regex(pattern) => Check::Regex(
                Regex::new(pattern)
                    .map_err(|e| format!("invalid regular expression `{pattern}`: {e}"))?,
            ),
            ValidationRule::MaxLen(n) => Check::MaxLen(*n),
            ValidationRule::OneOf(options) => Check::OneOf(options.clone()),
            ValidationRule::Min(m) => Check::Min(*m),
            ValidationRule::Max(m) => Check::Max(*m),
        })
    }

    /// Checks a mapped value (`None` when the field is absent); the error is the reason.
    pub(crate) fn check(&self, value: Option<&Value>) -> Result<(), String> {
        let value = match value {
            Some(v) if !values::is_empty(v) => v,
            _ => {
                return if matches!(self, Check::Required) {
                    Err("required but missing".to_owned())
                } else {
                    Ok(())
                };
            }
        };
        let text = || -> Option<std::borrow::Cow<'_, str>> {
            match value {
                Value::String(s) => Some(s.as_str().into()),
                Value::Number(n) => Some(n.to_string().into()),
                Value::Bool(b) => Some(b.to_string().into()),
                _ => None,
            }
        };
        let fail = |what: &str| Err(format!("{what}: {}", show(value)));
        match self {
            Check::Required => Ok(()),
            Check::Email => match text() {
                Some(t) if EMAIL.is_match(&t) => Ok(()),
                _ => fail("not a valid e-mail address"),
            },
            Check::Uscc => match text() {
                Some(t) if uscc_is_valid(&t) => Ok(()),
                _ => fail("not a valid unified social credit code"),
            },
            Check::Regex(re) => match text() {
                Some(t) if re.is_match(&t) => Ok(()),
                _ => fail(&format!("does not match `{}`", re.as_str())),
            },
            Check::MaxLen(n) => match text() {
                Some(t) if t.chars().count() <= *n => Ok(()),
                Some(t) => fail(&format!(
                    "longer than {n} characters ({})",
                    t.chars().count()
                )),
                None => fail("not text"),
            },
            Check::OneOf(options) => match text() {
                Some(t) if options.iter().any(|o| o == t.as_ref()) => Ok(()),
                _ => fail(&format!("not one of {}", options.join(", "))),
            },
            Check::Min(m) => match values::to_decimal(value) {
                Ok(d) if d >= *m => Ok(()),
                Ok(_) => fail(&format!("less than {m}")),
                Err(_) => fail("not a number"),
            },
            Check::Max(m) => match values::to_decimal(value) {
                Ok(d) if d <= *m => Ok(()),
                Ok(_) => fail(&format!("more than {m}")),
                Err(_) => fail("not a number"),
            },
        }
    }
}

/// GB 32100-2015: 18 characters from the code's alphabet; the last is a check character,
/// 31 − (Σ value × weight mod 31), where 31 counts as 0.
pub(crate) fn uscc_is_valid(code: &str) -> bool {
    let bytes = code.as_bytes();
    if bytes.len() != 18 {
        return false;
    }
    let value = |c: u8| USCC_CHARS.iter().position(|x| *x == c).map(|p| p as u32);
    let mut sum = 0;
    for (c, weight) in bytes[..17].iter().zip(USCC_WEIGHTS) {
        match value(*c) {
            Some(v) => sum += v * weight,
            None => return false,
        }
    }
    let check = (31 - sum % 31) % 31;
    value(bytes[17]) == Some(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uscc_check_character() {
        assert!(uscc_is_valid("91350100M000100Y43"));
        assert!(uscc_is_valid("91110000600037341L")); // a published code (check character L)
        assert!(!uscc_is_valid("91350100M000100Y44")); // wrong check character
        assert!(!uscc_is_valid("91350100M000100Y4")); // too short
        assert!(!uscc_is_valid("91350100I000100Y43")); // I is not in the alphabet
        assert!(!uscc_is_valid("91350100m000100Y43")); // lower case
    }

    #[test]
    fn email_is_pragmatic() {
        let ok = |s: &str| Check::Email.check(Some(&json!(s))).is_ok();
        assert!(ok("ada@example.com"));
        assert!(ok("张三@例子.中国"));
        assert!(!ok("foo@"));
        assert!(!ok("foo@bar"));
        assert!(!ok("a b@c.de"));
        assert!(!ok("a@b..de"));
    }
}
