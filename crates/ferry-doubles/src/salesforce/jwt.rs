//! The JWT bearer assertion (dossier §1): `header.claims.signature`, base64url, RS256,
//! claims `iss` = consumer key, `sub` = username, `aud` = the login host, `exp` at most
//! 3 minutes ahead. The signature is verified with ring against the configured public key.
//! Expiry is judged by the machine's real clock (the harness clock may be frozen in 2024).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};

use super::config::test_private_key_der;

/// Audiences accepted besides the double's own base URL.
pub const AUDIENCES: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];

/// The PKCS#1 public key of a PKCS#8 RSA private key.
pub fn public_key_of(pkcs8: &[u8]) -> Vec<u8> {
    let pair = RsaKeyPair::from_pkcs8(pkcs8).expect("an RSA PKCS#8 key");
    pair.public_key().as_ref().to_vec()
}

/// An RS256 assertion over `claims`, signed with `pkcs8` (for tests and connector tests).
pub fn sign(claims: &Value, pkcs8: &[u8]) -> String {
    let pair = RsaKeyPair::from_pkcs8(pkcs8).expect("an RSA PKCS#8 key");
    let head = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{head}.{body}");
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("RSA signing works");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// An assertion for `claims` signed with the double's test key.
pub fn sign_with_test_key(claims: &Value) -> String {
    sign(claims, &test_private_key_der())
}

/// Why an assertion is refused (answered `invalid_grant` with the text).
pub type Refusal = &'static str;

/// What a well-signed assertion says.
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
}

/// Reads `assertion` and checks its signature with `public_key` (PKCS#1 DER).
pub fn verify(assertion: &str, public_key: &[u8]) -> Result<Claims, Refusal> {
    let mut parts = assertion.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("invalid assertion");
    };
    let header: Value = decode(head).ok_or("invalid assertion")?;
    if header["alg"] != "RS256" {
        return Err("invalid assertion");
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| "invalid assertion")?;
    let key = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key);
    key.verify(format!("{head}.{body}").as_bytes(), &sig)
        .map_err(|_| "invalid assertion")?;
    let claims: Value = decode(body).ok_or("invalid assertion")?;
    let text = |k: &str| claims[k].as_str().unwrap_or_default().to_owned();
    let aud = match &claims["aud"] {
        Value::Array(list) => list
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        _ => text("aud"),
    };
    Ok(Claims {
        iss: text("iss"),
        sub: text("sub"),
        aud,
        exp: claims["exp"].as_i64().ok_or("invalid assertion")?,
    })
}

fn decode(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_assertion_verifies_and_a_tampered_one_does_not() {
        let key = public_key_of(&test_private_key_der());
        let jwt = sign_with_test_key(&json!({"iss": "a", "sub": "b", "aud": "c", "exp": 5}));
        assert_eq!(verify(&jwt, &key).map(|c| c.exp), Ok(5));
        let (rest, _) = jwt.rsplit_once('.').unwrap();
        let forged = format!("{rest}.{}", URL_SAFE_NO_PAD.encode([0u8; 256]));
        assert!(verify(&forged, &key).is_err());
    }
}
