//! The one error type of `pin-tiers`.

/// What went wrong, in terms a caller can act on.
///
/// Every variant that comes from user input names the input: the tier and field of a bad tier table, the
/// line of a bad trace, the name of an unknown policy.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The tier table is not valid TOML or does not have the expected shape (unknown key, wrong type).
    #[error("invalid tier table: {0}")]
    Toml(String),
    /// A field of a tier (or of the `[planner]` section) has a value outside what is allowed.
    #[error("invalid tier table: {section}.{field} = {value}: {reason}")]
    InvalidField {
        /// `tier "ssd"` or `planner`.
        section: String,
        /// The field name as written in the file.
        field: &'static str,
        /// The value as written.
        value: String,
        /// What would be right.
        reason: String,
    },
    /// A line of a trace that does not parse.
    #[error("trace line {line}: {reason}")]
    Trace {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A policy name that is not known.
    #[error("unknown policy {name:?}: expected one of {expected}")]
    UnknownPolicy {
        /// The name given.
        name: String,
        /// The names that are known.
        expected: String,
    },
    /// An argument that makes no sense (an empty history, a zero horizon, ...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which argument.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Reading a file failed (only the small path helpers do I/O).
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        reason: String,
    },
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads a whole text file, naming it in the error (the only I/O of the crate).
pub(crate) fn read_text(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
