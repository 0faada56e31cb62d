//! # `dynamics`: Microsoft Dynamics 365 / Dataverse over its Web API (OData v4)
//!
//! Reads tables through change tracking (delta links as the cursor) and writes them by
//! alternate key (`PATCH` upserts in `$batch` change sets). Built and tested against a
//! wire-level double made from published documentation (`ferry_doubles::dynamics`, the
//! dossier `shared/docs/apis/dynamics365.md`), not against a real environment: the README
//! lists what a first run against one must verify.
//!
//! ```yaml
//! systems:
//!   d365:
//!     kind: dynamics
//!     url: https://contoso.crm.dynamics.com          # the org; token scope <url>/.default
//!     tenant: "${D365_TENANT_ID}"
//!     client_id: "${D365_CLIENT_ID}"
//!     client_secret: "${D365_CLIENT_SECRET}"
//!
//! flows:
//!   accounts_to_erp:
//!     entity: customer
//!     source: { system: d365, entity_set: accounts, select: [name, accountnumber, telephone1] }
//!   customers_to_crm:
//!     entity: customer
//!     target:
//!       system: d365
//!       entity_set: accounts
//!       key: accountnumber                 # an alternate key defined on the table
//!       fields: { code: accountnumber, phone: telephone1, credit_limit: creditlimit }
//!   deals_to_crm:
//!     entity: opportunity
//!     target:
//!       system: d365
//!       entity_set: opportunities
//!       key: new_externalkey
//!       lookups: { customer_code: { bind: parentaccountid, set: accounts, key: accountnumber } }
//! ```
//!
//! - **Auth**: Entra ID client credentials through the kit's OAuth 2.0 scheme (token
//!   fetched on first use, renewed once after a 401); the secret never appears in messages.
//! - **Reading**: `Prefer: odata.track-changes` and `odata.maxpagesize`; the cursor is the
//!   next link of a read under way or the delta link that ends it; `$deletedEntity` rows are
//!   deleted records; an expired delta link is healed by a full read.
//! - **Writing**: `PATCH <set>(<key>='<value>')` per record, one change set each in
//!   `$batch` with `odata.continue-on-error`; `If-None-Match: *` / `If-Match: *` for
//!   create-only and update-only; values typed from `$metadata`; lookups by alternate key;
//!   Dataverse's own message per refused record. HTTP 429 waits out `Retry-After` (the
//!   kit's client).

mod api;
mod config;
mod connector;
mod discover;
mod metadata;
mod probe;
mod scan;
mod sink;
mod source;
mod values;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{LookupOption, Mode, SourceOptions, SystemSettings, TargetOptions};
pub use connector::{DynamicsConnector, DynamicsFactory};
pub use source::Cursor;
