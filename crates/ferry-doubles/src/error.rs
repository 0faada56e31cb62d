//! Errors of the doubles' own machinery (not the vendor errors a double answers with).

/// Starting or running a double failed.
#[derive(Debug, thiserror::Error)]
pub enum DoubleError {
    /// The listening socket could not be opened.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// A setting of a double is not usable.
    #[error("{setting}: {reason}")]
    Config { setting: String, reason: String },
}

/// A change the record store refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no object `{object}` in this double")]
    UnknownObject { object: String },
    #[error("{object}: a record with {key_field} `{key}` exists already (id {id})")]
    DuplicateKey {
        object: String,
        key_field: String,
        key: String,
        id: u64,
    },
    #[error("{object}: no record with id {id}")]
    NotFound { object: String, id: u64 },
}
