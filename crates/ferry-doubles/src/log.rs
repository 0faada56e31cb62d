//! The log of requests a double received, for tests to assert on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, Method, Uri};
use serde::Serialize;

use crate::faults::glob_matches;

/// One request as the double saw it. Credentials are masked: header and query values whose
/// names say they hold a secret read `****` (`Authorization` keeps its scheme, `Bearer ****`;
/// a cookie keeps its name, `sid=****`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// 1 for the first request since the start or the last reset.
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// The query string, masked; absent when the URL had none.
    pub query: Option<String>,
    /// Header names in lower case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The status answered; absent while the request is in flight or when the connection
    /// was closed before an answer.
    pub status: Option<u16>,
    /// The faults that acted on the request (see [`crate::FaultAction::describe`]).
    pub faults: Vec<String>,
}

impl LoggedRequest {
    /// The (masked) value of one query parameter, percent-encoding left as sent.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// The requests a double received, oldest first. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<Vec<LoggedRequest>>>,
}

impl RequestLog {
    /// Every logged request.
    pub fn all(&self) -> Vec<LoggedRequest> {
        self.lock().clone()
    }

    /// The requests with this method whose path matches `pattern` (as in faults).
    pub fn matching(&self, method: &str, pattern: &str) -> Vec<LoggedRequest> {
        self.lock()
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && glob_matches(pattern, &r.path))
            .cloned()
            .collect()
    }

    /// Forgets every request; numbering starts again at 1.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Logs a request on arrival and returns its number.
    pub(crate) fn begin(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> u64 {
        let mut entries = self.lock();
        let seq = entries.len() as u64 + 1;
        entries.push(LoggedRequest {
            seq,
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(mask_query),
            headers: mask_headers(headers),
            status: None,
            faults: Vec::new(),
        });
        seq
    }

    /// Records the faults that acted on request `seq`.
    pub(crate) fn faults(&self, seq: u64, acted: Vec<String>) {
        if let Some(entry) = self.lock().iter_mut().find(|r| r.seq == seq) {
            entry.faults = acted;
        }
    }

    /// Records the status answered to request `seq`.
    pub(crate) fn answered(&self, seq: u64, status: u16) {
        if let Some(entry) = self.lock().iter_mut().find(|r| r.seq == seq) {
            entry.status = Some(status);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<LoggedRequest>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Parts of a header or parameter name that say its value is a credential.
const SECRET_NAMES: [&str; 11] = [
    "auth",
    "cookie",
    "token",
    "secret",
    "password",
    "api-key",
    "api_key",
    "apikey",
    "appkey",
    "session",
    "signature",
];

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| name.contains(s))
}

const MASK: &str = "****";

fn mask_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let masked = mask_header(name.as_str(), &value);
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&masked);
            })
            .or_insert(masked);
    }
    out
}

fn mask_header(name: &str, value: &str) -> String {
    match name {
        "authorization" | "proxy-authorization" => match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} {MASK}"),
            None => MASK.to_owned(),
        },
        "cookie" | "set-cookie" => value
            .split(';')
            .map(|c| match c.trim().split_once('=') {
                Some((k, _)) => format!("{k}={MASK}"),
                None => c.trim().to_owned(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ if is_secret_name(name) => MASK.to_owned(),
        _ => value.to_owned(),
    }
}

fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}={MASK}"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn credentials_are_masked_and_the_rest_kept() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer abc123"));
        headers.insert("cookie", HeaderValue::from_static("sid=s3cr3t; lang=zh"));
        headers.insert("x-api-key", HeaderValue::from_static("k-42"));
        headers.insert("x-kd-appkey", HeaderValue::from_static("k-43"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers.append("accept", HeaderValue::from_static("text/xml"));
        let masked = mask_headers(&headers);
        assert_eq!(masked["authorization"], "Bearer ****");
        assert_eq!(masked["cookie"], "sid=****; lang=****");
        assert_eq!(masked["x-api-key"], "****");
        assert_eq!(masked["x-kd-appkey"], "****");
        assert_eq!(masked["accept"], "application/json, text/xml");
        assert_eq!(
            mask_query("access_token=t0k&page=2&client_secret=x"),
            "access_token=****&page=2&client_secret=****"
        );
    }
}
