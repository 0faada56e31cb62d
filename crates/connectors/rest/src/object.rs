//! The API's objects as the connector uses them: [`ObjectSettings`] checked and compiled
//! (templates parsed, paths parsed, defaults filled in), so that nothing in them can fail
//! later for a reason `ferry check` could have named.

use std::time::Duration;

use ferry_kit::http::{Method, Paging, RecordPath};
use ferry_model::config::ConfigIssue;

use crate::config::{EndpointSettings, Format, ObjectSettings, PagingSettings, SinceSettings};
use crate::template::{Escape, Template};
use crate::xml;

/// Where the records are in a list reply.
#[derive(Debug, Clone)]
pub enum Records {
    /// JSON: a pointer or a JSONPath.
    Json(RecordPath),
    /// XML: an XPath selecting the record elements.
    Xml(String),
}

/// One object, ready to use.
#[derive(Debug, Clone)]
pub struct Object {
    /// Its name under `objects:`.
    pub name: String,
    /// The list request.
    pub list: List,
    /// The field holding a record's id.
    pub id: String,
    /// Incremental reads, if the API filters by change time.
    pub since: Option<Since>,
    /// The path of one record (sees `id`).
    pub read: Template,
    /// Write endpoints.
    pub create: Option<Endpoint>,
    pub update: Option<Endpoint>,
    pub upsert: Option<Endpoint>,
    pub delete: Option<Endpoint>,
    /// The list parameter that finds a record by business key.
    pub find_by_key: Option<String>,
    /// Where the written record is in a write's reply (a JSON pointer).
    pub written: Option<String>,
    /// Where the written record's id is in a write's reply (a JSON pointer or an XPath).
    pub written_id: Option<String>,
}

/// The list request.
#[derive(Debug, Clone)]
pub struct List {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Template>,
    pub format: Format,
    pub records: Records,
    pub paging: Option<Paging>,
    /// JSON pointer to the count of all records (offset and page paging).
    pub total: Option<String>,
    /// XML page paging: true while more pages follow.
    pub more: Option<String>,
    pub page_size: usize,
}

/// Incremental reads.
#[derive(Debug, Clone)]
pub struct Since {
    pub param: String,
    pub field: String,
    pub inclusive: bool,
    pub overlap: Duration,
}

/// A write endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub method: Method,
    pub path: Template,
    /// `None`: the record as a JSON object.
    pub body: Option<Template>,
}

impl ObjectSettings {
    /// Checks and compiles the object's settings; issues are relative to the object's map.
    pub fn validate(&self, name: &str) -> Result<Object, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut note = |path: &[&str], message: String| {
            issues.push(ConfigIssue::at(
                path.iter().map(|s| (*s).to_owned()).collect(),
                message,
            ));
        };
        let format = self.format;
        let body_escape = match format {
            Format::Json => Escape::Json,
            Format::Xml => Escape::Xml,
        };
        let method = parse_method(self.method.as_deref(), Method::GET).unwrap_or_else(|m| {
            note(&["method"], m);
            Method::GET
        });
        let records = match format {
            Format::Json => RecordPath::parse(&self.records).map(Records::Json),
            Format::Xml if self.records.trim().is_empty() => {
                Err("give the XPath of the record elements (`//product`)".to_owned())
            }
            Format::Xml => xml::check(&self.records).map(|_| Records::Xml(self.records.clone())),
        }
        .unwrap_or_else(|m| {
            note(&["records"], m);
            Records::Json(RecordPath::Pointer(String::new()))
        });
        let list_body = compile(
            self.list_body.as_deref(),
            body_escape,
            &["list_body"],
            &mut note,
        );
        let (paging, total, more) = self.paging.compile(format, &mut note);
        if self.list_body.is_some()
            && !matches!(
                paging,
                None | Some(Paging::Page { .. } | Paging::Offset { .. })
            )
        {
            note(
                &["paging", "style"],
                "a list with a `list_body` pages by number (`style: page`) or offset".to_owned(),
            );
        }
        let page_size = self.page_size.unwrap_or(100);
        if page_size == 0 {
            note(&["page_size"], "must be at least 1".to_owned());
        }
        let since = self.since.as_ref().map(SinceSettings::compile);
        if let Some(s) = &since
            && (s.param.trim().is_empty() || s.field.trim().is_empty())
        {
            note(&["since"], "give both `param` (the query parameter) and `field` (the record field it compares)".to_owned());
        }
        let path = self.path.trim_end_matches('/').to_owned();
        let read_source = self
            .read
            .clone()
            .unwrap_or_else(|| format!("{path}/{{{{ id }}}}"));
        let read = compile(Some(&read_source), Escape::Path, &["read"], &mut note);
        let endpoint = |key: &str,
                        settings: Option<&EndpointSettings>,
                        method: Method,
                        default_path: Option<&str>,
                        note: &mut dyn FnMut(&[&str], String)| {
            let settings = match (settings, default_path) {
                (Some(s), _) => s.clone(),
                (None, Some(_)) => EndpointSettings {
                    method: None,
                    path: None,
                    body: None,
                },
                (None, None) => return None,
            };
            let method = parse_method(settings.method.as_deref(), method).unwrap_or_else(|m| {
                note(&[key, "method"], m);
                Method::POST
            });
            let path_source = settings
                .path
                .clone()
                .or(default_path.map(str::to_owned))
                .unwrap_or_else(|| path.clone());
            let path = compile(Some(&path_source), Escape::Path, &[key, "path"], note)?;
            let body = compile(settings.body.as_deref(), body_escape, &[key, "body"], note);
            if format == Format::Xml && body.is_none() && method != Method::DELETE {
                note(
                    &[key, "body"],
                    "an XML object needs a body template for its writes".to_owned(),
                );
            }
            Some(Endpoint { method, path, body })
        };
        // JSON objects are created with `POST <path>` unless told otherwise; an XML object's
        // writes need an envelope, so it has no default.
        let default_create = (format == Format::Json).then_some(path.as_str());
        let create = endpoint(
            "create",
            self.create.as_ref(),
            Method::POST,
            default_create,
            &mut note,
        );
        let update = endpoint(
            "update",
            self.update.as_ref(),
            Method::PATCH,
            None,
            &mut note,
        );
        let upsert = endpoint("upsert", self.upsert.as_ref(), Method::PUT, None, &mut note);
        let delete = endpoint(
            "delete",
            self.delete.as_ref(),
            Method::DELETE,
            None,
            &mut note,
        );
        let written = self.written.clone();
        if let Some(w) = &written
            && !(w.is_empty() || w.starts_with('/'))
        {
            note(
                &["written"],
                format!("`{w}` is not a JSON pointer (`/data`)"),
            );
        }
        if format == Format::Xml
            && let Some(Err(m)) = self.written_id.as_deref().map(xml::check)
        {
            note(&["written_id"], m);
        }
        match (list_body, read) {
            (list_body, Some(read)) if issues.is_empty() => Ok(Object {
                name: name.to_owned(),
                list: List {
                    method,
                    path,
                    query: self
                        .query
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    body: list_body,
                    format,
                    records,
                    paging,
                    total,
                    more,
                    page_size: page_size.max(1),
                },
                id: self.id.clone().unwrap_or_else(|| "id".to_owned()),
                since,
                read,
                create,
                update,
                upsert,
                delete,
                find_by_key: self.find_by_key.clone(),
                written,
                written_id: self.written_id.clone(),
            }),
            _ => Err(issues),
        }
    }
}

impl SinceSettings {
    fn compile(&self) -> Since {
        Since {
            param: self.param.clone(),
            field: self.field.clone(),
            inclusive: self.inclusive,
            overlap: self.overlap.map_or(Duration::ZERO, |d| d.0),
        }
    }
}

impl PagingSettings {
    /// The kit's paging, the total pointer and the XML "more" XPath.
    fn compile(
        &self,
        format: Format,
        note: &mut dyn FnMut(&[&str], String),
    ) -> (Option<Paging>, Option<String>, Option<String>) {
        let name = |given: &Option<String>, default: &str| {
            given.clone().unwrap_or_else(|| default.to_owned())
        };
        let paging = match self {
            PagingSettings::None => return (None, None, None),
            PagingSettings::Page {
                page,
                size,
                first,
                total,
                more,
            } => {
                if let Some(Err(m)) = more.as_deref().map(xml::check) {
                    note(&["paging", "more"], m);
                }
                return (
                    Some(Paging::Page {
                        page: name(page, "page"),
                        size: name(size, "per_page"),
                        first: first.unwrap_or(1),
                    }),
                    total.clone(),
                    more.clone(),
                );
            }
            PagingSettings::Offset {
                offset,
                limit,
                total,
            } => {
                return (
                    Some(Paging::Offset {
                        offset: name(offset, "offset"),
                        limit: name(limit, "limit"),
                    }),
                    total.clone(),
                    None,
                );
            }
            PagingSettings::Cursor { param, next, size } => Paging::Cursor {
                param: name(param, "cursor"),
                pointer: name(next, "/next_cursor"),
                size: Some(name(size, "limit")),
            },
            PagingSettings::NextUrl { next, size } => Paging::NextUrl {
                pointer: name(next, "/next"),
                limit: Some(name(size, "limit")),
            },
            PagingSettings::Link { size } => Paging::Link {
                size: Some(name(size, "per_page")),
            },
        };
        if format == Format::Xml {
            note(
                &["paging", "style"],
                "XML lists page by number (`style: page`) or offset".to_owned(),
            );
        }
        (Some(paging), None, None)
    }
}

fn parse_method(given: Option<&str>, default: Method) -> Result<Method, String> {
    match given.map(str::trim) {
        None => Ok(default),
        Some(m) => match m.to_ascii_uppercase().as_str() {
            "GET" => Ok(Method::GET),
            "POST" => Ok(Method::POST),
            "PUT" => Ok(Method::PUT),
            "PATCH" => Ok(Method::PATCH),
            "DELETE" => Ok(Method::DELETE),
            _ => Err(format!("`{m}` is not one of GET, POST, PUT, PATCH, DELETE")),
        },
    }
}

fn compile(
    source: Option<&str>,
    escape: Escape,
    at: &[&str],
    note: &mut dyn FnMut(&[&str], String),
) -> Option<Template> {
    let source = source?;
    Template::compile(source, escape)
        .map_err(|m| note(at, format!("the template does not compile: {m}")))
        .ok()
}
