//! The one error type of `pin-vfs`.

use std::path::PathBuf;

use crate::event::Problem;

/// What went wrong, in terms a caller can act on.
///
/// Bad input inside a source (a journal line that does not parse, a path outside its mount, an invalid CID)
/// is not an error: it is a [`Problem`], reported with file and line and skipped. An `Error` stops the
/// operation that returned it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The pin store refused or failed.
    #[error("pin store: {0}")]
    Store(#[from] pin_core::Error),
    /// One piece of bad input, where the caller asked for exactly one item (e.g. parsing a single line).
    #[error("{0}")]
    BadInput(Problem),
    /// An argument that is not one of the accepted values.
    #[error("invalid {what} {input:?}: expected {expected}")]
    InvalidArgument {
        what: &'static str,
        input: String,
        expected: &'static str,
    },
    /// A file kept changing while it was hashed.
    #[error("{}: changed while being hashed, {attempts} times in a row; not recorded", path.display())]
    Unstable { path: PathBuf, attempts: u32 },
    /// The journal no longer matches the checkpoint recorded for it (truncated, rewritten or replaced).
    #[error("{}: {reason}", path.display())]
    JournalChanged { path: PathBuf, reason: String },
    /// A stored checkpoint that does not decode.
    #[error("checkpoint {key:?} is corrupt: {reason}")]
    CorruptCheckpoint { key: String, reason: String },
    /// The directory watcher could not be set up.
    #[error("watching {}: {reason}", path.display())]
    Watch { path: PathBuf, reason: String },
    /// The receiving end of a channel source was dropped.
    #[error("the VFS event channel is closed")]
    Closed,
    /// A background task of this crate panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
