//! Small text helpers the schemes share: RFC 3986 percent-encoding, form bodies,
//! `{placeholder}` templates, HMAC.

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`). OAuth 1.0a
/// (RFC 5849 §3.6) requires exactly this set; it is also a valid form encoding.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded per RFC 3986 (space as `%20`, upper-case hex): a form value, an
/// OAuth parameter, a URI path segment. Public as `ferry_kit::http::percent_encode`.
pub fn pct(text: &str) -> String {
    utf8_percent_encode(text, RFC3986).to_string()
}

/// An `application/x-www-form-urlencoded` body.
pub(super) fn form(fields: &[(&str, String)]) -> String {
    let pairs: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    pairs.join("&")
}

/// `template` with each `{name}` replaced by its value; unknown placeholders stay as they
/// are (the settings check reports them).
pub(super) fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The `{name}` placeholders of `template` that are not in `known`.
pub(super) fn unknown_placeholders(template: &str, known: &[&str]) -> Vec<String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !known.contains(name))
        .map(|name| format!("{{{name}}}"))
        .collect()
}

/// The digest an HMAC is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Digest {
    /// HMAC-SHA256 (the usual choice).
    #[default]
    Sha256,
    /// HMAC-SHA1, for older APIs only.
    Sha1,
}

/// HMAC of `message` under `key`.
pub fn hmac(digest: Digest, key: &[u8], message: &[u8]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
    match digest {
        Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
        Digest::Sha1 => run::<Hmac<sha1::Sha1>>(key, message),
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random nonce: 32 hex digits.
pub(super) fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(pct("a b+c/~_.-é"), "a%20b%2Bc%2F~_.-%C3%A9");
        assert_eq!(
            form(&[("k", "v w".into()), ("x", "&".into())]),
            "k=v%20w&x=%26"
        );
        assert_eq!(render("{a}-{b}-{a}", &[("a", "1"), ("b", "2")]), "1-2-1");
        assert_eq!(unknown_placeholders("{a}{c}", &["a"]), ["{c}"]);
        // RFC 4231 test case 2.
        let mac = hmac(Digest::Sha256, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
