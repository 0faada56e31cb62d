//! # `salesforce`: Salesforce over its REST API
//!
//! Reads sObjects incrementally by `SystemModstamp` and upserts them by an external id.
//! Built and tested against a wire-level double made from the published documentation
//! (`ferry_doubles::salesforce`, the dossier `shared/docs/apis/salesforce.md`), not against
//! a real org: the README lists what a first run against one must verify.
//!
//! ```yaml
//! systems:
//!   crm:
//!     kind: salesforce
//!     url: https://login.salesforce.com     # the token's instance_url becomes the API base
//!     api_version: v60.0
//!     auth:
//!       type: jwt_bearer                    # or oauth2_client_credentials
//!       token_url: /services/oauth2/token
//!       issuer: "${SF_CONSUMER_KEY}"
//!       subject: integration@acme.example
//!       audience: https://login.salesforce.com
//!       private_key: "${SF_PRIVATE_KEY}"
//!     limit_share: 0.9                      # pause at 90 % of the daily API allocation
//!
//! flows:
//!   accounts_to_erp:
//!     entity: customer
//!     source:
//!       system: crm
//!       object: Account
//!       fields: [Name, ERP_Id__c, Phone, Credit_Limit__c]
//!       filter: "Type = 'Customer'"
//!       overlap: 5m                         # modified: SystemModstamp (default)
//!   opportunities_to_erp:
//!     entity: sales_order
//!     source:
//!       system: crm
//!       object: Opportunity
//!       fields: [Name, StageName, Amount, CloseDate, AccountId]
//!       lines: { object: OpportunityLineItem, parent: OpportunityId, fields: [Product2Id, Quantity, UnitPrice] }
//!   products_to_crm:
//!     entity: product
//!     target:
//!       system: crm
//!       object: Product2
//!       external_id: ERP_Id__c              # the flow's key
//!       fields: { name: Name, sku: ProductCode }
//!       bulk_threshold: 500                 # larger batches go through Bulk API 2.0
//!   contacts_to_crm:
//!     entity: contact
//!     target:
//!       system: crm
//!       object: Contact
//!       external_id: ERP_Id__c
//!       fields: { customer_code: Account.ERP_Id__c, last_name: LastName }
//! ```
//!
//! - **Auth**: the kit's OAuth 2.0 client credentials or JWT bearer; the token is renewed
//!   once on a 401, and the reply's `instance_url` is where the API is called.
//! - **Reading**: SOQL keyset on `(SystemModstamp, Id)` with the kit's overlap window,
//!   following `nextRecordsUrl`; `fetch` by `Id IN (…)`; child records as `lines`.
//! - **Change Data Capture** (`changes: cdc`): CometD on `/data/<Object>ChangeEvent`, the
//!   replay id as the cursor, changed records read again by SOQL, a bounded SOQL backfill
//!   when the replay id has aged out (see [`cdc`]).
//! - **Writing**: sObject Collections upsert by external id (200 a call, `allOrNone:
//!   false`, Salesforce's own per-record errors); Bulk API 2.0 above `bulk_threshold`;
//!   delete by id (or by external id); scan back by `Id`.
//! - **Limits**: `Sforce-Limit-Info` is read on every answer; the flows pause near the daily
//!   allocation (see [`api`]).

mod api;
mod bulk;
mod cdc;
mod config;
mod connector;
mod discover;
mod sink;
mod source;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use config::{Changes, LinesSource, SourceOptions, SystemSettings, TargetOptions};
pub use connector::{SalesforceConnector, SalesforceFactory};
