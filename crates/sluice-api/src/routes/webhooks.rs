//! Webhook endpoints: register a URL for some or all event types, then Sluice POSTs
//! each event there, signed per Standard Webhooks with the endpoint's `whsec_` secret.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_model::net::is_public;
use sluice_model::webhook_url::{self, Url, UrlError};
use sluice_model::{
    EventRecord, EventType, FieldError, Scope, TenantId, WebhookAttempt, WebhookId,
};
use sluice_store::WebhookEndpoint;
use sluice_wire::WebhookSecret;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiKeyAuth, JsonBody};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;
use crate::{AppState, paging};

/// Endpoints one tenant may have.
const MAX_ENDPOINTS: usize = 100;

/// What the webhook routes need from the configuration.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `webhook_allow_private`: accept URLs on private, loopback and link-local addresses.
    pub allow_private: bool,
    /// How long a rotated-out secret keeps signing (`webhooks.rotation_grace`).
    pub rotation_grace: Duration,
    /// How long a replayed delivery may stay scheduled (longer than every retry).
    pub delivery_ttl: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            rotation_grace: Duration::from_secs(24 * 3600),
            delivery_ttl: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(enable_webhook))
        .routes(routes!(list_attempts))
        .routes(routes!(replay_event))
}

#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    Enabled,
    /// Failed continuously for too long (a `webhook.disabled` event said so); nothing
    /// is delivered until it is enabled again.
    Disabled,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: WebhookId,
    #[schema(example = "https://hooks.example.com/sluice")]
    pub url: String,
    /// The event types delivered; empty means every type.
    pub events: Vec<EventType>,
    pub status: WebhookStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<OffsetDateTime>,
    /// When the current run of failed attempts began (absent after any success).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failing_since: Option<OffsetDateTime>,
    /// After a rotation: until when the previous secret also signs every delivery.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A webhook with its signing secret: shown only when created and when rotated.
#[derive(Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// Verify deliveries with it (any Standard Webhooks library takes it as is).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<WebhookView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/sluice", "events": ["message.delivered", "message.bounced"]}))]
pub struct CreateWebhookRequest {
    /// Where to POST events: `https://` (or `http://`) on a public address.
    pub url: String,
    /// The event types to deliver; empty or absent means every type.
    #[serde(default)]
    #[schema(value_type = Vec<EventType>)]
    pub events: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// An event of this tenant's feed (`GET /v1/events`).
    #[schema(example = "evt_1795376091664-0")]
    pub event_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayAccepted {
    pub webhook_id: WebhookId,
    pub event_id: String,
    /// `queued`: delivered again shortly, with the same `webhook-id`.
    #[schema(example = "queued")]
    pub status: &'static str,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Attempts per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptList {
    /// Newest first; about the last 1000 attempts are kept.
    pub attempts: Vec<WebhookAttempt>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Register a webhook endpoint. The answer carries its signing secret, shown only
/// now (and after a rotation).
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("api_key" = ["admin"])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created", body = WebhookWithSecret),
        (status = 409, description = "The tenant already has the maximum number of webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields: a URL that is not http(s), or points at a private address; an unknown event type", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn create_webhook(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    auth.require(Scope::Admin)?;
    let settings = &state.settings.webhooks;
    let request = body.value;
    let mut errors = Vec::new();
    let url = match webhook_url::parse_url(&request.url, settings.allow_private) {
        Ok(url) => Some(url),
        Err(e) => {
            errors.push(FieldError::new("url", e));
            None
        }
    };
    let mut events = Vec::new();
    for (i, name) in request.events.iter().enumerate() {
        match EventType::parse(name) {
            Some(kind) if !events.contains(&kind) => events.push(kind),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("events[{i}]"),
                format!("unknown event type; one of {}", event_type_names()),
            )),
        }
    }
    if let Some(url) = &url
        && let Err(e) = check_resolves_publicly(url, settings.allow_private).await
    {
        errors.push(FieldError::new("url", e));
    }
    let Some(url) = url.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let tenant = &auth.0.tenant_id;
    if state.store.list_webhooks(tenant).await?.len() >= MAX_ENDPOINTS {
        return Err(ApiError::Conflict(format!(
            "a tenant can have at most {MAX_ENDPOINTS} webhooks; delete one first"
        )));
    }
    let secret = WebhookSecret::generate();
    let endpoint = state
        .store
        .create_webhook(tenant, url.as_str(), &events, secret.expose())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret {
            webhook: view(&endpoint),
            secret: endpoint.secret,
        }),
    ))
}

/// The tenant's webhooks (secrets are not shown).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("api_key" = ["read"])),
    responses((status = 200, description = "Every webhook", body = WebhookList), CommonErrors))]
async fn list_webhooks(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
) -> Result<Json<WebhookList>, ApiError> {
    auth.require(Scope::Read)?;
    let endpoints = state.store.list_webhooks(&auth.0.tenant_id).await?;
    Ok(Json(WebhookList {
        webhooks: endpoints.iter().map(view).collect(),
    }))
}

/// One webhook (its secret is not shown).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", security(("api_key" = ["read"])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn get_webhook(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    auth.require(Scope::Read)?;
    let endpoint = find(&state, &auth.0.tenant_id, &id).await?;
    Ok(Json(view(&endpoint)))
}

/// Delete a webhook. Deliveries still scheduled for it are dropped.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn delete_webhook(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::Admin)?;
    let id = parse_id(&id)?;
    if state.store.delete_webhook(&auth.0.tenant_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id.as_str()))
    }
}

/// Replace the signing secret. The answer carries the new one; the old one keeps
/// signing every delivery too until `previous_secret_expires_at` (24 hours by
/// default), so receivers can switch over without missing a delivery.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "Rotated", body = WebhookWithSecret),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn rotate_secret(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    auth.require(Scope::Admin)?;
    let endpoint = rotate(&state, &auth.0.tenant_id, &id).await?;
    Ok(Json(WebhookWithSecret {
        webhook: view(&endpoint),
        secret: endpoint.secret,
    }))
}

/// Gives the webhook a new secret (the old one signs too for the grace period); the
/// endpoint as it now stands, new secret included (the JSON route and the console).
pub(crate) async fn rotate(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
) -> Result<WebhookEndpoint, ApiError> {
    let id = parse_id(id)?;
    let secret = WebhookSecret::generate();
    let grace_until = OffsetDateTime::now_utc() + state.settings.webhooks.rotation_grace;
    if !state
        .store
        .rotate_webhook_secret(tenant, &id, secret.expose(), grace_until)
        .await?
    {
        return Err(not_found(id.as_str()));
    }
    find(state, tenant, id.as_str()).await
}

/// Enable a webhook again (after it was disabled for failing). Events from now on are
/// delivered; what was given up meanwhile can be sent again with `replay`.
#[utoipa::path(post, path = "/v1/webhooks/{id}/enable", tag = "webhooks", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "Enabled", body = WebhookView),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn enable_webhook(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    auth.require(Scope::Admin)?;
    let tenant = &auth.0.tenant_id;
    let id = parse_id(&id)?;
    if !state.store.enable_webhook(tenant, &id).await? {
        return Err(not_found(id.as_str()));
    }
    let endpoint = find(&state, tenant, id.as_str()).await?;
    Ok(Json(view(&endpoint)))
}

/// The webhook's delivery attempts, newest first: time, event, attempt number, HTTP
/// status or error, duration and the next retry.
#[utoipa::path(get, path = "/v1/webhooks/{id}/attempts", tag = "webhooks", security(("api_key" = ["read"])),
    params(("id" = String, Path, description = "Webhook id"), AttemptParams),
    responses(
        (status = 200, description = "A page of attempts", body = AttemptList),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn list_attempts(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<AttemptParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AttemptList>, ApiError> {
    auth.require(Scope::Read)?;
    let Query(params) = params.map_err(|e| ApiError::field("query", e.body_text()))?;
    let mut errors = Vec::new();
    let cursor = check_cursor(params.cursor.as_deref(), &mut errors);
    let limit = paging::limit(params.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let tenant = &auth.0.tenant_id;
    let endpoint = find(&state, tenant, &id).await?;
    let page = state
        .store
        .list_webhook_attempts(tenant, &endpoint.id, cursor, limit)
        .await?;
    Ok(Json(AttemptList {
        attempts: page.attempts,
        next_cursor: page.next_cursor,
    }))
}

/// Deliver one event of the feed to this webhook again, with its original
/// `webhook-id` (receivers that de-duplicate see a repeat).
#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", tag = "webhooks", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Webhook id")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "Scheduled", body = ReplayAccepted),
        (status = 404, description = "No such webhook, or no such event in the tenant's feed (`errors` names `event_id`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The webhook is disabled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn replay_event(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody<ReplayRequest>,
) -> Result<(StatusCode, Json<ReplayAccepted>), ApiError> {
    auth.require(Scope::Admin)?;
    let (endpoint, record) = replay(&state, &auth.0.tenant_id, &id, &body.value.event_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayAccepted {
            webhook_id: endpoint.id,
            event_id: record.id,
            status: "queued",
        }),
    ))
}

/// Schedules event `event_id` for webhook `id` again (the JSON route and the console).
pub(crate) async fn replay(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    event_id: &str,
) -> Result<(WebhookEndpoint, EventRecord), ApiError> {
    let endpoint = find(state, tenant, id).await?;
    if !endpoint.enabled {
        return Err(ApiError::Conflict(format!(
            "webhook {} is disabled; enable it first",
            endpoint.id
        )));
    }
    let event_id = event_id.trim();
    let Some(record) = state.store.get_event(tenant, event_id).await? else {
        return Err(ApiError::UnknownReference(FieldError::new(
            "event_id",
            "no such event in this tenant's feed (events are kept for the retention period)",
        )));
    };
    let delivery = sluice_store::NewDelivery {
        tenant,
        endpoint: &endpoint.id,
        record: &record,
    };
    let now_ms = sluice_model::time::now_ms();
    state
        .store
        .enqueue_webhook_deliveries(
            &[delivery],
            now_ms,
            state.settings.webhooks.delivery_ttl,
            true,
        )
        .await?;
    Ok((endpoint, record))
}

pub(crate) fn view(endpoint: &WebhookEndpoint) -> WebhookView {
    let now = OffsetDateTime::now_utc();
    WebhookView {
        id: endpoint.id.clone(),
        url: endpoint.url.clone(),
        events: endpoint.events.clone(),
        status: if endpoint.enabled {
            WebhookStatus::Enabled
        } else {
            WebhookStatus::Disabled
        },
        disabled_reason: endpoint.disabled_reason.clone(),
        disabled_at: endpoint.disabled_at,
        failing_since: endpoint.failing_since,
        previous_secret_expires_at: endpoint
            .previous_secret
            .as_ref()
            .map(|(_, until)| *until)
            .filter(|until| *until > now),
        created_at: endpoint.created_at,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no webhook {id}"))
}

fn parse_id(id: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(id).map_err(|_| not_found(id))
}

pub(crate) async fn find(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
) -> Result<WebhookEndpoint, ApiError> {
    let parsed = parse_id(id)?;
    state
        .store
        .get_webhook(tenant, &parsed)
        .await?
        .ok_or_else(|| not_found(id))
}

pub(crate) fn event_type_names() -> String {
    EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A page cursor (a stream entry id handed out as `next_cursor`), or a field error.
pub(crate) fn check_cursor<'a>(
    cursor: Option<&'a str>,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    paging::cursor(
        cursor,
        |text| sluice_store::webhooks::is_stream_cursor(text).then_some(text),
        errors,
    )
}

/// At endpoint creation: refuses a name that resolves to any non-public address
/// (`Ok` when it does not resolve at all: the endpoint may not exist yet, and the
/// sender's resolver checks again at every delivery anyway).
async fn check_resolves_publicly(url: &Url, allow_private: bool) -> Result<(), UrlError> {
    let Some(name) = webhook_url::host_to_resolve(url) else {
        return Ok(());
    };
    if allow_private {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::net::lookup_host((name, port));
    match tokio::time::timeout(Duration::from_secs(3), lookup).await {
        Ok(Ok(addrs)) => match addrs.map(|a| a.ip()).find(|ip| !is_public(*ip)) {
            Some(ip) => Err(UrlError::Private(format!("{name} ({ip})"))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}
