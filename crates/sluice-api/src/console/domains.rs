//! The tenant's sending domains: each one's DNS records to publish (with copy
//! buttons), the result of each DNS check, its DKIM keys, and the verify and
//! key-rotation buttons (the same calls as `POST /v1/domains/{name}/verify` and
//! `…/dkim/rotate`, with the same scopes).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use sluice_model::Scope;

use super::session::{ConsoleAuth, ConsolePost, NoFields};
use super::{ConsoleError, view};
use crate::AppState;
use crate::routes::domains::{domain_view, find, verify};

/// `GET /console/domains`.
pub async fn list(
    auth: ConsoleAuth,
    State(state): State<AppState>,
) -> Result<Response, ConsoleError> {
    let tenant = &auth.require(Scope::Read)?.tenant_id;
    let records = state.store.list_domains(tenant).await?;
    let rows: Vec<_> = records
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "status": serde_json::to_value(r.verification.status).unwrap_or_default(),
                "checked": r.verification.last_checked_at.map(view::when),
                "keys": r.keys.len(),
            })
        })
        .collect();
    Ok(view::page(
        "domains.html",
        &json!({"title": "Domains", "nav": auth.nav("domains"), "domains": rows}),
    )?
    .into_response())
}

/// `GET /console/domains/{name}`.
pub async fn domain(
    auth: ConsoleAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ConsoleError> {
    let tenant = &auth.require(Scope::Read)?.tenant_id;
    let record = find(&state, tenant, &name).await?;
    let domain = domain_view(&state.settings.dns, &record)?;
    let mut domain = serde_json::to_value(&domain).map_err(crate::problem::ApiError::internal)?;
    domain["checked"] = json!(record.verification.last_checked_at.map(view::when));
    Ok(view::page(
        "domain.html",
        &json!({
            "title": format!("Domain {}", record.name),
            "nav": auth.nav("domains"),
            "d": domain,
            "may_admin": auth.has(Scope::Admin),
            "csrf": auth.csrf,
        }),
    )?
    .into_response())
}

/// `POST /console/domains/{name}/verify` (scope `admin`).
pub async fn verify_now(
    State(state): State<AppState>,
    Path(name): Path<String>,
    post: ConsolePost<NoFields>,
) -> Result<Response, ConsoleError> {
    let tenant = post.auth.require(Scope::Admin)?.tenant_id.clone();
    let record = verify(&state, &tenant, &name).await?;
    Ok(Redirect::to(&format!("/console/domains/{}", record.name)).into_response())
}

/// `POST /console/domains/{name}/rotate` (scope `admin`): a pending key with its
/// record to publish; the 409 of a rotation already pending shows as a page.
pub async fn rotate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    post: ConsolePost<NoFields>,
) -> Result<Response, ConsoleError> {
    let tenant = post.auth.require(Scope::Admin)?.tenant_id.clone();
    let rotation = sluice_domains::rotate_dkim_key(&state.store, &tenant, &name, None)
        .await
        .map_err(crate::problem::ApiError::from)?;
    Ok(Redirect::to(&format!("/console/domains/{}", rotation.domain.name)).into_response())
}
