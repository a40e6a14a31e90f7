//! The tenant's API keys: the list (never a secret) and revocation, with the scope
//! the API asks for (`admin`). Revoking the key the session logged in with ends the
//! session on the next request.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use sluice_model::{ApiKeyId, Scope};

use super::session::{ConsoleAuth, ConsolePost, NoFields};
use super::{ConsoleError, view};
use crate::AppState;
use crate::extract::PathId;

/// `GET /console/api-keys`.
pub async fn list(
    auth: ConsoleAuth,
    State(state): State<AppState>,
) -> Result<Response, ConsoleError> {
    let record = auth.require(Scope::Admin)?;
    let keys = state.store.list_api_keys(&record.tenant_id).await?;
    let rows: Vec<_> = keys
        .iter()
        .map(|key| {
            json!({
                "id": key.id.as_str(),
                "name": key.name,
                "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                "last4": key.last4,
                "created": view::when(key.created_at),
                "expires": key.expires_at.map(view::when),
                "status": serde_json::to_value(key.status).unwrap_or_default(),
                "active": key.revoked_at.is_none()
                    && key.expires_at.is_none_or(|at| at > time::OffsetDateTime::now_utc()),
                "current": key.id == record.id,
            })
        })
        .collect();
    Ok(view::page(
        "api_keys.html",
        &json!({
            "title": "API keys",
            "nav": auth.nav("api-keys"),
            "keys": rows,
            "csrf": auth.csrf,
        }),
    )?
    .into_response())
}

/// `POST /console/api-keys/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    post: ConsolePost<NoFields>,
) -> Result<Response, ConsoleError> {
    let tenant = post.auth.require(Scope::Admin)?.tenant_id.clone();
    let id = PathId::<ApiKeyId>::from_segment(&segment)?;
    crate::routes::api_keys::revoke(&state, &tenant, &id).await?;
    Ok(Redirect::to("/console/api-keys").into_response())
}
