//! A tenant's own view of its API keys: list them (never the secrets) and revoke one.
//! Keys are created by the operator (`POST /v1/admin/tenants/{id}/api-keys`); the
//! operator's listing and revocation share the helpers here.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use sluice_model::{ApiKeyId, ApiKeyView, FieldError, Scope, TenantId};
use sluice_store::NewApiKey;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{ApiKeyAuth, PathId};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys))
        .routes(routes!(revoke_api_key))
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Oldest first; revoked and expired keys stay listed for the retention period.
    pub api_keys: Vec<ApiKeyView>,
}

/// This tenant's API keys: id, name, scopes, the secret's last four characters and
/// the key's life cycle. The secrets themselves were shown once, at creation.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "The tenant's keys", body = ApiKeyList),
        CommonErrors,
    ))]
async fn list_api_keys(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
) -> Result<Json<ApiKeyList>, ApiError> {
    auth.require(Scope::Admin)?;
    let api_keys = state.store.list_api_keys(&auth.0.tenant_id).await?;
    Ok(Json(ApiKeyList { api_keys }))
}

/// Revoke one of this tenant's keys. It is refused from the very next request, on
/// every Sluice process (keys are looked up in Redis on each request, never cached).
/// A key may revoke itself. Revoking a revoked key again is a 204 too.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "API key id (`key_…`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key for this tenant", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn revoke_api_key(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    id: Result<PathId<ApiKeyId>, ApiError>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::Admin)?;
    revoke(&state, &auth.0.tenant_id, &id?).await
}

/// Revokes `id` if it is one of `tenant`'s keys; 404 otherwise (another tenant's key
/// id looks exactly like an unknown one).
pub(crate) async fn revoke<const N: usize>(
    state: &AppState,
    tenant: &TenantId,
    id: &PathId<ApiKeyId, N>,
) -> Result<StatusCode, ApiError> {
    if state.store.revoke_api_key(tenant, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(id.not_found())
    }
}

/// Checks what a creation request asks for: at least one scope, a label of 1 to 100
/// printable characters if any, an expiry in the future if any.
pub(crate) fn new_key(
    mut scopes: Vec<Scope>,
    name: Option<String>,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<NewApiKey, ApiError> {
    let mut errors = Vec::new();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        errors.push(FieldError::new("scopes", "at least one scope is required"));
    }
    // The limit counts what was sent, spaces around included (as the schema does).
    let too_long = name.as_ref().is_some_and(|n| n.chars().count() > 100);
    let name = name.map(|n| n.trim().to_string());
    if let Some(name) = &name
        && (name.is_empty() || too_long || name.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    if let Some(at) = expires_at
        && at <= now
    {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(NewApiKey {
        scopes,
        name,
        expires_at,
        ..NewApiKey::default()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::Duration;

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn a_past_expiry_an_empty_name_and_no_scopes_are_each_named() {
        let now = OffsetDateTime::now_utc();
        let error = new_key(
            Vec::new(),
            Some("  ".into()),
            Some(now - Duration::seconds(1)),
            now,
        )
        .err()
        .unwrap();
        assert_eq!(fields(error), ["scopes", "name", "expires_at"]);
        let error = new_key(vec![Scope::Send], None, Some(now), now)
            .err()
            .unwrap();
        assert_eq!(
            fields(error),
            ["expires_at"],
            "expiring now is not the future"
        );
    }

    #[test]
    fn scopes_are_deduplicated_and_the_name_trimmed() {
        let now = OffsetDateTime::now_utc();
        let key = new_key(
            vec![Scope::Read, Scope::Send, Scope::Read],
            Some(" billing ".into()),
            Some(now + Duration::hours(1)),
            now,
        )
        .unwrap();
        assert_eq!(key.scopes, [Scope::Send, Scope::Read]);
        assert_eq!(key.name.as_deref(), Some("billing"));
    }
}
