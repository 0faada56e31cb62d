//! # ferry-connectors
//!
//! The connectors compiled into this build. Each connector is its own crate
//! (`crates/connectors/<kind>/`) behind a cargo feature of the same name, all on by default;
//! `cargo build -p ferry --no-default-features --features sql,files` makes a binary that
//! knows only those two kinds. [`builtin`] is the one list of them: the binary hands it to the
//! engine, and tests that need real connectors use it too.
//!
//! Adding a connector: its crate, a feature and an optional dependency here (and the same
//! feature on the `ferry` binary), and one line in [`builtin`].

pub use ferry_kit::Registry;

/// The connectors compiled into this build, by kind.
pub fn builtin() -> Registry {
    #[allow(unused_mut)] // with no connector feature on, nothing is registered
    let mut registry = Registry::default();
    #[cfg(feature = "sql")]
    registry.register(std::sync::Arc::new(ferry_connector_sql::SqlFactory));
    #[cfg(feature = "files")]
    registry.register(std::sync::Arc::new(ferry_connector_files::FilesFactory));
    #[cfg(feature = "tryton")]
    registry.register(std::sync::Arc::new(ferry_connector_tryton::TrytonFactory));
    #[cfg(feature = "bottlecrm")]
    registry.register(std::sync::Arc::new(
        ferry_connector_bottlecrm::BottleCrmFactory,
    ));
    #[cfg(feature = "rest")]
    registry.register(std::sync::Arc::new(ferry_connector_rest::RestFactory));
    #[cfg(feature = "kingdee")]
    registry.register(std::sync::Arc::new(ferry_connector_kingdee::KingdeeFactory));
    #[cfg(feature = "jiandaoyun")]
    registry.register(std::sync::Arc::new(ferry_connector_jiandaoyun::JdyFactory));
    #[cfg(feature = "yonyou")]
    registry.register(std::sync::Arc::new(ferry_connector_yonyou::YonyouFactory));
    #[cfg(feature = "sap")]
    registry.register(std::sync::Arc::new(ferry_connector_sap::SapFactory));
    #[cfg(feature = "salesforce")]
    registry.register(std::sync::Arc::new(
        ferry_connector_salesforce::SalesforceFactory,
    ));
    #[cfg(feature = "shopify")]
    registry.register(std::sync::Arc::new(ferry_connector_shopify::ShopifyFactory));
    #[cfg(feature = "netsuite")]
    registry.register(std::sync::Arc::new(
        ferry_connector_netsuite::NetSuiteFactory,
    ));
    #[cfg(feature = "dynamics")]
    registry.register(std::sync::Arc::new(
        ferry_connector_dynamics::DynamicsFactory,
    ));
    registry
}

#[cfg(test)]
mod tests {
    /// Each feature turned on registers its kind, under the name `kind:` selects it by, and
    /// each kind declares that it reads or writes (a connector that does neither is a bug).
    #[test]
    fn every_feature_on_registers_its_kind() {
        let registry = super::builtin();
        let mut on: Vec<&str> = [
            (cfg!(feature = "sql"), "sql"),
            (cfg!(feature = "files"), "files"),
            (cfg!(feature = "tryton"), "tryton"),
            (cfg!(feature = "bottlecrm"), "bottlecrm"),
            (cfg!(feature = "rest"), "rest"),
            (cfg!(feature = "kingdee"), "kingdee"),
            (cfg!(feature = "jiandaoyun"), "jiandaoyun"),
            (cfg!(feature = "yonyou"), "yonyou"),
            (cfg!(feature = "sap"), "sap"),
            (cfg!(feature = "salesforce"), "salesforce"),
            (cfg!(feature = "shopify"), "shopify"),
            (cfg!(feature = "netsuite"), "netsuite"),
            (cfg!(feature = "dynamics"), "dynamics"),
        ]
        .into_iter()
        .filter_map(|(on, kind)| on.then_some(kind))
        .collect();
        on.sort_unstable();
        assert_eq!(registry.kinds().collect::<Vec<_>>(), on);
        for factory in registry.factories() {
            let caps = factory.capabilities();
            assert!(
                caps.read || caps.write,
                "{} neither reads nor writes",
                factory.kind()
            );
        }
    }
}
