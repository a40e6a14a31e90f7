//! The operator's API: tenants and their API keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::collections::BTreeMap;

use sluice_model::{
    ApiKeyCreated, ApiKeyId, ApiKeyMode, FieldError, MessageStream, QuotasPatch, Scope, TenantId,
    TenantView,
};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{AdminAuth, JsonBody, PathId};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;
use crate::routes::api_keys::{self, ApiKeyList};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant))
        .routes(routes!(update_tenant))
        .routes(routes!(get_tenant))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(resume_tenant))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// A label for people (1 to 100 characters).
    #[schema(example = "acme")]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key may do; at least one of `send`, `read`, `admin`.
    #[schema(example = json!(["send", "read"]))]
    pub scopes: Vec<Scope>,
    /// A label for people (1 to 100 characters), shown in listings.
    #[serde(default)]
    #[schema(example = "billing service")]
    pub name: Option<String>,
    /// When the key stops working (RFC 3339, in the future); absent = never.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(example = "2030-01-01T00:00:00Z")]
    pub expires_at: Option<time::OffsetDateTime>,
    /// `live` (the default) sends real mail; `test` makes a sandbox key (`sk_test_…`)
    /// whose messages go through validation, quotas (buckets of their own), rendering,
    /// MIME building and DKIM signing, but are never sent: the outcome is simulated
    /// from the recipient's local part (`delivered@`, `bounced@`, `deferred@`,
    /// `complained@`, `suppressed@`) with the real events (marked `"test": true`),
    /// webhooks and suppressions.
    #[serde(default)]
    pub mode: ApiKeyMode,
}

/// Create a tenant.
#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin", security(("admin_token" = [])),
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "Created", body = TenantView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn create_tenant(
    _: AdminAuth,
    State(state): State<AppState>,
    body: JsonBody<CreateTenantRequest>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    let name = body.value.name.trim();
    // The limit counts what was sent, spaces around included (as the schema does).
    if name.is_empty()
        || body.value.name.chars().count() > 100
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::field(
            "name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    let mut tenant = state.store.create_tenant(name).await?;
    tenant.quotas = Some(state.settings.quotas);
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// Read a tenant.
#[utoipa::path(get, path = "/v1/admin/tenants/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn get_tenant(
    _: AdminAuth,
    State(state): State<AppState>,
    id: PathId<TenantId>,
) -> Result<Json<TenantView>, ApiError> {
    tenant_view(&state, &id).await.map(Json)
}

/// The tenant with its effective quotas and its reputation.
pub(crate) async fn tenant_view(state: &AppState, id: &TenantId) -> Result<TenantView, ApiError> {
    let mut tenant = state
        .store
        .get_tenant(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {id}")))?;
    tenant.quotas = Some(
        state
            .store
            .tenant_quotas(id, &state.settings.quotas)
            .await?,
    );
    tenant.reputation = Some(crate::routes::reputation::tenant_reputation(state, id).await?);
    Ok(tenant)
}

/// Resume a tenant's bulk stream after the reputation guard paused it: bulk sends are
/// accepted again, the held bulk mail is released at once, a `tenant.resumed` event
/// goes to the tenant's feed and webhooks, and the bulk rates start afresh. 409 when
/// the bulk stream is not paused.
#[utoipa::path(post, path = "/v1/admin/tenants/{id}/resume", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "Resumed; the tenant as it now stands", body = TenantView),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant's bulk stream is not paused", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn resume_tenant(
    _: AdminAuth,
    State(state): State<AppState>,
    id: PathId<TenantId>,
) -> Result<Json<TenantView>, ApiError> {
    if state.store.get_tenant(&id).await?.is_none() {
        return Err(id.not_found());
    }
    crate::routes::reputation::resume(&state, &id).await?;
    tenant_view(&state, &id).await.map(Json)
}

/// Create an API key for a tenant. The key is in this response only; Sluice keeps its hash.
///
/// With `"mode": "test"` it is a sandbox key (`sk_test_…`): nothing sent with it leaves
/// the machine (see the README's "Sandbox keys").
#[utoipa::path(post, path = "/v1/admin/tenants/{id}/api-keys", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = ApiKeyCreated),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn create_api_key(
    _: AdminAuth,
    State(state): State<AppState>,
    id: Result<PathId<TenantId>, ApiError>,
    body: JsonBody<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let id = id?; // After the body: a body error answers first, as it always has.
    let request = body.value;
    let new = api_keys::new_key(
        request.scopes,
        request.name,
        request.expires_at,
        time::OffsetDateTime::now_utc(),
    )?;
    let new = sluice_store::NewApiKey {
        mode: request.mode,
        ..new
    };
    if state.store.get_tenant(&id).await?.is_none() {
        return Err(id.not_found());
    }
    let created = state.store.create_api_key_with(&id, &new).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A tenant's API keys, as the tenant itself sees them (`GET /v1/api-keys`).
#[utoipa::path(get, path = "/v1/admin/tenants/{id}/api-keys", operation_id = "admin_list_api_keys", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant's keys", body = ApiKeyList),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn list_api_keys(
    _: AdminAuth,
    State(state): State<AppState>,
    id: PathId<TenantId>,
) -> Result<Json<ApiKeyList>, ApiError> {
    if state.store.get_tenant(&id).await?.is_none() {
        return Err(id.not_found());
    }
    let api_keys = state.store.list_api_keys(&id).await?;
    Ok(Json(ApiKeyList { api_keys }))
}

/// Revoke a tenant's API key; it is refused from the very next request on every node.
#[utoipa::path(delete, path = "/v1/admin/tenants/{id}/api-keys/{key_id}", operation_id = "admin_revoke_api_key", tag = "admin", security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "Tenant id"),
        ("key_id" = String, Path, description = "API key id (`key_…`)"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such tenant, or no such key for it", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn revoke_api_key(
    _: AdminAuth,
    State(state): State<AppState>,
    id: PathId<TenantId>,
    key_id: PathId<ApiKeyId, 1>,
) -> Result<StatusCode, ApiError> {
    api_keys::revoke(&state, &id, &key_id).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// The pool (from `delivery.pools`) each stream sends from; `null` returns a stream
    /// to the configured default.
    #[serde(default)]
    #[schema(example = json!({"bulk": "bulk-ips"}))]
    pub pools: Option<BTreeMap<String, Option<String>>>,
    /// The tenant's own sending quotas per stream; any part may be left out, and a
    /// `null` returns that value to the configured default.
    #[serde(default, deserialize_with = "sluice_model::json_object::option")]
    #[schema(example = json!({"transactional": {"per_second": 50, "burst": 200, "per_day": 100000}, "bulk": {"per_day": 20000}}))]
    pub quotas: Option<QuotasPatch>,
}

/// Change a tenant's settings: the source pools it sends from and its sending quotas.
/// Quota changes apply to the very next send on every node.
#[utoipa::path(patch, path = "/v1/admin/tenants/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = UpdateTenantRequest,
    responses(
        (status = 200, description = "The updated tenant", body = TenantView),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn update_tenant(
    _: AdminAuth,
    State(state): State<AppState>,
    id: Result<PathId<TenantId>, ApiError>,
    body: JsonBody<UpdateTenantRequest>,
) -> Result<Json<TenantView>, ApiError> {
    let id = id?; // After the body: a body error answers first, as it always has.
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for (stream, pool) in body.value.pools.unwrap_or_default() {
        let field = format!("pools.{stream}");
        let Some(parsed) = MessageStream::parse(&stream) else {
            errors.push(FieldError::new(field, "must be transactional or bulk"));
            continue;
        };
        match pool {
            Some(name) if !state.settings.delivery.pools.iter().any(|p| p.name == name) => {
                errors.push(FieldError::new(
                    field,
                    format!("no pool named `{name}` in delivery.pools"),
                ));
            }
            pool => changes.push((parsed, pool)),
        }
    }
    if let Some(quotas) = &body.value.quotas {
        check_quotas(quotas, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if state.store.get_tenant(&id).await?.is_none() {
        return Err(id.not_found());
    }
    state.store.set_tenant_pools(&id, &changes).await?;
    if let Some(quotas) = &body.value.quotas {
        state.store.update_tenant_quotas(&id, quotas).await?;
    }
    tenant_view(&state, &id).await.map(Json)
}

/// Every value given must be at least 1 (a stream is stopped by other means, not a
/// zero quota that would turn every send into a 429 with no useful Retry-After).
fn check_quotas(patch: &QuotasPatch, errors: &mut Vec<FieldError>) {
    let parts = [
        ("transactional", &patch.transactional),
        ("bulk", &patch.bulk),
    ];
    for (stream, part) in parts {
        let Some(part) = part else { continue };
        let values = [
            ("per_second", part.per_second.flatten().map(u64::from)),
            ("burst", part.burst.flatten().map(u64::from)),
            ("per_day", part.per_day.flatten()),
        ];
        for (name, value) in values {
            if value == Some(0) {
                errors.push(FieldError::new(
                    format!("quotas.{stream}.{name}"),
                    "must be at least 1 (or null for the default)",
                ));
            }
        }
    }
}
