//! The one error type of `pin-core`.

/// What went wrong, in terms a caller can act on.
///
/// Every variant that comes from user input quotes the input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A CID that does not parse.
    #[error("invalid CID {input:?}: {reason}")]
    InvalidCid { input: String, reason: String },
    /// A value that is not one of the names allowed for `field`.
    #[error("invalid {field} {input:?}: expected one of {expected}")]
    InvalidValue {
        field: &'static str,
        input: String,
        expected: &'static str,
    },
    /// A field that breaks a limit of the model (name length, metadata keys, negative size, ...).
    #[error("invalid {field} for {cid}: {reason}")]
    Invalid {
        field: &'static str,
        cid: String,
        reason: String,
    },
    /// A listing cursor that this store did not hand out.
    #[error("invalid cursor {input:?}: {reason}")]
    InvalidCursor { input: String, reason: String },
    /// The backend failed; the message says where.
    #[error("{0}")]
    Backend(String),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
