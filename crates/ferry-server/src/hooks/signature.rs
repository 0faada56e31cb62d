//! Webhook signatures: `X-Ferry-Signature: sha256=<hex>` is HMAC-SHA256, keyed with the
//! system's secret, over `<X-Ferry-Timestamp> + "." + <body>`; the timestamp is Unix
//! seconds. Compared in constant time (`Mac::verify_slice`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-ferry-timestamp";
/// The signature header (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-ferry-signature";

type HmacSha256 = Hmac<Sha256>;

/// The signature of `body` sent at `timestamp`, as the header carries it (`sha256=<hex>`).
/// Senders and tests use it; the server verifies with [`verify`].
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("sha256={}", hex::encode(tag))
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks a signature header value; `Err` says why it does not check out.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> Result<(), String> {
    let hex_part = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or("the signature must be `sha256=<hex>`")?;
    let tag = hex::decode(hex_part).map_err(|_| "the signature is not hex".to_owned())?;
    mac(secret, timestamp, body)
        .verify_slice(&tag)
        .map_err(|_| "the signature does not match the body and timestamp".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // printf '1700000000.{"id":"1"}' | openssl dgst -sha256 -hmac '0123456789abcdef'
        let sig = sign(b"0123456789abcdef", "1700000000", br#"{"id":"1"}"#);
        assert_eq!(
            sig,
            "sha256=d5f5834972cbc6cf5590800c46ccaa0cd6c16f19c0c73dbdf9b4c56390cbc2a3"
        );
        assert!(verify(b"0123456789abcdef", "1700000000", br#"{"id":"1"}"#, &sig).is_ok());
        assert!(verify(b"0123456789abcdeX", "1700000000", br#"{"id":"1"}"#, &sig).is_err());
        assert!(verify(b"0123456789abcdef", "1700000001", br#"{"id":"1"}"#, &sig).is_err());
        assert!(verify(b"0123456789abcdef", "1700000000", br#"{"id":"2"}"#, &sig).is_err());
        assert!(verify(b"0123456789abcdef", "1700000000", b"", "sha1=00").is_err());
        assert!(verify(b"0123456789abcdef", "1700000000", b"", "sha256=zz").is_err());
    }
}
