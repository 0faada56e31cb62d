//! Typed settings of the `rest` connector. The system holds the API's description (its
//! objects: where to list, read and write them, how they page, where the records are), so
//! that every flow on the system shares it; a flow's `source:` and `target:` name an object.
//! Each part validates itself into the types of [`crate::object`]; every problem is a
//! [`ConfigIssue`] at its key path.

use ferry_kit::http::{AuthSettings, HttpSettings, ReplyRules};
use ferry_kit::sink::Renames;
use ferry_model::config::DurationStr;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings under `systems.<name>` for `kind: rest`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// Where the API is (`url` is the base every path is joined to), timeouts, retries and
    /// the request budget, shared by every flow on the system.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// How requests authenticate (`type: bearer | basic | api_key | …`); none by default.
    #[serde(default)]
    pub auth: Option<AuthSettings>,
    /// Where a refusal's message is in an error reply (a JSON pointer such as
    /// `/error/message`, or an XPath for XML replies). By default the usual places
    /// (`message`, `error.message`, `detail`, …) are tried.
    #[serde(default)]
    pub error_message: Option<String>,
    /// For APIs that answer HTTP 200 whatever happened and say in the body whether it worked:
    /// where the status is, which values mean success, which codes mean "log in again" or
    /// "try later" (every other value refuses the record with the API's message).
    #[serde(default)]
    pub reply_check: Option<ReplyRules>,
    /// XML namespace prefixes usable in XPath expressions (`{ r: "urn:example" }`).
    #[serde(default)]
    pub namespaces: IndexMap<String, String>,
    /// Requests in flight at once when writing or fetching records one by one (default 4).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The API's objects, by the name flows use.
    pub objects: IndexMap<String, ObjectSettings>,
}

fn default_concurrency() -> usize {
    4
}

/// Reply and request bodies of an object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// JSON (`records` is a JSON pointer or a JSONPath).
    #[default]
    Json,
    /// XML, a SOAP service (`records` is an XPath; request bodies are templates).
    Xml,
}

/// One object of the API.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectSettings {
    /// The list endpoint (`/api/customers`).
    pub path: String,
    /// Method of the list request (default GET; SOAP services take POST).
    #[serde(default)]
    pub method: Option<String>,
    /// Fixed query parameters of the list request (`{ sort: updated_at }`).
    #[serde(default)]
    pub query: IndexMap<String, String>,
    /// Body template of the list request, for services that take one (a SOAP envelope);
    /// it sees `page`, `page_size`, `offset`, `cursor` and `since`.
    #[serde(default)]
    pub list_body: Option<String>,
    /// JSON bodies (default) or XML.
    #[serde(default)]
    pub format: Format,
    /// Where the records are in a list reply: a JSON pointer (`/data`, `""` for a reply
    /// that is the list), a JSONPath (`$.data[*]`), or for XML an XPath (`//product`).
    #[serde(default)]
    pub records: String,
    /// How the list pages (default: it does not).
    #[serde(default)]
    pub paging: PagingSettings,
    /// Records asked for per page (default 100): no more than the API serves per page.
    #[serde(default)]
    pub page_size: Option<usize>,
    /// The field holding the record's id in the API (default `id`).
    #[serde(default)]
    pub id: Option<String>,
    /// Incremental reads: the query parameter that filters by change time and the field
    /// it compares. Without it, every read is a full pass over the list.
    #[serde(default)]
    pub since: Option<SinceSettings>,
    /// The endpoint of one record, a template that sees `id` (default `<path>/{{ id }}`);
    /// `false`-like values are not accepted: leave it out to use the default.
    #[serde(default)]
    pub read: Option<String>,
    /// Creating a record (default `POST <path>`).
    #[serde(default)]
    pub create: Option<EndpointSettings>,
    /// Changing a record by id (for example `PATCH <path>/{{ id }}`).
    #[serde(default)]
    pub update: Option<EndpointSettings>,
    /// Creating or changing a record by business key in one call (for example
    /// `PUT <path>/by-key/{{ key }}`). When set, writes use it alone.
    #[serde(default)]
    pub upsert: Option<EndpointSettings>,
    /// Deleting a record by id (for example `DELETE <path>/{{ id }}`).
    #[serde(default)]
    pub delete: Option<EndpointSettings>,
    /// The list's query parameter that finds a record by business key (`code` for
    /// `?code=C1`), so that a write with no known id updates instead of creating twice.
    #[serde(default)]
    pub find_by_key: Option<String>,
    /// Where the written record is in a write's reply (a JSON pointer, `""`: the reply;
    /// an XPath for XML), to learn its id.
    #[serde(default)]
    pub written: Option<String>,
    /// Where the id is in a write's reply when it is not the record's `id` field (an XML
    /// reply's `//id`).
    #[serde(default)]
    pub written_id: Option<String>,
}

/// Incremental reads by a change-time filter.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinceSettings {
    /// The query parameter (or list body variable `since`) that takes the time
    /// (`updated_since`).
    pub param: String,
    /// The record field it compares (`updated_at`). The list must come in this field's
    /// order, oldest first (add the API's sort parameter under `query:`).
    pub field: String,
    /// Whether the API returns records changed *at* the time given (`>=`, default) or only
    /// after it (`>`).
    #[serde(default = "yes")]
    pub inclusive: bool,
    /// Ask again from this long before the last change seen (`1s`), for an API whose
    /// filter is exclusive or whose records can commit late. Default 0s.
    #[serde(default)]
    pub overlap: Option<DurationStr>,
}

fn yes() -> bool {
    true
}

/// How a list pages; parameter names are the API's own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum PagingSettings {
    /// One request returns everything.
    #[default]
    None,
    /// `?page=1&per_page=100`.
    Page {
        /// Page number parameter (default `page`).
        #[serde(default)]
        page: Option<String>,
        /// Page size parameter (default `per_page`).
        #[serde(default)]
        size: Option<String>,
        /// The first page's number (default 1).
        #[serde(default)]
        first: Option<u64>,
        /// JSON pointer to the number of records in all (`/total`), if the reply has it.
        #[serde(default)]
        total: Option<String>,
        /// XML lists: an XPath that is true while more pages follow (`//has_more`).
        #[serde(default)]
        more: Option<String>,
    },
    /// `?offset=0&limit=100`.
    Offset {
        /// Offset parameter (default `offset`).
        #[serde(default)]
        offset: Option<String>,
        /// Page size parameter (default `limit`).
        #[serde(default)]
        limit: Option<String>,
        /// JSON pointer to the number of records in all (`/total`), if the reply has it.
        #[serde(default)]
        total: Option<String>,
    },
    /// A token in the reply, sent back as a parameter.
    Cursor {
        /// The parameter the token is sent in (default `cursor`).
        #[serde(default)]
        param: Option<String>,
        /// JSON pointer to the token (default `/next_cursor`).
        #[serde(default)]
        next: Option<String>,
        /// Page size parameter (default `limit`).
        #[serde(default)]
        size: Option<String>,
    },
    /// The next page's URL in the reply.
    NextUrl {
        /// JSON pointer to the URL (default `/next`).
        #[serde(default)]
        next: Option<String>,
        /// Page size parameter on the first request (default `limit`).
        #[serde(default)]
        size: Option<String>,
    },
    /// A `Link: <…>; rel="next"` header.
    Link {
        /// Page size parameter on the first request (default `per_page`).
        #[serde(default)]
        size: Option<String>,
    },
}

/// One write endpoint.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    /// HTTP method (defaults: create POST, update PATCH, upsert PUT, delete DELETE).
    #[serde(default)]
    pub method: Option<String>,
    /// Path template; sees `id`, `key` (both percent-encoded) and `record`
    /// (`/api/customers/{{ id }}`). Default: the object's path.
    #[serde(default)]
    pub path: Option<String>,
    /// Body template; sees `record` (the fields to write), `id` and `key`. JSON objects
    /// print as JSON (`{"customer": {{ record }}}`); XML templates escape what they print.
    /// Default: the record as a JSON object.
    #[serde(default)]
    pub body: Option<String>,
}

/// Options of a flow's `source:` reading a REST object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// The object, by its name under the system's `objects:`.
    pub object: String,
}

/// Options of a flow's `target:` writing a REST object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// The object, by its name under the system's `objects:`.
    pub object: String,
    /// The API field holding the business key, if it is not named like the canonical key
    /// field (and not renamed under `fields`).
    #[serde(default)]
    pub key: Option<String>,
    /// Canonical field → API field; `~` leaves a field out.
    #[serde(default)]
    pub fields: Renames,
}
