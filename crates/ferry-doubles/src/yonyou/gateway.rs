//! The API gateway: the tenant's data-centre lookup, and every business call under
//! `{gatewayUrl}/yonbip/…` checked in the gateway's order — registered path (310404, HTTP
//! 404), token (310001 / 310036), quota (310046), JSON body (310002) — before the API runs.

use axum::body::Bytes;
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::api::{AUTH_PREFIX, Api, GATEWAY_PREFIX, Lookup};
use super::envelope::{self, AUTH_OK_CODE, YyError};
use super::{Ctx, detail, list, orders, save, token};

/// `GET /open-auth/dataCenter/getGatewayAddress?tenantId=…`: this double's own URLs for
/// the configured tenant, code 500 for any other.
pub fn lookup(ctx: &Ctx, params: &[(String, String)]) -> Response {
    let tenant = params
        .iter()
        .find(|(k, _)| k == "tenantId")
        .map_or("", |(_, v)| v.as_str());
    if tenant != ctx.config.tenant_id {
        return YyError::coded("500", "根据租户id获取网关地址出现异常").into_response();
    }
    envelope::answer(json!({
        "code": AUTH_OK_CODE,
        "data": {
            "tokenUrl": ctx.harness.url(AUTH_PREFIX),
            "gatewayUrl": ctx.harness.url(GATEWAY_PREFIX),
        },
    }))
}

/// A call under the gateway, `path` without the gateway prefix (`/yonbip/…`).
pub fn call(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    params: &[(String, String)],
    body: &Bytes,
) -> Response {
    match admit(ctx, method, path, params).and_then(|api| run(ctx, api, params, body)) {
        Ok(body) => envelope::answer(body),
        Err(e) => e.into_response(),
    }
}

/// The gateway's checks before the API sees the call.
fn admit(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    params: &[(String, String)],
) -> Result<Api, YyError> {
    let api = match Api::lookup(method, path) {
        Lookup::Found(api) => api,
        Lookup::WrongMethod => return Err(YyError::method_not_allowed(method.as_str())),
        Lookup::NotRegistered => return Err(YyError::not_registered(path)),
    };
    token::check_access(ctx, params)?;
    ctx.shared.quotas.take(ctx.config.rate_limit, api.path())?;
    Ok(api)
}

/// The body as JSON (an empty body reads as `{}`).
fn json_body(body: &Bytes) -> Result<Value, YyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| YyError::body_not_json())
}

fn run(ctx: &Ctx, api: Api, params: &[(String, String)], body: &Bytes) -> Result<Value, YyError> {
    if api == Api::OrderDetail {
        return detail::order(ctx, params);
    }
    let body = json_body(body)?;
    match api {
        Api::MerchantList => list::merchants(ctx, &body),
        Api::ProductList => list::products(ctx, &body),
        Api::OrderList => list::orders(ctx, &body),
        Api::MerchantDetail => detail::merchants(ctx, &body),
        Api::ProductDetail => detail::products(ctx, &body),
        Api::MerchantInsert => save::insert_merchant(ctx, api, &body),
        Api::MerchantBatchSave => save::batch_save_merchants(ctx, &body),
        Api::ProductSave => save::save_product(ctx, api, &body),
        Api::OrderSave => orders::save(ctx, api, &body),
        Api::OrderSubmit => orders::submit(ctx, &body),
        Api::OrderAudit => orders::audit(ctx, &body),
        Api::OrderUnaudit => orders::unaudit(ctx, &body),
        Api::OrderDelete => orders::delete(ctx, api, &body),
        Api::OrderDetail => detail::order(ctx, params),
    }
}
