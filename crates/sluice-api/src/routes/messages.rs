//! Sending messages and reading their delivery status.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sluice_model::{
    MessageId, MessageStatus, MessageView, OutboundMessage, Scope, SendMessageRequest, TenantId,
    ValidationFailure,
};
use sluice_store::{AcceptOutcome, NewMessage};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{ApiKeyAuth, JsonBody};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_message))
        .routes(routes!(get_message))
}

/// The request body limit for a message: base64 attachments are 4/3 of the message's
/// own size, plus room for the JSON around them.
pub fn body_limit(max_message_bytes: usize) -> usize {
    max_message_bytes / 3 * 4 + 256 * 1024
}

pub fn body_limit_layer(max_message_bytes: usize) -> DefaultBodyLimit {
    DefaultBodyLimit::max(body_limit(max_message_bytes))
}

#[derive(Serialize, ToSchema)]
pub struct MessageAccepted {
    pub id: MessageId,
    /// `queued`, or `scheduled` when `send_at` is in the future.
    #[schema(example = "queued")]
    pub status: MessageStatus,
}

/// Send a message. Answers 202 once the message is safely in Redis; delivery happens
/// in the background (follow it with `GET /v1/messages/{id}`).
///
/// With an `Idempotency-Key` header, repeating the same request within 24 hours returns
/// the first response (with `Idempotent-Replayed: true`) and sends nothing again; the
/// same key with a different body is a 409.
#[utoipa::path(post, path = "/v1/messages", tag = "messages", security(("api_key" = ["send"])),
    request_body = SendMessageRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1 to 255 printable ASCII characters")),
    responses(
        (status = 202, description = "Accepted and queued", body = MessageAccepted,
            headers(("Location" = String, description = "The message's URL"))),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused with a different body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over the message size limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, one entry per field", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn send_message(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonBody<SendMessageRequest>,
) -> Result<Response, ApiError> {
    auth.require(Scope::Send)?;
    let tenant = &auth.0.tenant_id;
    let idempotency_key = idempotency_key(&headers)?;
    let now = OffsetDateTime::now_utc();
    let message = prepare_message(&state, tenant, body.value, now).await?;
    let from_domain = message.from.address.domain().to_string();
    let id = MessageId::generate();
    let message_id_header = format!("<{id}@{from_domain}>");
    let outcome = state
        .store
        .accept_message(NewMessage {
            tenant,
            id: &id,
            message: &message,
            message_id_header: &message_id_header,
            idempotency: idempotency_key.map(|key| (key, body.fingerprint.as_str())),
            now,
        })
        .await?;
    let (id, status, replayed) = match outcome {
        AcceptOutcome::Created { id, status } => {
            metrics::counter!("sluice_messages_accepted_total", "stream" => message.stream.as_str()).increment(1);
            (id, status, false)
        }
        AcceptOutcome::Replayed { id, status } => (id, status, true),
        AcceptOutcome::Conflict { id } => {
            return Err(ApiError::Conflict(format!(
                "Idempotency-Key was already used with a different body (for message {id})"
            )));
        }
    };
    let location = format!("/v1/messages/{id}");
    let mut response = (StatusCode::ACCEPTED, Json(MessageAccepted { id, status })).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Turns a send request into the message to queue: renders its template (if any),
/// validates every field, and checks the sender domain belongs to the tenant. Shared
/// by single and batch sends, so both refuse exactly the same things.
pub(crate) async fn prepare_message(
    state: &AppState,
    tenant: &TenantId,
    request: SendMessageRequest,
    now: OffsetDateTime,
) -> Result<OutboundMessage, ApiError> {
    let message = request
        .validate(&state.settings.limits, now)
        .map_err(|failure| match failure {
            ValidationFailure::Invalid(errors) => ApiError::Validation(errors),
            ValidationFailure::TooLarge {
                estimated_bytes,
                limit_bytes,
            } => ApiError::TooLarge {
                estimated_bytes,
                limit_bytes,
            },
        })?;
    let from_domain = message.from.address.domain();
    if !state.store.has_domain(tenant, from_domain).await? {
        return Err(ApiError::field(
            "from",
            format!(
                "{from_domain} is not one of this tenant's domains; add it with POST /v1/domains"
            ),
        ));
    }
    Ok(message)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::field(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters",
        )
    };
    let key = value.to_str().map_err(|_| invalid())?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (32..127).contains(&b)) {
        return Err(invalid());
    }
    Ok(Some(key))
}

/// A message's status, each recipient's result with the SMTP reply, and its events.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", security(("api_key" = ["read"])),
    params(("id" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message", body = MessageView),
        (status = 404, description = "No such message for this tenant", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn get_message(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    auth.require(Scope::Read)?;
    let not_found = || ApiError::NotFound(format!("no message {id}"));
    let message_id = MessageId::parse(&id).map_err(|_| not_found())?;
    state
        .store
        .get_message(&auth.0.tenant_id, &message_id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}
