//! The one place errors become HTTP responses: RFC 9457 `application/problem+json`.
//!
//! A server-side failure (500, 503) keeps its cause: [`Cause`] holds the source error
//! and where our code met it. The client hears an opaque problem; the cause travels in
//! the response's extensions ([`ErrorReports`]) to [`log_errors`], the one layer that
//! logs it (as axum's `examples/error-handling` does).

use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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
    /// A field names something that does not exist (a template, a template version, an
    /// event): 404, with the field named as a validation error would be.
    #[error("{}: {}", .0.field, .0.message)]
    UnknownReference(FieldError),
    /// A field's value conflicts with the current state of what it acts on: 409, with
    /// the field named.
    #[error("{}: {}", .0.field, .0.message)]
    FieldConflict(FieldError),
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
    /// The tenant's bulk stream is paused by the reputation guard (no Retry-After: it
    /// lasts until an operator resumes it).
    #[error(
        "bulk sending for this tenant is paused since {} because its bulk mail reached the reputation guard's pause thresholds: {}. Queued bulk mail is held, not dropped. Transactional mail is not affected. Bulk sending resumes when an operator resumes the tenant (POST /v1/admin/tenants/{{id}}/resume) after the causes (bad addresses, complaints) are dealt with",
        pause.since.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        pause.figures.describe()
    )]
    ReputationPaused { pause: Box<sluice_model::BulkPause> },
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Cause),
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
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
    StorageFull(#[source] Cause),
    /// The request (its body included) took longer than `http.request_timeout`.
    #[error("{0}")]
    RequestTimeout(String),
}

/// The error behind a server-side failure, for the log only: the source error and the
/// place in our code that turned it into an [`ApiError`] (like Svix's `ctx!`).
#[derive(Clone)]
pub struct Cause {
    error: Arc<dyn Error + Send + Sync>,
    location: &'static Location<'static>,
}

impl Cause {
    /// Keeps `error` with the caller's file and line.
    #[track_caller]
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            error: Arc::from(error.into()),
            location: Location::caller(),
        }
    }

    /// Where the error was met.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

impl fmt::Display for Cause {
    /// The error's own message (which, by this code base's habit, names its source's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cause")
            .field("error", &self.error)
            .field("location", &format_args!("{}", self.location))
            .finish()
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.error)
    }
}

impl ApiError {
    pub fn field(field: &str, message: impl ToString) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// A 500 caused by `error` (logged with the caller's location, never shown).
    #[track_caller]
    pub fn internal(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        ApiError::Internal(Cause::new(error))
    }

    /// A 503 with `Retry-After: 1`: storage (or this process) cannot take the request
    /// now; `error` says why, in the log.
    #[track_caller]
    pub fn unavailable(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        ApiError::Unavailable(Cause::new(error))
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
            ApiError::Conflict(_) | ApiError::FieldConflict(_) => {
                (StatusCode::CONFLICT, "conflict", "Conflict")
            }
            ApiError::UnknownReference(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
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
            ApiError::ReputationPaused { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "reputation-paused",
                "Bulk sending is paused for this tenant's reputation",
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
    /// Keeps the store error as the cause, located where `?` met it.
    #[track_caller]
    fn from(error: StoreError) -> Self {
        match error {
            full if full.is_out_of_memory() => ApiError::StorageFull(Cause::new(full)),
            // Connection errors, READONLY, LOADING, MASTERDOWN, TRYAGAIN, BUSY: all
            // passing states of the server, never the request's fault.
            redis @ StoreError::Redis(_) => ApiError::Unavailable(Cause::new(redis)),
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
            other => ApiError::Internal(Cause::new(other)),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Store(e) => ApiError::from(e),
            VerifyError::Busy => ApiError::Conflict(error.to_string()),
            VerifyError::Resolver(_) => ApiError::internal(error),
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
                ApiError::FieldConflict(FieldError::new("algorithm", e))
            }
            DomainError::KeyGeneration(_) | DomainError::KeyTask(_) => ApiError::internal(error),
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
            // The cause goes to the log (see `report`), never to the client.
            ApiError::Internal(_) => "an internal error occurred; it has been logged".to_string(),
            ApiError::Unavailable(_) => "the request was not processed; retry shortly".to_string(),
            ApiError::StorageFull(_) => {
                "Redis is out of memory and refuses new data; nothing was stored. Retry later"
                    .to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation(errors) => errors,
            ApiError::UnknownReference(error) | ApiError::FieldConflict(error) => vec![error],
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
        let report = self.report();
        let problem = self.into_problem();
        let mut response = (status, axum::Json(problem)).into_response();
        if let Some(report) = report {
            response.extensions_mut().insert(ErrorReports(vec![report]));
        }
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

/// What [`log_errors`] logs about one server-side failure.
#[derive(Clone, Debug)]
pub struct Report {
    severity: Severity,
    cause: Cause,
}

#[derive(Clone, Copy, Debug)]
enum Severity {
    /// Our fault (500).
    Internal,
    /// Redis (or this process) cannot take requests now (503).
    Unavailable,
    /// Redis is at `maxmemory` (503).
    StorageFull,
}

impl Report {
    fn log(&self) {
        let (error, location) = (&self.cause, self.cause.location());
        match self.severity {
            Severity::Internal => tracing::error!(%error, %location, "internal error"),
            Severity::Unavailable => tracing::warn!(%error, %location, "storage unavailable"),
            Severity::StorageFull => {
                tracing::warn!(%error, %location, "Redis is at maxmemory and refuses writes")
            }
        }
    }
}

/// The server-side failures behind a response, carried in its extensions to
/// [`log_errors`]: one for an error response, one per refused item for a batch.
#[derive(Clone, Debug, Default)]
pub struct ErrorReports(pub Vec<Report>);

impl ApiError {
    /// The cause to log, for server-side failures; `None` for the client's own errors.
    pub fn report(&self) -> Option<Report> {
        let (severity, cause) = match self {
            ApiError::Internal(cause) => (Severity::Internal, cause),
            ApiError::Unavailable(cause) => (Severity::Unavailable, cause),
            ApiError::StorageFull(cause) => (Severity::StorageFull, cause),
            _ => return None,
        };
        Some(Report {
            severity,
            cause: cause.clone(),
        })
    }
}

/// The one place server-side failures are logged: after the handler, from the
/// response's [`ErrorReports`], inside the request's trace span.
pub async fn log_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(ErrorReports(reports)) = response.extensions().get() {
        for report in reports {
            report.log();
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sealing_fails() -> Result<(), StoreError> {
        Err(StoreError::KeySealing("no key configured".into()))
    }

    #[test]
    fn a_store_error_keeps_its_cause_and_where_question_mark_met_it() {
        let line = line!() + 1;
        let error = (|| -> Result<(), ApiError> { Ok(sealing_fails()?) })().unwrap_err();
        let ApiError::Internal(cause) = &error else {
            panic!("not an internal error: {error:?}");
        };
        assert_eq!(cause.to_string(), "DKIM key encryption: no key configured");
        assert!(cause.source().is_some_and(|s| s.is::<StoreError>()));
        assert!(cause.location().file().ends_with("problem.rs"));
        assert_eq!(cause.location().line(), line);
    }

    #[test]
    fn the_client_hears_an_opaque_problem_and_the_cause_rides_in_an_extension() {
        let response = ApiError::internal("the sandbox binary is missing").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let ErrorReports(reports) = response.extensions().get::<ErrorReports>().unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(
            reports[0].cause.to_string(),
            "the sandbox binary is missing"
        );
        let problem = ApiError::internal("secret detail").into_problem();
        assert_eq!(problem.problem_type, "urn:sluice:problem:internal-error");
        assert_eq!(
            problem.detail,
            "an internal error occurred; it has been logged"
        );

        let unavailable = ApiError::unavailable("shutting down").into_response();
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], "1");
        assert!(unavailable.extensions().get::<ErrorReports>().is_some());
    }

    #[test]
    fn client_errors_carry_nothing_to_log() {
        let response = ApiError::NotFound("no message msg_x".into()).into_response();
        assert!(response.extensions().get::<ErrorReports>().is_none());
    }
}
