//! Sending domains: create one (Sluice makes its DKIM key) and read the DNS records
//! to publish.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use sluice_delivery::dkim;
use sluice_model::{DkimAlgorithm, DkimInfo, DomainName, DomainView, Scope, TenantId};
use sluice_store::{DomainRecord, Store};
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
        .routes(routes!(create_domain))
        .routes(routes!(get_domain))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDomainRequest {
    /// The domain messages will be sent from (ASCII; use the xn-- form for IDNs).
    #[schema(example = "acme.test")]
    pub name: String,
    /// `rsa-sha256` (RSA-2048, the default) or `ed25519-sha256`.
    #[serde(default)]
    pub dkim_algorithm: Option<DkimAlgorithm>,
}

/// Add a sending domain. Sluice generates its DKIM key and answers with the DNS
/// records to publish (DKIM, SPF, DMARC, return path).
#[utoipa::path(post, path = "/v1/domains", tag = "domains", security(("api_key" = ["admin"])),
    request_body = CreateDomainRequest,
    responses(
        (status = 201, description = "Created", body = DomainView),
        (status = 409, description = "The tenant already has this domain", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn create_domain(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    body: JsonBody<CreateDomainRequest>,
) -> Result<(StatusCode, Json<DomainView>), ApiError> {
    auth.require(Scope::Admin)?;
    let name = DomainName::parse(body.value.name.trim()).map_err(|e| ApiError::field("name", e))?;
    let tenant = &auth.0.tenant_id;
    if state.store.has_domain(tenant, name.as_str()).await? {
        return Err(ApiError::Conflict(format!("domain {name} already exists")));
    }
    let record = provision_domain(
        &state.store,
        tenant,
        name,
        body.value.dkim_algorithm.unwrap_or_default(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, record))))
}

/// Read a domain and the DNS records to publish for it.
#[utoipa::path(get, path = "/v1/domains/{name}", tag = "domains", security(("api_key" = ["read"])),
    params(("name" = String, Path, description = "Domain name", example = "acme.test")),
    responses(
        (status = 200, description = "The domain", body = DomainView),
        (status = 404, description = "The tenant has no such domain", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn get_domain(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DomainView>, ApiError> {
    auth.require(Scope::Read)?;
    let record = find(&state, &auth.0.tenant_id, &name).await?;
    Ok(Json(view(&state, record)))
}

/// Generates the DKIM key and stores a new domain for `tenant` (409 if it exists).
pub async fn provision_domain(
    store: &Store,
    tenant: &TenantId,
    name: DomainName,
    algorithm: DkimAlgorithm,
) -> Result<DomainRecord, ApiError> {
    // RSA key generation takes tens of milliseconds of CPU: keep it off the reactor.
    let key = tokio::task::spawn_blocking(move || dkim::generate_key(algorithm))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let created_at = OffsetDateTime::now_utc();
    let selector = format!(
        "sluice{:04}{:02}{:02}",
        created_at.year(),
        u8::from(created_at.month()),
        created_at.day()
    );
    let record = DomainRecord {
        name,
        dkim: DkimInfo {
            selector,
            algorithm,
            public_key: key.public_key_b64,
        },
        private_key_pkcs8_der: key.private_key_pkcs8_der,
        created_at,
    };
    if !store.create_domain(tenant, &record).await? {
        return Err(ApiError::Conflict(format!(
            "domain {} already exists",
            record.name
        )));
    }
    Ok(record)
}

async fn find(state: &AppState, tenant: &TenantId, name: &str) -> Result<DomainRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("no domain {name}"));
    let name = DomainName::parse(name).map_err(|_| not_found())?;
    state
        .store
        .get_domain(tenant, name.as_str())
        .await?
        .ok_or_else(not_found)
}

fn view(state: &AppState, record: DomainRecord) -> DomainView {
    let dns_records = dkim::dns_records(&record.name, &record.dkim, &state.settings.dns);
    DomainView {
        name: record.name,
        dkim: record.dkim,
        dns_records,
        created_at: record.created_at,
    }
}
