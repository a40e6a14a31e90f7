//! The tenant's webhooks: each endpoint with its recent delivery attempts, replaying
//! an event to it and rotating its secret (the new secret is shown once, on the page
//! the rotation answers with). The same functions as the JSON routes, the same scopes.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_model::Scope;
use sluice_store::WebhookEndpoint;

use super::session::{ConsoleAuth, ConsolePost, NoFields};
use super::{ConsoleError, view};
use crate::AppState;
use crate::routes::webhooks::{find, replay, rotate};

/// Attempts shown on an endpoint's page.
const ATTEMPTS: usize = 25;

fn endpoint_row(endpoint: &WebhookEndpoint) -> Value {
    let view = crate::routes::webhooks::view(endpoint);
    json!({
        "id": endpoint.id.as_str(),
        "url": endpoint.url,
        "events": if endpoint.events.is_empty() {
            "every event".to_string()
        } else {
            endpoint.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
        },
        "status": serde_json::to_value(view.status).unwrap_or_default(),
        "disabled_reason": view.disabled_reason,
        "failing_since": view.failing_since.map(view::when),
        "created": view::when(endpoint.created_at),
    })
}

/// `GET /console/webhooks`.
pub async fn list(
    auth: ConsoleAuth,
    State(state): State<AppState>,
) -> Result<Response, ConsoleError> {
    let tenant = &auth.require(Scope::Read)?.tenant_id;
    let endpoints = state.store.list_webhooks(tenant).await?;
    let rows: Vec<Value> = endpoints.iter().map(endpoint_row).collect();
    Ok(view::page(
        "webhooks.html",
        &json!({"title": "Webhooks", "nav": auth.nav("webhooks"), "webhooks": rows}),
    )?
    .into_response())
}

async fn endpoint_page(
    auth: &ConsoleAuth,
    state: &AppState,
    endpoint: &WebhookEndpoint,
    new_secret: Option<&str>,
) -> Result<Response, ConsoleError> {
    let tenant = &auth.require(Scope::Read)?.tenant_id;
    let page = state
        .store
        .list_webhook_attempts(tenant, &endpoint.id, None, ATTEMPTS)
        .await?;
    let attempts: Vec<Value> = page
        .attempts
        .iter()
        .map(|a| {
            json!({
                "at": view::when(a.at),
                "event_id": a.event_id,
                "event_type": a.event_type.as_str(),
                "attempt": a.attempt,
                "outcome": serde_json::to_value(a.outcome).unwrap_or_default(),
                "http_status": a.http_status,
                "error": a.error,
                "duration_ms": a.duration_ms,
            })
        })
        .collect();
    Ok(view::page(
        "webhook.html",
        &json!({
            "title": format!("Webhook {}", endpoint.id),
            "nav": auth.nav("webhooks"),
            "w": endpoint_row(endpoint),
            "attempts": attempts,
            "new_secret": new_secret,
            "may_admin": auth.has(Scope::Admin),
            "csrf": auth.csrf,
        }),
    )?
    .into_response())
}

/// `GET /console/webhooks/{id}`.
pub async fn endpoint(
    auth: ConsoleAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let tenant = auth.require(Scope::Read)?.tenant_id.clone();
    let endpoint = find(&state, &tenant, &id).await?;
    endpoint_page(&auth, &state, &endpoint, None).await
}

/// `POST /console/webhooks/{id}/rotate-secret` (scope `admin`): answers with the
/// endpoint's page showing the new secret, once.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: ConsolePost<NoFields>,
) -> Result<Response, ConsoleError> {
    let tenant = post.auth.require(Scope::Admin)?.tenant_id.clone();
    let endpoint = rotate(&state, &tenant, &id).await?;
    endpoint_page(&post.auth, &state, &endpoint, Some(&endpoint.secret)).await
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    event_id: String,
}

/// `POST /console/webhooks/{id}/replay` (scope `admin`).
pub async fn replay_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: ConsolePost<ReplayForm>,
) -> Result<Response, ConsoleError> {
    let tenant = post.auth.require(Scope::Admin)?.tenant_id.clone();
    let (endpoint, _) = replay(&state, &tenant, &id, &post.form.event_id).await?;
    Ok(Redirect::to(&format!("/console/webhooks/{}", endpoint.id)).into_response())
}
