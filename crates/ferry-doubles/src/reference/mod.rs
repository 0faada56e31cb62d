//! The reference double: a generic REST + SOAP API of no vendor, the target the `rest`
//! connector is tested against. It serves customers, products and orders with lines; pages
//! each object in one of five styles; filters by modified time; creates, updates, upserts by
//! business key, deletes and batches with per-record refusals; authenticates by API key,
//! Basic, bearer, OAuth 2 client credentials or session login; and serves products over SOAP.
//! The wire format is described in `README.md` beside this file.

mod answer;
mod auth;
mod config;
mod objects;
mod paging;
mod records;
mod seed;
mod soap;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post, put};

pub use answer::FieldError;
pub use auth::{API_KEY_HEADER, SESSION_COOKIE, SESSION_HEADER};
pub use config::{AuthMode, Credentials, ExpiredAnswer, Paging, ReferenceConfig, Seed};
pub use seed::SEED_EPOCH;
pub use soap::NAMESPACE as SOAP_NAMESPACE;

use crate::harness::{Double, Harness};
use crate::store::RecordStore;

/// The reference double with its configuration.
#[derive(Clone, Debug, Default)]
pub struct ReferenceDouble {
    config: Arc<ReferenceConfig>,
}

impl ReferenceDouble {
    pub fn new(config: ReferenceConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &ReferenceConfig {
        &self.config
    }
}

/// What the handlers share: the harness and the run's configuration.
#[derive(Clone)]
struct Ctx {
    harness: Harness,
    config: Arc<ReferenceConfig>,
}

impl Double for ReferenceDouble {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn seed(&self, store: &RecordStore) {
        seed::fill(store, &self.config.seed);
    }

    fn routes(&self, harness: &Harness) -> Router {
        let ctx = Ctx {
            harness: harness.clone(),
            config: self.config.clone(),
        };
        let guarded = Router::new()
            .route("/api/{object}", get(paging::list).post(records::create))
            .route("/api/{object}/batch", post(records::batch))
            .route(
                "/api/{object}/{id}",
                get(records::read)
                    .patch(records::update)
                    .delete(records::delete),
            )
            .route("/api/{object}/by-key/{key}", put(records::upsert))
            .route("/soap/products", post(soap::products))
            .route_layer(middleware::from_fn_with_state(ctx.clone(), auth::require));
        Router::new()
            .route("/oauth/token", post(auth::token))
            .route("/session/login", post(auth::login))
            .route("/session/logout", post(auth::logout))
            .merge(guarded)
            .with_state(ctx)
    }

    fn error_in_ok(&self, path: &str, code: &str, message: &str) -> Response {
        if path.starts_with("/soap/") {
            soap::error_in_ok(code, message)
        } else {
            answer::error_in_ok(code, message)
        }
    }

    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        let creds = &c.credentials;
        let auth = match c.auth {
            AuthMode::None => "auth: none".to_owned(),
            AuthMode::ApiKey => format!("auth: header X-API-Key: {}", creds.api_key),
            AuthMode::Basic => format!("auth: Basic {}:{}", creds.username, creds.password),
            AuthMode::Bearer => format!("auth: Authorization: Bearer {}", creds.bearer_token),
            AuthMode::OAuth2 => format!(
                "auth: POST /oauth/token grant_type=client_credentials client_id={} client_secret={}",
                creds.client_id, creds.client_secret
            ),
            AuthMode::Session => format!(
                "auth: POST /session/login {{\"username\":\"{}\",\"password\":\"{}\"}}",
                creds.username, creds.password
            ),
        };
        let paging: Vec<String> = ["customers", "products", "orders"]
            .iter()
            .map(|o| format!("{o}={}", c.paging_of(o).name()))
            .collect();
        vec![
            auth,
            format!("paging: {}", paging.join(" ")),
            "objects: GET|POST /api/{object}, GET|PATCH|DELETE /api/{object}/{id}, \
             PUT /api/{object}/by-key/{key}, POST /api/{object}/batch, POST /soap/products"
                .to_owned(),
        ]
    }
}
