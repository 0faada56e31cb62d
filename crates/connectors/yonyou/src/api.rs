//! The tenant's API: where it is (the data-centre lookup), and the calls the connector
//! makes on its gateway.
//!
//! A tenant's hosts are not fixed: `GET {url}/open-auth/dataCenter/getGatewayAddress?
//! tenantId=` answers its `tokenUrl` and `gatewayUrl` (or the settings give both). The
//! lookup is made on the first call, and the gateway's client is built then, with the
//! gateway as its base URL: the kit never sends credentials to another origin than its
//! client's, and the gateway (`c2.yonyoucloud.com`) is not the lookup host. Every business
//! call goes through that one client, so all flows of the system share its token, rate and
//! quota. Times cross as `yyyy-MM-dd HH:mm:ss` in the server's zone.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use ferry_kit::http::{Call, HttpClient, HttpOptions, NoAuth, Url};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::reply::{Envelope, GatewayCheck, text};
use crate::token::AppToken;

/// The data-centre lookup, under the configured `url`.
pub const LOOKUP_PATH: &str = "open-auth/dataCenter/getGatewayAddress";
/// How Yonyou writes times.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Who the connector is to the tenant.
#[derive(Clone)]
pub struct App {
    pub tenant_id: String,
    pub app_key: String,
    pub app_secret: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("tenant_id", &self.tenant_id)
            .field("app_key", &self.app_key)
            .finish_non_exhaustive()
    }
}

/// The tenant's gateway, once found: its client and the token it carries.
#[derive(Debug)]
pub struct Gateway {
    pub http: HttpClient,
    /// The token, for tests to count how many were taken.
    #[cfg(test)]
    pub token: Arc<AppToken>,
}

/// One tenant's API.
#[derive(Debug, Clone)]
pub struct Api {
    /// The lookup host's client (no credentials).
    lookup: HttpClient,
    system: String,
    options: HttpOptions,
    app: App,
    /// `(tokenUrl, gatewayUrl)` from the settings, if given.
    fixed: Option<(String, String)>,
    gateway: Arc<OnceCell<Gateway>>,
    /// The server's time zone.
    pub zone: FixedOffset,
}

impl Api {
    pub fn new(
        system: &str,
        options: HttpOptions,
        app: App,
        fixed: Option<(String, String)>,
        zone: FixedOffset,
    ) -> Result<Self, ConnectorError> {
        let lookup = HttpClient::new(system, options.clone(), Arc::new(NoAuth))?;
        Ok(Self {
            lookup,
            system: system.to_owned(),
            options,
            app,
            fixed,
            gateway: Arc::new(OnceCell::new()),
            zone,
        })
    }

    /// The gateway, found on first use.
    pub async fn gateway(&self) -> Result<&Gateway, ConnectorError> {
        self.gateway.get_or_try_init(|| self.find_gateway()).await
    }

    async fn find_gateway(&self) -> Result<Gateway, ConnectorError> {
        let (token_url, gateway_url) = match &self.fixed {
            Some(urls) => urls.clone(),
            None => self.look_up().await?,
        };
        let base = Url::parse(&format!("{}/", gateway_url.trim_end_matches('/'))).map_err(|e| {
            ConnectorError::fatal(format!(
                "the gateway URL `{gateway_url}` is not a URL ({e})"
            ))
        })?;
        let token = Arc::new(AppToken::new(
            &token_url,
            &self.app.app_key,
            &self.app.app_secret,
        ));
        let options = HttpOptions {
            base,
            ..self.options.clone()
        };
        let http = HttpClient::new(
            &self.system,
            options,
            token.clone() as Arc<dyn ferry_kit::http::Auth>,
        )?
        .with_reply_check(Arc::new(GatewayCheck));
        Ok(Gateway {
            http,
            #[cfg(test)]
            token,
        })
    }

    /// The tenant's `(tokenUrl, gatewayUrl)` from the data-centre lookup.
    async fn look_up(&self) -> Result<(String, String), ConnectorError> {
        let tenant = &self.app.tenant_id;
        let call = Call::get(LOOKUP_PATH)
            .query("tenantId", tenant)
            .label("getGatewayAddress");
        let reply = Envelope::of(self.lookup.json(call).await?);
        let url = |key: &str| reply.data.get(key).and_then(text).filter(|u| !u.is_empty());
        match (reply.ok(), url("tokenUrl"), url("gatewayUrl")) {
            (true, Some(token), Some(gateway)) => Ok((token, gateway)),
            _ => Err(ConnectorError::new(
                ErrorKind::Auth,
                format!(
                    "cannot find the data centre of tenant `{tenant}`: {}",
                    reply.refusal()
                ),
            )),
        }
    }

    /// Sends `call` through the gateway; its envelope, refused or not.
    pub async fn send(&self, call: Call) -> Result<Envelope, ConnectorError> {
        let gateway = self.gateway().await?;
        let reply: Value = gateway.http.json(call).await?;
        Ok(Envelope::of(reply))
    }

    /// `POST path` with `body`; the envelope, refused or not.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        repeatable: bool,
    ) -> Result<Envelope, ConnectorError> {
        let mut call = Call::post(path).json(body).label(short_path(path));
        if repeatable {
            call = call.safe_to_repeat();
        }
        self.send(call).await
    }

    /// `POST path` of a read; the `data` of a success, an error naming `what` otherwise.
    pub async fn read(
        &self,
        path: &str,
        body: &Value,
        what: &str,
    ) -> Result<Value, ConnectorError> {
        let reply = self.post(path, body, true).await?;
        if reply.ok() {
            Ok(reply.data)
        } else {
            // A read refused is the flow's configuration or the server, never one record.
            Err(ConnectorError::fatal(format!(
                "Yonyou refused {what}: {}",
                reply.refusal()
            )))
        }
    }

    /// A time Yonyou answered (`2024-05-01 09:00:00`), as UTC.
    pub fn utc(&self, local: &str) -> Option<DateTime<Utc>> {
        let at = NaiveDateTime::parse_from_str(local.trim(), TIME_FORMAT).ok()?;
        self.zone
            .from_local_datetime(&at)
            .single()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The last two segments of an API path, for labels (`merchant/newlist`).
fn short_path(path: &str) -> String {
    let mut parts: Vec<&str> = path.rsplit('/').take(2).collect();
    parts.reverse();
    parts.join("/")
}

/// The rows of a list reply's `data`: a bare array (customers), or `recordList` as an array
/// or, in one documented list, an object of rows (correction 3).
pub fn rows_of(data: Value) -> Vec<Value> {
    match data {
        Value::Array(rows) => rows,
        Value::Object(mut page) => match page.remove("recordList") {
            Some(Value::Array(rows)) => rows,
            Some(Value::Object(rows)) => rows.into_iter().map(|(_, row)| row).collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// An id as text: ids come as numbers or numeric text.
pub fn id_of(row: &Value) -> Option<String> {
    row.get("id").and_then(text).filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_come_bare_in_a_record_list_or_as_an_object() {
        assert_eq!(rows_of(json!([{"id": 1}])).len(), 1);
        assert_eq!(
            rows_of(json!({"recordList": [{"id": 1}, {"id": 2}]})).len(),
            2
        );
        assert_eq!(rows_of(json!({"recordList": {"a": {"id": 1}}})).len(), 1);
        assert!(rows_of(Value::Null).is_empty());
        assert_eq!(
            short_path("yonbip/digitalModel/merchant/newlist"),
            "merchant/newlist"
        );
    }
}
