//! The event-push crypto (事件订阅 加密加签), as the dossier reads the official isv-demo:
//!
//! - AES key: the app secret without `-`, cut or right-padded with `0` to 43 characters,
//!   plus `=`, Base64-decoded → 32 bytes (AES-256); IV = the key's first 16 bytes.
//! - Plaintext: 16 random bytes + the message length (4 bytes, big-endian) + the message
//!   + the app key; PKCS#7-padded to a multiple of **32**; AES/CBC/NoPadding; Base64.
//! - Signature (variant "C"): Base64(HmacSHA256(key = app secret, msg = the timestamp
//!   (as text), nonce and encrypt sorted and concatenated)).
//!
//! A push body is `{"signature", "timestamp" (ms, a number), "nonce", "encrypt"}`; the
//! expected reply is the encrypted `success` in the same shape.

use aes::Aes256;
use base64::Engine;
use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::token::hmac_sha256_base64;

/// The padding block of the plaintext (the demo's `PKCS7Encoder.BLOCK_SIZE`).
pub const PAD_BLOCK: usize = 32;

/// Why a push body could not be opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the app secret does not make an AES-256 key (Base64 of its 43 characters)")]
    BadSecret,
    #[error("encrypt is not Base64")]
    NotBase64,
    #[error("the ciphertext is not a whole number of AES blocks")]
    NotBlocks,
    #[error("the plaintext is too short or its length field is wrong")]
    BadLayout,
    #[error("the plaintext ends with `{0}`, not the app key")]
    WrongAppKey(String),
    #[error("the message is not UTF-8")]
    NotUtf8,
    #[error("the signature does not match")]
    BadSignature,
}

/// A push (or reply) body: `{"signature", "timestamp", "nonce", "encrypt"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedEvent {
    pub signature: String,
    /// Milliseconds since the epoch; signed as its decimal text.
    pub timestamp: u64,
    pub nonce: String,
    pub encrypt: String,
}

/// The crypto of one self-built app: its key (`appKey`, checked at the plaintext's tail)
/// and secret (the AES key and the HMAC key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventCrypto {
    app_key: String,
    app_secret: String,
}

/// Base64 that, as Java's decoders, accepts non-zero bits after the last full byte.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

impl EventCrypto {
    pub fn new(app_key: &str, app_secret: &str) -> Self {
        Self {
            app_key: app_key.to_owned(),
            app_secret: app_secret.to_owned(),
        }
    }

    /// The 32-byte AES key derived from the app secret.
    pub fn aes_key(&self) -> Result<[u8; 32], CryptoError> {
        let mut k43: String = self
            .app_secret
            .chars()
            .filter(|c| *c != '-')
            .take(43)
            .collect();
        while k43.chars().count() < 43 {
            k43.push('0');
        }
        let bytes = LENIENT
            .decode(format!("{k43}="))
            .map_err(|_| CryptoError::BadSecret)?;
        bytes.try_into().map_err(|_| CryptoError::BadSecret)
    }

    /// `encrypt` of `message`, with 16 random leading bytes.
    pub fn encrypt(&self, message: &str) -> Result<String, CryptoError> {
        self.encrypt_with(message, rand::random())
    }

    /// `encrypt` of `message` with the given leading bytes (for fixed test vectors).
    pub fn encrypt_with(&self, message: &str, random: [u8; 16]) -> Result<String, CryptoError> {
        let key = self.aes_key()?;
        let length = u32::try_from(message.len()).map_err(|_| CryptoError::BadLayout)?;
        let mut plain = random.to_vec();
        plain.extend(length.to_be_bytes());
        plain.extend(message.as_bytes());
        plain.extend(self.app_key.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(0), pad));
        let length = plain.len();
        let cipher = cbc::Encryptor::<Aes256>::new_from_slices(&key, &key[..16])
            .map_err(|_| CryptoError::BadSecret)?;
        let sealed = cipher
            .encrypt_padded::<NoPadding>(&mut plain, length)
            .map_err(|_| CryptoError::NotBlocks)?;
        Ok(STANDARD.encode(sealed))
    }

    /// The message inside `encrypt`, after checking the app key at its tail.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let key = self.aes_key()?;
        let mut data = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| CryptoError::NotBase64)?;
        let cipher = cbc::Decryptor::<Aes256>::new_from_slices(&key, &key[..16])
            .map_err(|_| CryptoError::BadSecret)?;
        let plain = cipher
            .decrypt_padded::<NoPadding>(&mut data)
            .map_err(|_| CryptoError::NotBlocks)?;
        let plain = unpad(plain);
        let length = plain
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(CryptoError::BadLayout)?;
        let end = 20 + usize::try_from(length).map_err(|_| CryptoError::BadLayout)?;
        let message = plain.get(20..end).ok_or(CryptoError::BadLayout)?;
        let tail = String::from_utf8_lossy(&plain[end..]).into_owned();
        if tail != self.app_key {
            return Err(CryptoError::WrongAppKey(tail));
        }
        String::from_utf8(message.to_vec()).map_err(|_| CryptoError::NotUtf8)
    }

    /// The signature of a push body (variant C).
    pub fn sign(&self, timestamp: u64, nonce: &str, encrypt: &str) -> String {
        let mut parts = [timestamp.to_string(), nonce.to_owned(), encrypt.to_owned()];
        parts.sort();
        hmac_sha256_base64(&self.app_secret, &parts.concat())
    }

    /// `message` encrypted and signed at `timestamp` with `nonce`.
    pub fn seal(
        &self,
        message: &str,
        timestamp: u64,
        nonce: &str,
    ) -> Result<SealedEvent, CryptoError> {
        let encrypt = self.encrypt(message)?;
        Ok(SealedEvent {
            signature: self.sign(timestamp, nonce, &encrypt),
            timestamp,
            nonce: nonce.to_owned(),
            encrypt,
        })
    }

    /// The message of a sealed body, after checking its signature.
    pub fn open(&self, sealed: &SealedEvent) -> Result<String, CryptoError> {
        let expected = self.sign(sealed.timestamp, &sealed.nonce, &sealed.encrypt);
        if expected != sealed.signature {
            return Err(CryptoError::BadSignature);
        }
        self.decrypt(&sealed.encrypt)
    }

    /// Reads a JSON body as a sealed event; the timestamp may be a number or numeric text.
    pub fn parse_sealed(body: &Value) -> Option<SealedEvent> {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let timestamp = match body.get("timestamp")? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some(SealedEvent {
            signature: text("signature")?,
            timestamp,
            nonce: text("nonce")?,
            encrypt: text("encrypt")?,
        })
    }
}

/// Removes PKCS#7 padding of block 32: a last byte 1..=32 drops that many bytes; any other
/// value drops none (as the demo does).
fn unpad(plain: &[u8]) -> &[u8] {
    let pad = plain.last().map_or(0, |b| usize::from(*b));
    if (1..=PAD_BLOCK).contains(&pad) && pad <= plain.len() {
        &plain[..plain.len() - pad]
    } else {
        plain
    }
}

/// A random nonce of 16 letters and digits.
pub fn nonce() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypto() -> EventCrypto {
        EventCrypto::new("yy-app-key", "yy-app-s3cret")
    }

    #[test]
    fn the_key_is_the_secret_without_dashes_padded_with_zeros() {
        let key = crypto().aes_key().unwrap();
        let expected = STANDARD
            .decode("yyapps3cret00000000000000000000000000000000=")
            .unwrap();
        assert_eq!(key.to_vec(), expected);
        let long = EventCrypto::new("k", &"a1-".repeat(30));
        assert_eq!(long.aes_key().unwrap().len(), 32);
    }

    #[test]
    fn a_message_round_trips_and_pads_to_32() {
        let c = crypto();
        let sealed = c.encrypt_with("{\"type\":\"CHECK_URL\"}", [7; 16]).unwrap();
        let raw = STANDARD.decode(&sealed).unwrap();
        // 16 + 4 + 20 + 10 = 50 bytes, padded to 64.
        assert_eq!(raw.len(), 64);
        assert_eq!(c.decrypt(&sealed).unwrap(), "{\"type\":\"CHECK_URL\"}");
        let other = EventCrypto::new("other-key", "yy-app-s3cret");
        assert_eq!(
            other.decrypt(&sealed).unwrap_err(),
            CryptoError::WrongAppKey("yy-app-key".into())
        );
    }

    /// Computed independently with Python's `cryptography`, following the dossier's
    /// receiver sample.
    #[test]
    fn a_known_answer_from_an_independent_implementation() {
        let c = crypto();
        let encrypt = c.encrypt_with("{\"type\":\"CHECK_URL\"}", [7; 16]).unwrap();
        assert_eq!(
            encrypt,
            "uWO6e1tQGyvEITXy6LKjrpLHkSTjTzhuWi8EwHZKvQ826NHEzCU/NXIDbJUluk1ju0KHCmTeavJjsw3kzVzm9g=="
        );
        assert_eq!(
            c.sign(1_530_862_251_583, "uM48M4qajlEtVCz4", &encrypt),
            "mddJohRRpiPk2MszQcq42Ibu6V2suXOE1LE5ZYQkhmk="
        );
    }

    #[test]
    fn seals_open_only_with_their_signature() {
        let c = crypto();
        let mut sealed = c
            .seal("success", 1_530_862_251_583, "uM48M4qajlEtVCz4")
            .unwrap();
        assert_eq!(sealed.signature.len(), 44);
        assert_eq!(c.open(&sealed).unwrap(), "success");
        sealed.nonce.push('x');
        assert_eq!(c.open(&sealed).unwrap_err(), CryptoError::BadSignature);
        assert_eq!(nonce().len(), 16);
    }
}
