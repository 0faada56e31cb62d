//! `POST /soap/products`: products over SOAP 1.1 (`ListProducts`, `GetProduct`,
//! `UpsertProduct`), for connectors that read XML with XPath record paths.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use serde_json::{Map, Value};

use super::Ctx;
use super::answer::ApiError;
use super::objects::{self, Kind};
use super::records::{self, WriteMode};
use crate::store::{Record, UpdatedFilter};
use crate::xml::{self, Element, escape};

/// The namespace of the operations' elements.
pub const NAMESPACE: &str = "urn:ferry:reference";
const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

pub async fn products(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let answer = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the body is not UTF-8"))
        .and_then(|text| xml::parse(&text).map_err(|e| ApiError::bad_request(e.to_string())))
        .and_then(|root| operate(&ctx, &root));
    match answer {
        Ok(body) => envelope(StatusCode::OK, &body),
        Err(e) => fault(&e),
    }
}

fn operate(ctx: &Ctx, root: &Element) -> Result<String, ApiError> {
    let body = root
        .child("Body")
        .filter(|_| root.name == "Envelope")
        .ok_or_else(|| ApiError::bad_request("expected a SOAP Envelope with a Body"))?;
    let op = body
        .children
        .first()
        .ok_or_else(|| ApiError::bad_request("the SOAP Body names no operation"))?;
    match op.name.as_str() {
        "ListProducts" => list(ctx, op),
        "GetProduct" => get(ctx, op),
        "UpsertProduct" => upsert(ctx, op),
        other => Err(ApiError::bad_request(format!(
            "unknown operation `{other}`; operations: ListProducts, GetProduct, UpsertProduct"
        ))),
    }
}

/// `<ListProducts><page>1</page><page_size>20</page_size><updated_since>…</updated_since>`:
/// the products in (modified time, id) order, with `total` and `has_more`.
fn list(ctx: &Ctx, op: &Element) -> Result<String, ApiError> {
    let number = |name: &str, default: usize| -> Result<usize, ApiError> {
        op.child_text(name).map_or(Ok(default), |t| {
            t.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name}: expected a whole number, 1 or more, found `{t}`"
                ))
            })
        })
    };
    let page = number("page", 1)?;
    let size = number("page_size", ctx.config.default_page_size)?.min(ctx.config.max_page_size);
    let filter = match op.child_text("updated_since") {
        Some(t) => Some(UpdatedFilter::Since(
            DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    ApiError::bad_request(format!("updated_since: `{t}` is not an RFC 3339 time"))
                })?
                .to_utc(),
        )),
        None => None,
    };
    let rows = ctx.harness.store().list("products", filter, None)?;
    let skip = (page - 1).saturating_mul(size);
    let items: String = rows.iter().skip(skip).take(size).map(product_xml).collect();
    let more = skip.saturating_add(size) < rows.len();
    Ok(format!(
        "<ListProductsResponse xmlns=\"{NAMESPACE}\"><page>{page}</page><page_size>{size}</page_size>\
         <total>{}</total><has_more>{more}</has_more><products>{items}</products></ListProductsResponse>",
        rows.len()
    ))
}

/// `<GetProduct><sku>P0001</sku></GetProduct>`.
fn get(ctx: &Ctx, op: &Element) -> Result<String, ApiError> {
    let sku = op
        .child_text("sku")
        .ok_or_else(|| ApiError::bad_request("GetProduct: sku is required"))?;
    let record = ctx
        .harness
        .store()
        .find_by_key("products", sku)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("products: no record with sku `{sku}`"),
            )
        })?;
    Ok(format!(
        "<GetProductResponse xmlns=\"{NAMESPACE}\">{}</GetProductResponse>",
        product_xml(&record)
    ))
}

/// `<UpsertProduct><sku>…</sku><name>…</name><price>…</price>…</UpsertProduct>`: fields as
/// child elements; numbers are read as numbers.
fn upsert(ctx: &Ctx, op: &Element) -> Result<String, ApiError> {
    let spec = objects::spec("products")?;
    let mut fields = Map::new();
    for child in &op.children {
        let kind = spec
            .fields
            .iter()
            .find(|f| f.name == child.name)
            .map(|f| &f.kind);
        fields.insert(child.name.clone(), typed(kind, child.text.trim()));
    }
    let written = records::write(ctx, spec, fields, WriteMode::Upsert, None)?;
    Ok(format!(
        "<UpsertProductResponse xmlns=\"{NAMESPACE}\"><id>{}</id><created>{}</created></UpsertProductResponse>",
        written.record.id, written.created
    ))
}

/// Text read as the field's kind: a number for numeric fields when it is one, else text
/// (validation then says what is wrong).
fn typed(kind: Option<&Kind>, text: &str) -> Value {
    let numeric = matches!(kind, Some(Kind::Amount | Kind::Quantity | Kind::Count));
    if numeric {
        if let Ok(n) = text.parse::<u64>() {
            return n.into();
        }
        if let Some(n) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    text.into()
}

fn product_xml(record: &Record) -> String {
    let Value::Object(fields) = record.to_json() else {
        return String::new();
    };
    let inner: String = fields
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("<{name}>{}</{name}>", escape(&text))
        })
        .collect();
    format!("<product>{inner}</product>")
}

fn envelope(status: StatusCode, body: &str) -> Response {
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <soap:Envelope xmlns:soap=\"{ENVELOPE_NS}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    );
    (status, [(CONTENT_TYPE, "text/xml; charset=utf-8")], doc).into_response()
}

/// The error-inside-HTTP-200 answer on the SOAP endpoint: an envelope whose body is
/// `<Error><code/><message/></Error>`.
pub fn error_in_ok(code: &str, message: &str) -> Response {
    let body = format!(
        "<Error xmlns=\"{NAMESPACE}\"><code>{}</code><message>{}</message></Error>",
        escape(code),
        escape(message)
    );
    envelope(StatusCode::OK, &body)
}

/// A SOAP 1.1 fault (HTTP 500): `faultcode` `soap:Client`, `faultstring` the message, and
/// in `detail` the error code and each refused field.
fn fault(error: &ApiError) -> Response {
    let errors: String = error
        .details
        .iter()
        .map(|d| {
            format!(
                "<error><field>{}</field><message>{}</message></error>",
                escape(&d.field),
                escape(&d.message)
            )
        })
        .collect();
    let body = format!(
        "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>{}</faultstring>\
         <detail><code xmlns=\"{NAMESPACE}\">{}</code><errors xmlns=\"{NAMESPACE}\">{errors}</errors></detail></soap:Fault>",
        escape(&error.message),
        error.code
    );
    envelope(StatusCode::INTERNAL_SERVER_ERROR, &body)
}
