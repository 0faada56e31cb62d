//! The OAuth 2.0 JWT bearer grant (RFC 7523 §2.1): Salesforce's server-to-server flow.
//!
//! The assertion is signed with ring, the crypto provider the binary already carries for
//! TLS, instead of a JWT crate: `jsonwebtoken` 12 signs RSA only through `aws-lc-rs` (a C
//! build) or RustCrypto's `rsa` with a whole elliptic-curve stack beside it, for ~40 lines
//! of base64 and one signature here.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaEncoding, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::Auth;
use super::settings::Issues;
use super::token::{Grant, OAuth2};

/// How long an assertion is valid: Salesforce accepts at most three minutes.
const LIFETIME: Duration = Duration::from_secs(180);

/// The JWS algorithm of the assertion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Salesforce, Google).
    #[default]
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (NetSuite's OAuth 2.0 client credentials).
    PS256,
}

impl JwtAlgorithm {
    fn encoding(self) -> &'static dyn RsaEncoding {
        match self {
            JwtAlgorithm::RS256 => &signature::RSA_PKCS1_SHA256,
            JwtAlgorithm::RS384 => &signature::RSA_PKCS1_SHA384,
            JwtAlgorithm::RS512 => &signature::RSA_PKCS1_SHA512,
            JwtAlgorithm::PS256 => &signature::RSA_PSS_SHA256,
        }
    }
}

/// `type: jwt_bearer`: a token obtained with an assertion signed by the private key whose
/// certificate is registered with the provider (Salesforce connected app). No secret is
/// sent: only the key can sign.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtBearerSettings {
    /// The token endpoint (`https://login.salesforce.com/services/oauth2/token`).
    pub token_url: String,
    /// `iss`: the client id (Salesforce: the connected app's consumer key).
    pub issuer: String,
    /// `sub`: the user the token acts for (Salesforce: the user name).
    pub subject: String,
    /// `aud`: who the assertion is for (`https://login.salesforce.com`, or `test.` for a
    /// sandbox).
    pub audience: String,
    /// The RSA private key, PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE
    /// KEY`), usually from the environment; `\n` escapes are read as line breaks.
    pub private_key: String,
    /// `kid` in the JWT header, for providers that hold several keys (NetSuite: the
    /// certificate id).
    #[serde(default)]
    pub key_id: Option<String>,
    /// `RS256` (default), `RS384`, `RS512` or `PS256`.
    #[serde(default)]
    pub algorithm: JwtAlgorithm,
}

/// Signs JWT assertions with one RSA key.
struct JwtBearer {
    header: String,
    issuer: String,
    subject: String,
    audience: String,
    algorithm: JwtAlgorithm,
    key: RsaKeyPair,
    pem: String,
}

impl JwtBearer {
    /// A signed assertion issued at `now` (seconds since the epoch).
    fn assertion(&self, now: u64) -> Result<String, ConnectorError> {
        let claims = json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "iat": now,
            "exp": now + LIFETIME.as_secs(),
            "jti": super::encode::nonce(),
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signed = format!("{}.{}", self.header, b64.encode(claims.to_string()));
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                self.algorithm.encoding(),
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut sig,
            )
            .map_err(|_| ConnectorError::fatal("cannot sign the JWT assertion"))?;
        Ok(format!("{signed}.{}", b64.encode(sig)))
    }
}

impl Grant for JwtBearer {
    fn name(&self) -> &'static str {
        "jwt-bearer"
    }
    fn fields(&self) -> Result<Vec<(&'static str, String)>, ConnectorError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
            ),
            ("assertion", self.assertion(now.as_secs())?),
        ])
    }
    fn secrets(&self) -> Vec<String> {
        vec![self.pem.clone()]
    }
}

/// The RSA key in `pem`, or why not.
fn rsa_key(pem: &str) -> Result<RsaKeyPair, String> {
    let pem = if pem.contains('\n') {
        pem.to_owned()
    } else {
        pem.replace("\\n", "\n")
    };
    let der = PrivateKeyDer::from_pem_slice(pem.trim().as_bytes())
        .map_err(|_| "is not a PEM private key (`-----BEGIN PRIVATE KEY-----` …)".to_owned())?;
    let key = match &der {
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => return Err("is not an RSA key (the RS and PS algorithms need one)".to_owned()),
    };
    key.map_err(|e| format!("is not a usable RSA key ({e})"))
}

impl JwtBearerSettings {
    /// Checks the settings and builds the [`Auth`].
    pub fn build(&self) -> Result<Arc<dyn Auth>, Vec<ConfigIssue>> {
        let mut issues = Issues::default();
        issues.url("token_url", &self.token_url);
        issues.required("issuer", &self.issuer, "client id");
        issues.required("subject", &self.subject, "user name");
        issues.required("audience", &self.audience, "audience");
        issues.required("private_key", &self.private_key, "private key");
        let key = rsa_key(&self.private_key);
        if let (Err(reason), false) = (&key, self.private_key.trim().is_empty()) {
            issues.add("private_key", reason.clone());
        }
        issues.finish()?;
        let key = key.map_err(|_| Vec::new())?;
        let mut header = json!({"alg": format!("{:?}", self.algorithm), "typ": "JWT"});
        if let Some(kid) = self.key_id.as_deref().filter(|k| !k.trim().is_empty()) {
            header["kid"] = json!(kid.trim());
        }
        let grant = JwtBearer {
            header: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string()),
            issuer: self.issuer.trim().to_owned(),
            subject: self.subject.trim().to_owned(),
            audience: self.audience.trim().to_owned(),
            algorithm: self.algorithm,
            key,
            pem: self.private_key.clone(),
        };
        Ok(Arc::new(OAuth2::new(
            self.token_url.trim(),
            None,
            Box::new(grant),
        )))
    }
}
