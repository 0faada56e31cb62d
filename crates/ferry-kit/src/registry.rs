//! The set of connector kinds a build knows, by `kind:`. The binary fills it with the
//! connectors compiled in (`ferry-connectors`); the engine only looks kinds up.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ConnectorFactory;

/// Connector factories by `kind`.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<&'static str, Arc<dyn ConnectorFactory>>,
}

impl Registry {
    /// Adds a factory (a later one with the same kind replaces the earlier).
    pub fn register(&mut self, factory: Arc<dyn ConnectorFactory>) {
        self.factories.insert(factory.kind(), factory);
    }
    /// The factory for `kind`.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ConnectorFactory>> {
        self.factories.get(kind)
    }
    /// Every registered kind, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.factories.keys().copied()
    }
    /// Every factory, sorted by kind.
    pub fn factories(&self) -> impl Iterator<Item = &Arc<dyn ConnectorFactory>> {
        self.factories.values()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}
