//! How a run of the Salesforce double behaves: the connected app, the user, token lifetime,
//! query batch size, the daily API limit, CDC retention and the test key pair for the JWT
//! bearer flow.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The consumer key of the test connected app.
pub const CLIENT_ID: &str = "3MVG9ferryTestConsumerKey.double";
/// Its consumer secret.
pub const CLIENT_SECRET: &str = "sf-test-consumer-s3cret";
/// The "Run As" user of client credentials, and the `sub` the JWT bearer flow accepts.
pub const USERNAME: &str = "integration@ferry-test.example";
/// The org id (15 characters), the prefix of every access token.
pub const ORG_ID: &str = "00D5g000004FeRy";
/// The integration user's id.
pub const USER_ID: &str = "0055g00000FeRyUAAR";
/// The API version the double answers as its own (any `v46.0` and later is served).
pub const API_VERSION: &str = "v60.0";

/// A 2048-bit RSA private key (PKCS#8 DER, base64) whose public half the default
/// configuration trusts for JWT bearer assertions. A test key: never use it elsewhere.
pub const TEST_JWT_PRIVATE_KEY_PKCS8: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC+QptxPpiWE+NcFLipqvpym01X0YM9xaXBDD48VCt7LYN+jQ/z0EdRFRzeYcKD6y3c/J84AvVHCwTPlJdXJHZk51X8kzlN7st1bj7w1iZJ4NvpDCqWTdhPtxeVxFCGoqeOoOlalYOFlRT3Kt/683EoEX8RYwWX7Ki9IYyTe/cKP9bbSzknWWBIhbGktpTCaySV/jLDp5hiqE+iQW8m5vNh3BFcd/Q8CEVNmEXsN/1bWTC3EXLl/MnJeyTedkDRe0lIodmR0SWCMhfSw0yXOG9acrPx2K/qI6D+Xc3CAGGHus/RN99bRTL7+2e1jtBWYnQqC8DwKtgPAbYk/PAFsOMjAgMBAAECggEAQZ5hVBZds+0aDikLY2EXza0oaLBWzlg7ibA6Sr5Q3MPexSfLp7Be2GUqtrwKxUq4X641D7FdfOoc96bs514pAzYSHvF74xgHzfF+/bsuK27FCcRrb7lbcGraVIoHp9ezaGqw8M/+M3UubOy5oSiTD1mxdIKtbC9wJwLKJBeuJTc0HyxiSfTfqneWpY8A10hi/Y3He4o6CSWvzQDzmO1e+qHvIr6bLUbAS4cJj6ox7V2FuwDrQDM6D2TkC4HQHMKRdFZMYlSYgWnWkIXpa6GChnQC/ywtNGM2ZCWQjZc85n+0D836xFMtoqqeUDtLkjw29v8xao5PY6KqHTpI5Lp5MQKBgQD3U8IicMytRWkjIR5TZwWT3axgXeVFzRJ5fK1J+zuyqxh+aXIUMyQV6p5ebIqf8Nldjg7lJlrOIq9M+FJU7kOnUecrqB+nIYoNm9PSyeW57cxs3NbwCiP8g9Ebrl4cEzaKL46V1BL4ZaMc6OP/sWOlTVKuTXVFRRXZb29S9ibq6wKBgQDE7o/Po5aRhHwZ2A5hVpSk5GQ0FHzMKfguHmmE15MEMCgA8GX0MjtXzkNRZkmIDUJYu3VOHj6BIcYVth63P932fYK1sq77LYnhEyD4gqnQjOk4WzP249VXuAQTBl+iovUeAfQwwT4CHjJRCrFF5VcjAAkQK1wWfL7vXT2Jro/qqQKBgBSyIZCYN8hYApA5+TupZ0IUTpRRxxmsK1uXHzkNmNU+k/IgCLe//8kFtPLZyk/P66B0frKWHwsYw+qA7QLGXUrnA50XmG531AGHhJYi5uJED9McN7AmaRR8Q0c5tA5NXUb668eF04CNoLSOmGWRBnGSotSLDsEZItbrCDm890y5AoGAKVIA/MlPU3Mf8vBBfC0FfV+qor7VvKTlvQ+GhmgRIeTUz/Wg/s73YqIVv+OddB2MGUAkCeMQrFmgzXdsFHkjIpANOACo9G0GrCIuXdZUuTyHxtpkGd6OKhyjRjalJGPa2JQCX6R8VUduuVBsB8VqNh7QyALBDLrZ+TFwMw5chhkCgYEA4B4pGKCiRzPbNeOVWm3TcB+uWnDBapgMSOo/xN5p+LXbZ9UTFhqKdqsDML2n2f+eZjJJOIR3NdTKeuGMkFXp8qdc8Pfir2LWSMmscwvPq4dGmp5blVOPve23u1wQrMxPBDBs+VQvn0BrZWKG6bg99ajcfABB+VWu4VFV7ReVLzg=";

/// The test private key as DER bytes.
pub fn test_private_key_der() -> Vec<u8> {
    STANDARD
        .decode(TEST_JWT_PRIVATE_KEY_PKCS8)
        .expect("the test key is base64")
}

/// One run of the Salesforce double. `SalesforceConfig::default()` holds the test values
/// above, a Developer-edition daily limit (15,000) and the documented 72 h CDC retention.
#[derive(Clone, Debug, PartialEq)]
pub struct SalesforceConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The one user tokens are issued for.
    pub username: String,
    /// The certificate's public key for JWT bearer: PKCS#1 `RSAPublicKey` DER. None: JWT
    /// assertions are refused (`invalid_grant`).
    pub jwt_public_key: Option<Vec<u8>>,
    /// Token lifetime (the org's session timeout); each use renews it (sliding).
    pub token_ttl: Duration,
    /// The scope tokens carry; without `api` (or `full`) every REST call answers 401
    /// `INVALID_SESSION_ID` with the "not valid for use with the REST API" message.
    pub scope: String,
    /// Largest page of a query; the client's `Sforce-Query-Options: batchSize` can only
    /// lower it (documented range 200..2000).
    pub query_batch_size: usize,
    /// The daily API request allocation answered in `Sforce-Limit-Info`.
    pub daily_api_limit: u64,
    /// Requests counted as used at start and after every reset.
    pub api_usage_start: u64,
    /// How long change events stay replayable (by the harness clock).
    pub cdc_retention: Duration,
    /// How long a CometD `/meta/connect` waits for an event before answering empty.
    pub cometd_poll: Duration,
    /// Polls of a closed Bulk 2.0 job answered `InProgress` before it completes.
    pub bulk_polls_in_progress: u32,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            username: USERNAME.into(),
            jwt_public_key: Some(super::jwt::public_key_of(&test_private_key_der())),
            token_ttl: Duration::from_secs(2 * 3600),
            scope: "api".into(),
            query_batch_size: 2000,
            daily_api_limit: 15_000,
            api_usage_start: 0,
            cdc_retention: Duration::from_secs(72 * 3600),
            cometd_poll: Duration::from_secs(10),
            bulk_polls_in_progress: 1,
        }
    }
}
