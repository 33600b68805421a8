//! The one error type of `pin-store`.

use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was refused by the model (invalid CID, name too long, ...); nothing was recorded.
    #[error(transparent)]
    Invalid(#[from] pin_core::Error),
    /// Another process holds the writer lock of the data directory.
    #[error("data directory {dir} is locked by another writer ({holder}); open it read-only or stop that process")]
    Locked { dir: PathBuf, holder: String },
    /// A file is damaged; the path says which.
    #[error("corrupt {path}: {reason}")]
    Corrupt { path: String, reason: String },
    /// Another writer committed the same manifest version: the single-writer rule was broken.
    #[error(
        "manifest version {version} was committed by someone else; is another writer running against the same store?"
    )]
    Conflict { version: u64 },
    /// A bulk load was started on a store that already holds pins.
    #[error("cannot bulk load: {0}")]
    NotEmpty(String),
    /// A write on a store opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,
    /// A previous write failed to reach the disk; the process must reopen the store.
    #[error("the writer is stopped after an I/O failure ({0}); reopen the store")]
    Poisoned(String),
    /// Configuration that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// Arrow failed.
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A background task of a read was cancelled (the runtime is shutting down).
    #[error("a background read was cancelled: {0}")]
    Task(String),
    /// A query failed (syntax, unknown column, refused statement, ...).
    #[error("query: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for pin_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(inner) => inner,
            other => pin_core::Error::Backend(other.to_string()),
        }
    }
}
