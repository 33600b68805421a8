//! The crate's error type, and the JSON error body every endpoint answers with.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What went wrong outside a request: configuration, the listener, the store behind the reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid setting {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] pin_core::Error),
    /// Accepting connections failed.
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answer: the Pinning Service API's `Failure` body, `{"error":{"reason":"...","details":"..."}}`.
///
/// The `/v1` endpoints use the same body, so a client handles one error shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
    pub(crate) details: String,
    /// Extra top-level fields (for example the bad lines of `POST /v1/events`).
    pub(crate) extra: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Failure<'a> {
    error: FailureBody<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct FailureBody<'a> {
    reason: &'a str,
    details: &'a str,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, reason: &'static str, details: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            details: details.into(),
            extra: None,
        }
    }
    pub(crate) fn bad_request(details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", details)
    }
    pub(crate) fn not_found(details: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", details)
    }
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Access token is missing or invalid (send Authorization: Bearer <token>)",
        )
    }
    pub(crate) fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }
}

impl From<pin_core::Error> for ApiError {
    fn from(e: pin_core::Error) -> Self {
        match e {
            pin_core::Error::Backend(msg) => {
                tracing::error!(error = %msg, "store failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", msg)
            }
            // Every other variant is about the input.
            other => Self::bad_request(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Failure {
            error: FailureBody {
                reason: self.reason,
                details: &self.details,
            },
            extra: self.extra.as_ref(),
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
