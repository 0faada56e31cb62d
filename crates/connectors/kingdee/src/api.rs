//! The `DynamicFormService` calls the connector makes, on the system's one HTTP client:
//! `ExecuteBillQuery` (rows as arrays, the service every K/3 Cloud version has),
//! `BatchSave`, the life-cycle operations, `Push` and `Allocate`. Bodies use the named
//! convention of the current SDKs (`{"formid", "data"}`). Dates cross in the server's local
//! time without a zone.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use ferry_kit::http::{Call, HttpClient};
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Value, json};

use crate::reply::Status;

/// Rows a query asks for at most per call when it pages on its own (lines, lookups):
/// the documented default, which every version takes (newer ones take up to 10000).
pub const QUERY_PAGE: usize = 2000;

/// One data centre's API.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: HttpClient,
    /// The server's time zone.
    pub zone: FixedOffset,
    /// Models per `BatchSave`.
    pub batch_size: usize,
    /// The login, for tests to count sessions.
    #[cfg(test)]
    pub login: std::sync::Arc<crate::login::KingdeeLogin>,
}

/// One `ExecuteBillQuery`.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub form: &'a str,
    pub keys: &'a [String],
    /// The `FilterString` (`""`: every record).
    pub filter: String,
    /// The `OrderString`.
    pub order: String,
    pub start: usize,
    pub limit: usize,
}

fn service(operation: &str) -> String {
    format!("Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.{operation}.common.kdsvc")
}

impl Api {
    /// The rows of a query, each in `keys` order.
    pub async fn query(&self, q: &Query<'_>) -> Result<Vec<Vec<Value>>, ConnectorError> {
        let body = json!({"data": {
            "FormId": q.form, "FieldKeys": q.keys.join(","), "FilterString": q.filter,
            "OrderString": q.order, "TopRowCount": 0, "StartRow": q.start, "Limit": q.limit,
            "SubSystemId": "",
        }});
        let call = Call::post(service("ExecuteBillQuery"))
            .json(&body)
            .label(format!("ExecuteBillQuery {}", q.form))
            .safe_to_repeat();
        let reply: Value = self.http.json(call).await?;
        if let Some(status) = Status::of(&reply) {
            // A query refused is the flow's configuration or the server, never one record.
            return Err(ConnectorError::fatal(format!(
                "Kingdee refused the query of `{}`: {} (FieldKeys `{}`, FilterString `{}`)",
                q.form,
                status.message(),
                q.keys.join(","),
                q.filter
            )));
        }
        let Value::Array(rows) = reply else {
            return Err(ConnectorError::fatal(format!(
                "ExecuteBillQuery of `{}` answered neither rows nor a status: {}",
                q.form,
                short(&reply)
            )));
        };
        rows.into_iter()
            .map(|row| match row {
                Value::Array(values) if values.len() == q.keys.len() => Ok(values),
                other => Err(ConnectorError::fatal(format!(
                    "ExecuteBillQuery of `{}` answered a row of another shape than its {} FieldKeys: {}",
                    q.form,
                    q.keys.len(),
                    short(&other)
                ))),
            })
            .collect()
    }

    /// Every row of a query, paging by `StartRow` until a page comes back short.
    pub async fn query_all(&self, mut q: Query<'_>) -> Result<Vec<Vec<Value>>, ConnectorError> {
        q.limit = QUERY_PAGE;
        let mut all = Vec::new();
        loop {
            let page = self.query(&q).await?;
            let done = page.len() < q.limit;
            q.start += page.len();
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// `BatchSave` of `models`; the reply's status (per model by `DIndex`).
    pub async fn batch_save(
        &self,
        form: &str,
        models: Vec<Value>,
        update_fields: &[String],
    ) -> Result<Status, ConnectorError> {
        let body = json!({"formid": form, "data": {
            "NeedUpDateFields": update_fields, "NeedReturnFields": [], "IsDeleteEntry": "true",
            "IsVerifyBaseDataField": "false", "IsAutoSubmitAndAudit": "false",
            "ValidateFlag": "true", "NumberSearch": "true", "Model": models,
        }});
        self.status_of(
            Call::post(service("BatchSave")).json(&body),
            form,
            "BatchSave",
        )
        .await
    }

    /// A life-cycle operation (`Submit`, `Audit`, `UnAudit`, `Delete`) on records by number.
    pub async fn operate(
        &self,
        operation: &str,
        form: &str,
        numbers: &[String],
    ) -> Result<Status, ConnectorError> {
        let body = json!({"formid": form, "data": {
            "CreateOrgId": 0, "Numbers": numbers, "Ids": "", "NetworkCtrl": "false",
            "IsVerifyProcInst": "true", "IgnoreInterationFlag": "true",
        }});
        self.status_of(Call::post(service(operation)).json(&body), form, operation)
            .await
    }

    /// `Push` (下推) of records by number to `target` by the default conversion rule.
    pub async fn push(
        &self,
        form: &str,
        numbers: &[String],
        target: &str,
    ) -> Result<Status, ConnectorError> {
        let body = json!({"formid": form, "data": {
            "Numbers": numbers, "TargetFormId": target, "IsEnableDefaultRule": "true",
            "RuleId": "", "IsDraftWhenSaveFail": "false",
        }});
        self.status_of(Call::post(service("Push")).json(&body), form, "Push")
            .await
    }

    /// `Allocate` (分配) of base data by internal id to organisations by internal id.
    pub async fn allocate(
        &self,
        form: &str,
        ids: &[String],
        orgs: &[i64],
    ) -> Result<Status, ConnectorError> {
        let orgs: Vec<String> = orgs.iter().map(i64::to_string).collect();
        let body = json!({"formid": form, "data": {
            "PkIds": ids.join(","), "TOrgIds": orgs.join(","), "IsAutoSubmitAndAudit": "true",
        }});
        self.status_of(
            Call::post(service("Allocate")).json(&body),
            form,
            "Allocate",
        )
        .await
    }

    async fn status_of(
        &self,
        call: Call,
        form: &str,
        operation: &str,
    ) -> Result<Status, ConnectorError> {
        let reply: Value = self
            .http
            .json(call.label(format!("{operation} {form}")))
            .await?;
        Status::of(&reply).ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Fatal,
                format!(
                    "{operation} of `{form}` answered without a ResponseStatus: {}",
                    short(&reply)
                ),
            )
        })
    }

    /// A date Kingdee answered (`2024-05-01T10:11:12.53`, `2024-05-01 10:11:12`), as UTC.
    pub fn utc(&self, text: &str) -> Option<DateTime<Utc>> {
        let local = parse_local(text)?;
        self.zone
            .from_local_datetime(&local)
            .single()
            .map(|at| at.with_timezone(&Utc))
    }
}

/// A local date in the shapes Kingdee answers (correction 9 of the double: trimmed or no
/// fraction).
pub fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|shape| NaiveDateTime::parse_from_str(text, shape).ok())
}

/// A local date as a `FilterString` literal, milliseconds kept (`'2024-05-01 10:11:12.530'`).
pub fn date_literal(at: NaiveDateTime) -> String {
    format!("'{}'", at.format("%Y-%m-%d %H:%M:%S%.3f"))
}

/// Text as a `FilterString` literal: single-quoted, quotes doubled.
pub fn text_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `field in ('a','b')`.
pub fn one_of(field: &str, values: &[String]) -> String {
    let values: Vec<String> = values.iter().map(|v| text_literal(v)).collect();
    format!("{field} in ({})", values.join(","))
}

/// The start of a JSON value, for messages.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_and_dates_keep_milliseconds() {
        assert_eq!(text_literal("O'Neil 公司"), "'O''Neil 公司'");
        assert_eq!(
            one_of("FNumber", &["C1".into(), "C'2".into()]),
            "FNumber in ('C1','C''2')"
        );
        let at = parse_local("2024-05-01T10:11:12.53").unwrap();
        assert_eq!(date_literal(at), "'2024-05-01 10:11:12.530'");
        assert_eq!(
            parse_local("2024-05-01 10:11:12"),
            parse_local("2024-05-01T10:11:12.000")
        );
        assert_eq!(parse_local(" "), None);
    }
}
