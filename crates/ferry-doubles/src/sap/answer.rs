//! What the double answers with: a [`Reply`] (also one operation's answer inside `$batch`),
//! SAP Gateway's error body and the `sap-message` warning header.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub use crate::reply::Reply;

impl Reply {
    /// A warning in the `sap-message` header, on a successful answer.
    pub fn warning(self, code: &str, message: &str) -> Self {
        let note = json!({"code": code, "message": message, "longtext_url": "",
                          "severity": "warning", "target": "", "details": []});
        self.header("sap-message", note.to_string())
    }
}

/// One entry of `innererror.errordetails`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub code: String,
    pub message: String,
    pub target: String,
}

/// An error in SAP Gateway's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SapError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Vec<Detail>,
}

impl SapError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            code: code.to_owned(),
            details: vec![Detail {
                code: code.to_owned(),
                message: message.clone(),
                target: String::new(),
            }],
            message,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A further message in `errordetails` (the first is the main message).
    pub fn detail(mut self, code: &str, message: impl Into<String>, target: &str) -> Self {
        self.details.push(Detail {
            code: code.to_owned(),
            message: message.into(),
            target: target.to_owned(),
        });
        self
    }

    /// A syntax error in the URI or its query options.
    pub fn syntax(message: impl Into<String>) -> Self {
        Self::bad_request("/IWBEP/CM_MGW_RT/022", message)
    }

    pub fn not_found(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "/IWBEP/CM_MGW_RT/020",
            format!("Resource not found for segment '{segment}'"),
        )
    }

    /// An unknown or inactive service: 403, as the recorded on-prem system answers.
    pub fn no_service(name: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "/IWFND/MED/170",
            format!("No service found for namespace '/SAP/', name '{name}', version '0001'"),
        )
    }

    pub fn method_not_allowed(method: &str, what: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "/IWBEP/CM_MGW_RT/021",
            format!("Method '{method}' not allowed for '{what}'"),
        )
    }

    pub fn stale_etag() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "/IWBEP/CM_MGW_RT/098",
            "Precondition failed: the entity was changed since the ETag was read",
        )
    }

    pub fn etag_required() -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "/IWBEP/CM_MGW_RT/099",
            "Precondition required: send If-Match with the entity's ETag",
        )
    }

    /// The body of `§6`: code, `message {lang, value}`, `innererror` with the service,
    /// a transaction id, a timestamp, `Error_Resolution` and `errordetails`.
    pub fn body(&self, service: &str, at: DateTime<Utc>) -> Value {
        let details: Vec<Value> = self
            .details
            .iter()
            .map(|d| {
                json!({"code": d.code, "message": d.message, "longtext_url": "",
                       "propertyref": "", "severity": "error", "target": d.target})
            })
            .collect();
        let transaction: String = (0..16)
            .map(|_| format!("{:02X}", rand::random::<u8>()))
            .collect();
        json!({"error": {
            "code": self.code,
            "message": {"lang": "en", "value": self.message},
            "innererror": {
                "application": {"component_id": component(service), "service_namespace": "/SAP/",
                                "service_id": service.split(';').next().unwrap_or(service),
                                "service_version": "0001"},
                "transactionid": transaction,
                "timestamp": at.format("%Y%m%d%H%M%S.%f").to_string().chars().take(22).collect::<String>(),
                "Error_Resolution": {
                    "SAP_Transaction": "For backend administrators: use ADT feed reader \"SAP Gateway Error Log\" or run transaction /IWFND/ERROR_LOG on SAP Gateway hub system and search for entries with the timestamp above for more details",
                    "SAP_Note": "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)"
                },
                "errordetails": details,
            }
        }})
    }

    pub fn reply(&self, service: &str, at: DateTime<Utc>) -> Reply {
        Reply::json(self.status, &self.body(service, at))
    }
}

/// The application component named in `innererror.application`.
fn component(service: &str) -> &'static str {
    match service.split(';').next().unwrap_or("") {
        "API_SALES_ORDER_SRV" => "SD-SLS-API",
        "API_BILLING_DOCUMENT_SRV" => "SD-BIL-API",
        "API_OUTBOUND_DELIVERY_SRV" => "LE-SHP-API",
        "API_PRODUCT_SRV" => "LO-MD-MM-API",
        _ => "LO-MD-BP-API",
    }
}

/// The answer to a modifying request without a valid CSRF token.
pub fn csrf_required() -> Reply {
    Reply::new(
        StatusCode::FORBIDDEN,
        "text/plain; charset=utf-8",
        "CSRF token validation failed",
    )
    .header("x-csrf-token", "Required")
}

/// The answer to a request without valid credentials: 401 with a Basic challenge and the
/// ICF logon error page's text.
pub fn unauthorized(system: &str, client: &str) -> Reply {
    Reply::new(
        StatusCode::UNAUTHORIZED,
        "text/html; charset=utf-8",
        "<html><head><title>Logon Error Message</title></head><body>Anmeldung fehlgeschlagen / Logon failed</body></html>",
    )
    .header(
        "www-authenticate",
        format!("Basic realm=\"SAP NetWeaver Application Server [{system}/{client}]\""),
    )
}
