//! The operator's API: tenants and their API keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use std::collections::BTreeMap;

use sluice_model::{ApiKeyCreated, FieldError, MessageStream, Scope, TenantId, TenantView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{AdminAuth, JsonBody};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant))
        .routes(routes!(update_tenant))
        .routes(routes!(get_tenant))
        .routes(routes!(create_api_key))
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
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    let tenant = state.store.create_tenant(name).await?;
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
    Path(id): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let id = parse_tenant(&id)?;
    state
        .store
        .get_tenant(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {id}")))
}

/// Create an API key for a tenant. The key is in this response only; Sluice keeps its hash.
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
    Path(id): Path<String>,
    body: JsonBody<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let id = parse_tenant(&id)?;
    let mut scopes = body.value.scopes;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ApiError::field("scopes", "at least one scope is required"));
    }
    if state.store.get_tenant(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no tenant {id}")));
    }
    let created = state.store.create_api_key(&id, &scopes).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// The pool (from `delivery.pools`) each stream sends from; `null` returns a stream
    /// to the configured default.
    #[serde(default)]
    #[schema(example = json!({"bulk": "bulk-ips"}))]
    pub pools: Option<BTreeMap<String, Option<String>>>,
}

/// Change a tenant's settings (the source pools it sends from).
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
    Path(id): Path<String>,
    body: JsonBody<UpdateTenantRequest>,
) -> Result<Json<TenantView>, ApiError> {
    let id = parse_tenant(&id)?;
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
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if state.store.get_tenant(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no tenant {id}")));
    }
    state.store.set_tenant_pools(&id, &changes).await?;
    state
        .store
        .get_tenant(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {id}")))
}

fn parse_tenant(id: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(id).map_err(|_| ApiError::NotFound(format!("no tenant {id}")))
}
