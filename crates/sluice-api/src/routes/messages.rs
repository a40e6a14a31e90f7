//! Sending messages and reading their delivery status.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sluice_model::{
    MessageId, MessageStatus, MessageStream, MessageView, OutboundMessage, Scope,
    SendMessageRequest, TenantId, ValidationFailure,
};
use sluice_store::{AcceptOutcome, CancelOutcome, NewMessage, SendingDomain};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiKeyAuth, JsonBody, PathId};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;
use crate::templates::TemplateCache;
use crate::{AppState, quota_headers};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_message))
        .routes(routes!(get_message, cancel_message))
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
/// With a sandbox key (`sk_test_…`) the message is checked, counted against the
/// tenant's sandbox quota and built and signed like any other, but never sent: its
/// outcome is simulated from each recipient's local part (see the README's "Sandbox
/// keys") and its events carry `"test": true`.
///
/// With an `Idempotency-Key` header, repeating the same request within 24 hours returns
/// the first response (with `Idempotent-Replayed: true`) and sends nothing again; the
/// same key with a different body is a 409.
#[utoipa::path(post, path = "/v1/messages", tag = "messages", security(("api_key" = ["send"])),
    request_body = SendMessageRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1 to 255 printable ASCII characters")),
    responses(
        (status = 202, description = "Accepted and queued", body = MessageAccepted,
            headers(("Location" = String, description = "The message's URL"),
                ("RateLimit-Policy" = String, description = "The stream's quotas (IETF draft syntax): `\"<stream>-rate\";q=<burst>;w=<seconds>, \"<stream>-day\";q=<per day>;w=86400`"),
                ("RateLimit" = String, description = "What remains of each: `\"<stream>-rate\";r=<remaining>;t=<seconds to reset>, …`"))),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`template_id` or `template_version` names a template (or version) this tenant does not have; `errors` names the field", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused with a different body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over the message size limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, one entry per field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the tenant's quota for the message's stream (retry after `Retry-After` seconds), or `urn:sluice:problem:reputation-paused`: bulk mail while the reputation guard has the tenant's bulk stream paused (no `Retry-After`: until an operator resumes it)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the message would fit the quota"))),
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
    let message = prepare_message(&state, tenant, body.value, now, &mut Lookups::default()).await?;
    let from_domain = message.from.address.domain().to_string();
    let id = MessageId::generate();
    let message_id_header = format!("<{id}@{from_domain}>");
    let (outcome, quotas) = state
        .store
        .accept_message(
            NewMessage {
                tenant,
                id: &id,
                message: &message,
                message_id_header: &message_id_header,
                idempotency: idempotency_key.map(|key| (key, body.fingerprint.as_str())),
                now,
                test: auth.0.mode.is_test(),
            },
            &state.settings.quotas,
        )
        .await?;
    let mut response = match accepted(outcome, message.stream, auth.0.mode.is_test()) {
        Ok((accepted, replayed)) => {
            let location = format!("/v1/messages/{}", accepted.id);
            let mut response = (StatusCode::ACCEPTED, Json(accepted)).into_response();
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            if replayed {
                response
                    .headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            response
        }
        Err(error) => error.into_response(),
    };
    quota_headers::insert(response.headers_mut(), &quotas);
    Ok(response)
}

/// What the client hears about one message: accepted (and whether it was a replay),
/// or why not. Counts accepted messages for the metrics, a sandbox key's apart
/// (`mode="test"`: they are never sent).
pub(crate) fn accepted(
    outcome: AcceptOutcome,
    stream: MessageStream,
    test: bool,
) -> Result<(MessageAccepted, bool), ApiError> {
    match outcome {
        AcceptOutcome::Created { id, status } => {
            metrics::counter!(
                "sluice_messages_accepted_total",
                "stream" => stream.as_str(),
                "mode" => if test { "test" } else { "live" },
            )
            .increment(1);
            Ok((MessageAccepted { id, status }, false))
        }
        AcceptOutcome::Replayed { id, status } => Ok((MessageAccepted { id, status }, true)),
        AcceptOutcome::Conflict { id } => Err(ApiError::Conflict(format!(
            "Idempotency-Key was already used with a different body (for message {id})"
        ))),
        AcceptOutcome::InProgress { id } => Err(ApiError::Conflict(format!(
            "a request with this Idempotency-Key is still being stored (message {id}); retry in a second"
        ))),
        AcceptOutcome::NotStored => Err(ApiError::Unavailable(crate::problem::Cause::new(
            "the message was not stored (Redis failed on the way)",
        ))),
        AcceptOutcome::OverQuota {
            stream,
            limit,
            retry_after,
        } => Err(ApiError::QuotaExceeded {
            stream,
            limit,
            retry_after,
        }),
    }
}

/// Turns a send request into the message to queue: renders its template (if any),
/// validates every field, and checks the sender domain belongs to the tenant. Shared
/// by single and batch sends, so both refuse exactly the same things.
pub(crate) async fn prepare_message(
    state: &AppState,
    tenant: &TenantId,
    request: SendMessageRequest,
    now: OffsetDateTime,
    lookups: &mut Lookups,
) -> Result<OutboundMessage, ApiError> {
    let request =
        crate::templates::render_template(state, tenant, request, now, &mut lookups.templates)
            .await?;
    let message =
        request
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
    let sending = match lookups.domains.get(from_domain) {
        Some(known) => *known,
        None => {
            let found = state.store.sending_domain(tenant, from_domain).await?;
            lookups.domains.insert(from_domain.to_string(), found);
            found
        }
    };
    match sending {
        None => Err(ApiError::field(
            "from",
            format!(
                "{from_domain} is not one of this tenant's domains; add it with POST /v1/domains"
            ),
        )),
        Some(domain)
            if state.settings.domains.require_verified
                && domain.status != sluice_model::DomainStatus::Verified =>
        {
            Err(ApiError::field(
                "from",
                format!(
                    "{from_domain} is not verified; publish its DNS records (GET /v1/domains/{from_domain}) and verify it with POST /v1/domains/{from_domain}/verify"
                ),
            ))
        }
        Some(_) => bulk_allowed(state, tenant, message, lookups).await,
    }
}

/// Refuses bulk mail while the reputation guard has the tenant's bulk stream paused
/// (read once per request). Transactional mail is never refused for reputation.
async fn bulk_allowed(
    state: &AppState,
    tenant: &TenantId,
    message: OutboundMessage,
    lookups: &mut Lookups,
) -> Result<OutboundMessage, ApiError> {
    if message.stream != MessageStream::Bulk {
        return Ok(message);
    }
    let pause = match &lookups.bulk_pause {
        Some(known) => known.clone(),
        None => {
            let found = state.store.bulk_pause(tenant).await?;
            lookups.bulk_pause = Some(found.clone());
            found
        }
    };
    match pause {
        Some(pause) => Err(ApiError::ReputationPaused {
            pause: Box::new(pause),
        }),
        None => Ok(message),
    }
}

/// What one request has read from Redis already: a batch of 500 messages from one
/// domain and one template reads each once, not 500 times.
#[derive(Default)]
pub(crate) struct Lookups {
    pub domains: HashMap<String, Option<SendingDomain>>,
    pub templates: TemplateCache,
    /// Whether the tenant's bulk stream is paused (outer `None`: not read yet).
    pub bulk_pause: Option<Option<sluice_model::BulkPause>>,
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
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
    id: Result<PathId<MessageId>, ApiError>,
) -> Result<Json<MessageView>, ApiError> {
    auth.require(Scope::Read)?;
    let id = id?;
    state
        .store
        .get_message(&auth.0.tenant_id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| id.not_found())
}

/// Cancel a message that has not been sent yet (`scheduled`, `queued`, or `deferred`
/// waiting for a retry). Answers 200 with the message as it now stands: `cancelled`,
/// its pending recipients `cancelled`, a `message.cancelled` event in its timeline (and
/// the event feed and webhooks). When some recipients already received it in an
/// earlier attempt the status stays `delivered` and only the rest are cancelled.
///
/// 409 when there is nothing left to cancel (already final) or a delivery attempt is
/// running right now (its outcome decides; retry if it ends `deferred`).
#[utoipa::path(delete, path = "/v1/messages/{id}", tag = "messages", security(("api_key" = ["send"])),
    params(("id" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "Cancelled; the message as it now stands", body = MessageView),
        (status = 404, description = "No such message for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already final, or being delivered right now", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn cancel_message(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    id: Result<PathId<MessageId>, ApiError>,
) -> Result<Json<MessageView>, ApiError> {
    auth.require(Scope::Send)?;
    let id = id?;
    let tenant = &auth.0.tenant_id;
    cancel(&state, tenant, &id).await?;
    state
        .store
        .get_message(tenant, &id)
        .await?
        .map(Json)
        .ok_or_else(|| id.not_found())
}

/// Cancels message `id` of `tenant` (the JSON route and the console's button): 404
/// when it is not the tenant's, 409 when final or being delivered.
pub(crate) async fn cancel(
    state: &AppState,
    tenant: &TenantId,
    id: &PathId<MessageId>,
) -> Result<(), ApiError> {
    let now = OffsetDateTime::now_utc();
    match state.store.cancel_message(tenant, id, now).await? {
        CancelOutcome::Cancelled(_) => {
            metrics::counter!("sluice_messages_cancelled_total").increment(1);
            Ok(())
        }
        CancelOutcome::NotFound => Err(id.not_found()),
        CancelOutcome::Final(status) => Err(ApiError::Conflict(format!(
            "message {id} is already {}; there is nothing left to cancel",
            status.as_str()
        ))),
        CancelOutcome::InFlight => Err(ApiError::Conflict(format!(
            "message {id} is being delivered right now; it can be cancelled only if this attempt ends deferred"
        ))),
    }
}
