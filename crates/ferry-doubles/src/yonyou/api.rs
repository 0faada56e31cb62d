//! The APIs registered on the double's gateway: method and path (after the gateway URL),
//! as the dossier names them. Any other path under the gateway answers 310404.

use axum::http::Method;

/// The path prefix of `gatewayUrl` (`https://c2.yonyoucloud.com/iuap-api-gateway`).
pub const GATEWAY_PREFIX: &str = "/iuap-api-gateway";
/// The path prefix of `tokenUrl` (`https://c2.yonyoucloud.com/iuap-api-auth`).
pub const AUTH_PREFIX: &str = "/iuap-api-auth";
/// The tenant's data-centre lookup, at the root of the double (`apigateway.yonyoucloud.com`).
pub const GATEWAY_LOOKUP_PATH: &str = "/open-auth/dataCenter/getGatewayAddress";
/// The self-built app token endpoint, after `tokenUrl`.
pub const TOKEN_PATH: &str = "/open-auth/selfAppAuth/getAccessToken";
/// The newer path of the same endpoint.
pub const TOKEN_PATH_V1: &str = "/open-auth/selfAppAuth/base/v1/getAccessToken";

/// One registered API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    MerchantList,
    MerchantDetail,
    MerchantInsert,
    MerchantBatchSave,
    ProductList,
    ProductDetail,
    ProductSave,
    OrderList,
    OrderDetail,
    OrderSave,
    OrderSubmit,
    OrderAudit,
    OrderUnaudit,
    OrderDelete,
}

const REGISTERED: [(Api, &str, &str); 14] = [
    (
        Api::MerchantList,
        "POST",
        "/yonbip/digitalModel/merchant/newlist",
    ),
    (
        Api::MerchantDetail,
        "POST",
        "/yonbip/digitalModel/merchant/newBatchDetail",
    ),
    (
        Api::MerchantInsert,
        "POST",
        "/yonbip/digitalModel/merchant/idempotent/newinsert",
    ),
    (
        Api::MerchantBatchSave,
        "POST",
        "/yonbip/digitalModel/batch/merchant/save",
    ),
    (
        Api::ProductList,
        "POST",
        "/yonbip/digitalModel/product/listproductbycondition",
    ),
    (
        Api::ProductDetail,
        "POST",
        "/yonbip/digitalModel/product/batchdetailnew",
    ),
    (
        Api::ProductSave,
        "POST",
        "/yonbip/digitalModel/product/idempotent/save",
    ),
    (Api::OrderList, "POST", "/yonbip/sd/voucherorder/list"),
    (Api::OrderDetail, "GET", "/yonbip/sd/voucherorder/detail"),
    (Api::OrderSave, "POST", "/yonbip/sd/voucherorder/singleSave"),
    (
        Api::OrderSubmit,
        "POST",
        "/yonbip/sd/voucherorder/batchsubmit",
    ),
    (
        Api::OrderAudit,
        "POST",
        "/yonbip/sd/voucherorder/batchaudit",
    ),
    (
        Api::OrderUnaudit,
        "POST",
        "/yonbip/sd/voucherorder/batchunaudit",
    ),
    (Api::OrderDelete, "POST", "/yonbip/sd/voucherorder/delete"),
];

/// What the gateway finds at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(Api),
    WrongMethod,
    NotRegistered,
}

impl Api {
    /// The API at `path` (`/yonbip/…`, gateway prefix removed) for `method`.
    pub fn lookup(method: &Method, path: &str) -> Lookup {
        let mut wrong_method = false;
        for (api, m, p) in REGISTERED {
            if p == path {
                if m == method.as_str() {
                    return Lookup::Found(api);
                }
                wrong_method = true;
            }
        }
        if wrong_method {
            Lookup::WrongMethod
        } else {
            Lookup::NotRegistered
        }
    }

    /// The API's path after the gateway URL (`/yonbip/…`).
    pub fn path(self) -> &'static str {
        REGISTERED
            .iter()
            .find(|(api, _, _)| *api == self)
            .map_or("", |(_, _, path)| path)
    }
}

/// Every registered API path, for the double's description.
pub fn registered_paths() -> impl Iterator<Item = (&'static str, &'static str)> {
    REGISTERED.iter().map(|(_, m, p)| (*m, *p))
}
