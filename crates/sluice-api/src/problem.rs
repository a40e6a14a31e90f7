//! The one place errors become HTTP responses: RFC 9457 `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use serde::Serialize;
use sluice_domains::lifecycle::RotateError;
use sluice_domains::{DomainError, VerifyError};
use sluice_model::{FieldError, MessageStream};
use sluice_store::{QuotaLimit, StoreError};
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:sluice:problem:validation-error",
    "title": "The request has invalid fields",
    "status": 422,
    "detail": "2 fields are invalid",
    "errors": [{"field": "to[0]", "message": "must contain exactly one '@' between a local part and a domain"}]
}))]
pub struct Problem {
    /// A URN naming the kind of problem; stable, safe to match on.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: one entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every way a request can fail. Handlers return these; `IntoResponse` maps them.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    #[error("the message is {estimated_bytes} bytes, over the {limit_bytes} byte limit")]
    TooLarge {
        estimated_bytes: usize,
        limit_bytes: usize,
    },
    #[error("the request body is over the size limit")]
    BodyTooLarge,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error(
        "over this tenant's {} quota for {} mail; retry in {} s",
        match limit { QuotaLimit::Rate => "per-second", QuotaLimit::Daily => "24-hour" },
        stream.as_str(),
        retry_after_secs(*retry_after)
    )]
    QuotaExceeded {
        stream: MessageStream,
        limit: QuotaLimit,
        retry_after: Duration,
    },
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// `/readyz`: Redis answers, but its settings could lose accepted mail.
    #[error("{0}")]
    NotReady(String),
    /// `durability.mode = replicas`: stored, but not confirmed by enough replicas.
    #[error(
        "the message was stored, but only {acknowledged} of {required} Redis replicas confirmed it within {} ms, so it could be lost if the primary failed now. It may still be delivered: retry with the same Idempotency-Key, which answers with the first message instead of sending it twice",
        timeout.as_millis()
    )]
    NotReplicated {
        acknowledged: u32,
        required: u32,
        timeout: Duration,
    },
    /// Redis is at `maxmemory` and refuses writes (`noeviction`).
    #[error("storage full: {0}")]
    StorageFull(String),
    /// The request (its body included) took longer than `http.request_timeout`.
    #[error("{0}")]
    RequestTimeout(String),
}

impl ApiError {
    pub fn field(field: &str, message: impl ToString) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::MalformedJson(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "The request body is not valid JSON",
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-error",
                "The request has invalid fields",
            ),
            ApiError::TooLarge { .. } | ApiError::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "message-too-large",
                "The message is too large",
            ),
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::QuotaExceeded { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                "Sending quota exceeded",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Storage is unavailable; nothing was changed",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
            ),
            ApiError::NotReady(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "Not ready: Redis could lose accepted mail",
            ),
            ApiError::NotReplicated { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not-replicated",
                "Not confirmed by enough replicas",
            ),
            ApiError::StorageFull(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Storage is unavailable; nothing was changed",
            ),
            ApiError::RequestTimeout(_) => (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "The request took too long",
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            ref full if full.is_out_of_memory() => ApiError::StorageFull(full.to_string()),
            // Connection errors, READONLY, LOADING, MASTERDOWN, TRYAGAIN, BUSY: all
            // passing states of the server, never the request's fault.
            StoreError::Redis(e) => ApiError::Unavailable(e.to_string()),
            StoreError::NotReplicated {
                acknowledged,
                required,
                timeout,
            } => {
                metrics::counter!("sluice_accepts_not_replicated_total").increment(1);
                ApiError::NotReplicated {
                    acknowledged,
                    required,
                    timeout,
                }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Store(e) => ApiError::from(e),
            VerifyError::Busy => ApiError::Conflict(error.to_string()),
            VerifyError::Resolver(_) => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Store(e) => ApiError::from(e),
            DomainError::NotFound(_) => ApiError::NotFound(error.to_string()),
            DomainError::AlreadyExists(_)
            | DomainError::Busy
            | DomainError::Rotate(RotateError::PendingExists(_)) => {
                ApiError::Conflict(error.to_string())
            }
            DomainError::Rotate(e @ RotateError::AlgorithmRequired) => {
                ApiError::field("algorithm", e)
            }
            DomainError::KeyGeneration(_) | DomainError::KeyTask(_) => {
                ApiError::Internal(error.to_string())
            }
        }
    }
}

/// Whole seconds for `Retry-After`: rounded up, and never 0 (which would invite an
/// immediate retry that fails the same way).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

impl ApiError {
    /// The problem document, for a response or for one item of a batch.
    pub fn into_problem(self) -> Problem {
        let (status, slug, title) = self.parts();
        let detail = match &self {
            ApiError::Validation(errors) if errors.len() == 1 => {
                format!("{}: {}", errors[0].field, errors[0].message)
            }
            ApiError::Validation(errors) => format!("{} fields are invalid", errors.len()),
            ApiError::Internal(_) => {
                // The cause goes to the log, never to the client.
                tracing::error!(error = %self, "internal error");
                "an internal error occurred; it has been logged".to_string()
            }
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %self, "storage unavailable");
                "the request was not processed; retry shortly".to_string()
            }
            ApiError::StorageFull(_) => {
                tracing::warn!(error = %self, "Redis is at maxmemory and refuses writes");
                "Redis is out of memory and refuses new data; nothing was stored. Retry later"
                    .to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation(errors) => errors,
            _ => Vec::new(),
        };
        Problem {
            problem_type: format!("urn:sluice:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.parts().0;
        let retry_after = match &self {
            ApiError::QuotaExceeded { retry_after, .. } => Some(retry_after_secs(*retry_after)),
            ApiError::Unavailable(_) | ApiError::NotReplicated { .. } => Some(1),
            ApiError::NotReady(_) => Some(10),
            // Memory comes back as workers deliver and records expire: not at once.
            ApiError::StorageFull(_) => Some(5),
            _ => None,
        };
        let problem = self.into_problem();
        let mut response = (status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
