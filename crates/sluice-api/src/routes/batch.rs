//! Sending many messages in one request: each is checked like a single send and
//! gets its own result, and the accepted ones are written in a few Redis calls.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_model::{FieldError, MessageId, OutboundMessage, Scope, SendMessageRequest};
use sluice_store::{AcceptOutcome, NewMessage};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiKeyAuth, JsonBody, deserialize, fingerprint};
use crate::problem::{ApiError, Cause, ErrorReports, Problem};
use crate::routes::CommonErrors;
use crate::routes::messages::{
    Lookups, MessageAccepted, accepted, idempotency_key, prepare_message,
};
use crate::{AppState, quota_headers};

/// Most messages in one batch.
pub const MAX_BATCH: usize = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send_batch))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 500 messages, each exactly as `POST /v1/messages` takes it.
    #[schema(value_type = Vec<SendMessageRequest>, min_items = 1, max_items = 500)]
    pub messages: Vec<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    /// One result per message, in request order.
    pub results: Vec<BatchResult>,
}

/// A message's result: accepted (`id`, `status`), or the problem that refused it
/// (its own `status`: 404, 409, 413, 429 or 503).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchResult {
    Accepted(MessageAccepted),
    Refused(Problem),
}

/// Send up to 500 messages at once. Every message is validated first: if any is
/// malformed (what `POST /v1/messages` answers with 422), the whole batch is a 422
/// naming each fault as `messages[i].field`, and nothing is sent. Otherwise each
/// message is checked against the quota of its stream (each message counts) and
/// accepted on its own: a message refused for what depends on state (quota, an
/// unknown template, a reused idempotency key, its size) does not stop the others.
/// The answer is 200 with a result per message.
///
/// With an `Idempotency-Key` header, message *i* is idempotent under `<key>#<i>`:
/// repeating the batch returns the same ids and sends nothing again.
#[utoipa::path(post, path = "/v1/messages/batch", tag = "messages", security(("api_key" = ["send"])),
    request_body = BatchRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of the whole batch safe")),
    responses(
        (status = 200, description = "One result per message, in order", body = BatchResponse,
            headers(("RateLimit-Policy" = String, description = "Quotas of the streams used (see `POST /v1/messages`)"),
                ("RateLimit" = String, description = "What remains of them after this batch"))),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the request size limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`messages` is missing, empty or has more than 500 entries, or a message is malformed (`errors` names each fault as `messages[i].field`); nothing was sent", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn send_batch(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonBody<BatchRequest>,
) -> Result<Response, ApiError> {
    auth.require(Scope::Send)?;
    let tenant = &auth.0.tenant_id;
    let count = body.value.messages.len();
    if count == 0 || count > MAX_BATCH {
        return Err(ApiError::field(
            "messages",
            format!("must hold 1 to {MAX_BATCH} messages, got {count}"),
        ));
    }
    let idempotency = idempotency_key(&headers)?;
    let now = OffsetDateTime::now_utc();

    // Check every message first; only the valid ones go to Redis.
    let mut results: Vec<Option<Result<MessageAccepted, ApiError>>> = Vec::with_capacity(count);
    let mut ready: Vec<Prepared> = Vec::new();
    let mut lookups = Lookups::default();
    for (index, raw) in body.value.messages.into_iter().enumerate() {
        // Message i is idempotent under `<key>#<i>`, with its own body's fingerprint.
        let message_key = idempotency.map(|key| (format!("{key}#{index}"), fingerprint(&raw)));
        let prepared = match deserialize::<SendMessageRequest>(raw) {
            Err(error) => Err(error),
            Ok(request) => prepare_message(&state, tenant, request, now, &mut lookups).await,
        };
        match prepared {
            Ok(message) => {
                let id = MessageId::generate();
                let header = format!("<{id}@{}>", message.from.address.domain());
                ready.push(Prepared {
                    index,
                    id,
                    header,
                    message,
                    idempotency: message_key,
                });
                results.push(None);
            }
            Err(error) => results.push(Some(Err(error))),
        }
    }

    // A malformed message (a 422: wrong types, bad addresses, missing content) means
    // a broken client: the whole batch is refused, every fault named by its index,
    // and nothing is sent. What depends on state stays per message (below).
    let malformed: Vec<FieldError> = results
        .iter()
        .enumerate()
        .filter_map(|(index, result)| match result {
            Some(Err(ApiError::Validation(errors))) => Some((index, errors)),
            _ => None,
        })
        .flat_map(|(index, errors)| {
            errors
                .iter()
                .map(move |e| FieldError::new(format!("messages[{index}].{}", e.field), &e.message))
        })
        .collect();
    if !malformed.is_empty() {
        return Err(ApiError::Validation(malformed));
    }

    let news: Vec<NewMessage<'_>> = ready
        .iter()
        .map(|p| NewMessage {
            tenant,
            id: &p.id,
            message: &p.message,
            message_id_header: &p.header,
            idempotency: p
                .idempotency
                .as_ref()
                .map(|(key, fp)| (key.as_str(), fp.as_str())),
            now,
            test: auth.0.mode.is_test(),
        })
        .collect();
    let outcome = state
        .store
        .accept_messages(&news, &state.settings.quotas)
        .await?;
    // Redis failed after some messages were stored: those stand (they will be sent),
    // and each message not stored gets its own 503, so a client retries only those.
    let failure = outcome.interrupted.map(|error| {
        let stored = outcome
            .outcomes
            .iter()
            .filter(|o| !matches!(o, AcceptOutcome::NotStored))
            .count();
        tracing::warn!(%error, stored, "a batch was cut short by a Redis error");
        (error.is_out_of_memory(), Cause::new(error))
    });
    for (prepared, outcome) in ready.iter().zip(outcome.outcomes) {
        results[prepared.index] = Some(match (&outcome, &failure) {
            (AcceptOutcome::NotStored, Some((true, cause))) => {
                Err(ApiError::StorageFull(cause.clone()))
            }
            (AcceptOutcome::NotStored, Some((false, cause))) => {
                Err(ApiError::Unavailable(cause.clone()))
            }
            _ => accepted(outcome, prepared.message.stream, auth.0.mode.is_test())
                .map(|(accepted, _)| accepted),
        });
    }

    // Each refused message's server-side cause goes to the log, as an error response's does.
    let mut reports = ErrorReports::default();
    let results = results
        .into_iter()
        .map(|result| {
            let error = match result {
                Some(Ok(accepted)) => return BatchResult::Accepted(accepted),
                Some(Err(error)) => error,
                None => ApiError::internal("a batch message got no result"),
            };
            reports.0.extend(error.report());
            BatchResult::Refused(error.into_problem())
        })
        .collect();
    let mut response = Json(BatchResponse { results }).into_response();
    quota_headers::insert(response.headers_mut(), &outcome.quotas);
    if !reports.0.is_empty() {
        response.extensions_mut().insert(reports);
    }
    Ok(response)
}

/// A valid message on its way to Redis.
struct Prepared {
    index: usize,
    id: MessageId,
    header: String,
    message: OutboundMessage,
    /// `(<key>#<index>, fingerprint of this message's JSON)`.
    idempotency: Option<(String, String)>,
}
