//! The factory `kind: rest` selects, and the connector it builds: one per configured system.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_kit::http::{HttpClient, NoAuth, parse_settings};
use ferry_kit::settings::parse;
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};
use ferry_model::ConnectorError;
use ferry_model::config::ConfigIssue;
use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::api::Api;
use crate::object::Object;
use crate::sink::RestSink;
use crate::source::RestSource;
use crate::{SourceOptions, SystemSettings, TargetOptions};

/// Makes `rest` connectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestFactory;

impl ConnectorFactory for RestFactory {
    fn kind(&self) -> &'static str {
        "rest"
    }

    fn summary(&self) -> &'static str {
        "Any REST (JSON) or SOAP (XML) API described in ferry.yaml: endpoints, paging, record paths, templated writes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read: true,
            incremental: true,
            snapshot: true,
            webhook: false,
            write: true,
            delete: true,
            scan: true,
        }
    }

    fn schemas(&self) -> ConnectorSchemas {
        ConnectorSchemas::of::<SystemSettings, SourceOptions, TargetOptions>()
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues> {
        Ok(Arc::new(RestConnector::from_settings(ctx, settings)?))
    }
}

/// One configured API.
#[derive(Debug)]
pub struct RestConnector {
    pub(crate) api: Api,
    pub(crate) objects: IndexMap<String, Object>,
    pub(crate) concurrency: usize,
}

impl RestConnector {
    /// Validates the settings, compiles every object and prepares the HTTP client (no
    /// request is sent).
    pub fn from_settings(
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Self, SettingsIssues> {
        let system: SystemSettings = parse_settings(settings)?;
        let mut issues = Vec::new();
        let http = system
            .http
            .validate()
            .map_err(|found| issues.extend(found))
            .ok();
        let auth = match &system.auth {
            Some(auth) => auth
                .build()
                .map_err(|found| issues.extend(prefixed("auth", found)))
                .ok(),
            None => Some(Arc::new(NoAuth) as _),
        };
        if system.concurrency == 0 {
            issues.push(ConfigIssue::new(["concurrency"], "must be at least 1"));
        }
        if system.objects.is_empty() {
            issues.push(ConfigIssue::new(
                ["objects"],
                "describe at least one object (its list `path` and where its `records` are)",
            ));
        }
        let mut objects = IndexMap::new();
        for (name, object) in &system.objects {
            match object.validate(name) {
                Ok(o) => {
                    objects.insert(name.clone(), o);
                }
                Err(found) => issues.extend(prefixed_all(&["objects", name], found)),
            }
        }
        let (Some(http), Some(auth)) = (http, auth) else {
            return Err(issues);
        };
        if !issues.is_empty() {
            return Err(issues);
        }
        let mut http = HttpClient::new(&ctx.system, http, auth)
            .map_err(|e| vec![ConfigIssue::new(["url"], e.message().to_owned())])?;
        if let Some(rules) = system.reply_check {
            http = http.with_reply_check(Arc::new(rules));
        }
        Ok(Self {
            api: Api {
                http,
                namespaces: system.namespaces,
                error_message: system.error_message,
            },
            objects,
            concurrency: system.concurrency,
        })
    }

    fn object(&self, name: &str) -> Result<Object, SettingsIssues> {
        self.objects.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.objects.keys().map(String::as_str).collect();
            vec![ConfigIssue::new(
                ["object"],
                format!(
                    "the system describes no object `{name}` under `objects:` (it has {})",
                    known.join(", ")
                ),
            )]
        })
    }
}

#[async_trait]
impl Connector for RestConnector {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        let options: SourceOptions = parse(options)?;
        Ok(Arc::new(RestSource {
            api: self.api.clone(),
            object: self.object(&options.object)?,
            concurrency: self.concurrency,
        }))
    }

    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        let options: TargetOptions = parse(options)?;
        let object = self.object(&options.object)?;
        let key_field = options
            .key
            .clone()
            .or_else(|| {
                ferry_kit::sink::renamed(&options.fields, &ctx.key_field).map(str::to_owned)
            })
            .unwrap_or_else(|| ctx.key_field.clone());
        Ok(Arc::new(RestSink {
            api: self.api.clone(),
            object,
            renames: options.fields,
            key_field,
            canonical_key: ctx.key_field.clone(),
            fields: ctx.fields.clone(),
            concurrency: self.concurrency,
        }))
    }

    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.discover_objects().await
    }
}

fn prefixed(key: &str, issues: Vec<ConfigIssue>) -> Vec<ConfigIssue> {
    prefixed_all(&[key], issues)
}

fn prefixed_all(keys: &[&str], issues: Vec<ConfigIssue>) -> Vec<ConfigIssue> {
    issues
        .into_iter()
        .map(|mut i| {
            let mut path: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            path.append(&mut i.path);
            ConfigIssue::at(path, i.message)
        })
        .collect()
}
