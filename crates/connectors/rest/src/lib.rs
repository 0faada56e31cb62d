//! # The `rest` connector: any REST or SOAP API, described in `ferry.yaml`
//!
//! For the systems Ferry has no connector of its own for: an in-house order service, a
//! regional e-invoicing API, the SOAP service a finance team still runs. The system's
//! settings describe the API once: where each object is listed, read and written, how its
//! list pages, where the records are in a reply, which field is the id and which the change
//! time; flows then name an object like any other connector's.
//!
//! ```yaml
//! systems:
//!   orders_api:
//!     kind: rest
//!     url: https://orders.example.com       # shared HTTP settings: timeout, retries, rate, …
//!     auth: { type: api_key, header: X-API-Key, key: "${ORDERS_API_KEY}" }
//!     objects:
//!       customers:
//!         path: /api/customers              # the list; one record is <path>/{{ id }}
//!         records: /data                    # JSON pointer, or JSONPath `$.data[*]`
//!         paging: { style: page, page: page, size: per_page, total: /total }
//!         since: { param: updated_since, field: updated_at }   # incremental reads
//!         upsert: { path: "/api/customers/by-key/{{ key }}" } # PUT by business key
//!         delete: { path: "/api/customers/{{ id }}" }
//! flows:
//!   customers-in:
//!     entity: customer
//!     source: { system: orders_api, object: customers }
//!     target: { system: erp, table: customers }
//! ```
//!
//! - **Paging**: `page`, `offset`, `cursor` (a token in the reply), `next_url` (a URL in the
//!   reply), `link` (an RFC 8288 `Link` header), or none; the kit's
//!   [`Lister`](ferry_kit::http::Lister) does the walking.
//! - **Reading** is incremental with `since:` (a change-time query parameter; exact at page
//!   edges and ties, see [`source`](crate::RestCursor)), else by snapshot passes that also
//!   find deletions through the read endpoint.
//! - **Writing**: `upsert` by key in one call, or `update` by id and `create`, with
//!   `find_by_key` to learn ids Ferry did not create; `delete`. Paths and bodies are
//!   minijinja templates (`{{ id }}`, `{{ key }}`, `{{ record }}`); see [`template`].
//! - **Refusals** come back per record with the API's own message (`error_message` points
//!   at it).
//! - **XML**: `format: xml` reads records by XPath (`records: //product`), sends templated
//!   SOAP envelopes (`list_body`, write `body`), and reads SOAP faults.
//!
//! `ferry discover` samples each object's first page and proposes its fields. The connector
//! is tested against the reference double (`ferry-doubles`), every paging style and write
//! path, and passes the conformance suite.

mod api;
mod config;
mod connector;
mod discover;
mod object;
mod sink;
mod source;
pub mod template;
mod xml;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{
    EndpointSettings, Format, ObjectSettings, PagingSettings, SinceSettings, SourceOptions,
    SystemSettings, TargetOptions,
};
pub use connector::{RestConnector, RestFactory};
pub use source::RestCursor;
