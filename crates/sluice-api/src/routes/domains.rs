//! Sending domains: create one (Sluice makes its DKIM keys), read the DNS records to
//! publish, verify them, and rotate keys.
//!
//! Verification requires every active DKIM key's record and the SPF `include:`;
//! DMARC is checked and reported but does not block (see
//! `sluice_domains::lifecycle::apply_checks` for why). Creating a domain and rotating
//! its keys are use cases of `sluice_domains::provision`; errors become problems in
//! `crate::problem`.

mod view;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_domains::{DomainVerifier, provision_domain};
use sluice_model::{DkimAlgorithm, DkimKeyView, DomainName, DomainView, Scope, TenantId};
use sluice_store::DomainRecord;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{ApiKeyAuth, JsonBody};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;
pub use view::domain_view;

/// What the domain routes need from the configuration.
#[derive(Clone, Debug)]
pub struct DomainApiSettings {
    /// Refuse sends from domains that are not verified (`domains.require_verified`).
    pub require_verified: bool,
    pub verifier: DomainVerifier,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_domain, list_domains))
        .routes(routes!(get_domain))
        .routes(routes!(verify_domain))
        .routes(routes!(rotate_dkim_key))
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
    /// Instead of `dkim_algorithm`: one key per algorithm listed, e.g. both, so every
    /// message carries an RSA and an Ed25519 signature.
    #[serde(default)]
    #[schema(example = json!(["rsa-sha256", "ed25519-sha256"]))]
    pub dkim_algorithms: Option<Vec<DkimAlgorithm>>,
}

#[derive(Serialize, ToSchema)]
pub struct DomainList {
    /// By name.
    pub domains: Vec<DomainView>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateDkimRequest {
    /// The new key's algorithm; default: the one the domain signs with (required
    /// when it signs with both). Naming one the domain does not sign with adds it:
    /// once its record verifies, mail carries both signatures.
    #[serde(default)]
    pub algorithm: Option<DkimAlgorithm>,
}

/// Add a sending domain. Sluice generates its DKIM key(s) and answers with the DNS
/// records to publish (DKIM, SPF, DMARC, return path). The domain starts unverified:
/// publish the records, then call `POST /v1/domains/{name}/verify`.
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
    let request = body.value;
    let name = DomainName::parse(request.name.trim()).map_err(|e| ApiError::field("name", e))?;
    let algorithms = match (request.dkim_algorithm, request.dkim_algorithms) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "dkim_algorithms",
                "give dkim_algorithm or dkim_algorithms, not both",
            ));
        }
        (_, Some(list)) => {
            if list.is_empty() || (list.len() == 2 && list[0] == list[1]) || list.len() > 2 {
                return Err(ApiError::field(
                    "dkim_algorithms",
                    "list one or both of rsa-sha256 and ed25519-sha256, each once",
                ));
            }
            list
        }
        (one, None) => vec![one.unwrap_or_default()],
    };
    let tenant = &auth.0.tenant_id;
    if state.store.has_domain(tenant, name.as_str()).await? {
        return Err(ApiError::Conflict(format!("domain {name} already exists")));
    }
    let verifier = &state.settings.domains.verifier;
    let first_check = OffsetDateTime::now_utc() + verifier.settings().reverify_interval;
    let record = provision_domain(&state.store, tenant, name, &algorithms, first_check).await?;
    let view = domain_view(&state.settings.dns, &record)?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Every domain of the tenant, with its keys, verification and records.
#[utoipa::path(get, path = "/v1/domains", tag = "domains", security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The tenant's domains", body = DomainList),
        CommonErrors,
    ))]
async fn list_domains(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
) -> Result<Json<DomainList>, ApiError> {
    auth.require(Scope::Read)?;
    let records = state.store.list_domains(&auth.0.tenant_id).await?;
    let domains = records
        .iter()
        .map(|r| domain_view(&state.settings.dns, r))
        .collect::<Result<_, _>>()?;
    Ok(Json(DomainList { domains }))
}

/// Read a domain: its keys, its verification and the DNS records to publish.
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
    Ok(Json(domain_view(&state.settings.dns, &record)?))
}

/// Check the domain's DNS now: each DKIM key's record, SPF and DMARC, each reported
/// as `verified`, `missing`, `mismatch` (with what was found) or `lookup_failed`.
/// The domain is verified when every active key's record and SPF verify; a pending
/// key whose record verifies becomes the active one.
#[utoipa::path(post, path = "/v1/domains/{name}/verify", tag = "domains", security(("api_key" = ["admin"])),
    params(("name" = String, Path, description = "Domain name", example = "acme.test")),
    responses(
        (status = 200, description = "Checked; the domain with what was found", body = DomainView),
        (status = 404, description = "The tenant has no such domain", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The domain kept changing during the check; try again", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn verify_domain(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DomainView>, ApiError> {
    auth.require(Scope::Admin)?;
    let verified = verify(&state, &auth.0.tenant_id, &name).await?;
    Ok(Json(domain_view(&state.settings.dns, &verified)?))
}

/// Checks the tenant's domain `name` now (the JSON route and the console's button).
pub(crate) async fn verify(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
) -> Result<DomainRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("no domain {name}"));
    let domain = DomainName::parse(name).map_err(|_| not_found())?;
    state
        .settings
        .domains
        .verifier
        .verify(&state.store, tenant, domain.as_str())
        .await?
        .ok_or_else(not_found)
}

/// Start a DKIM key rotation: a new key (new selector) is created `pending` and its
/// DNS record returned. Mail stays signed with the current key until the new record
/// verifies (on `verify` or the periodic check); then the new key becomes active and
/// the old one `retiring`: keep its record published until its `retire_at`.
#[utoipa::path(post, path = "/v1/domains/{name}/dkim/rotate", tag = "domains", security(("api_key" = ["admin"])),
    params(("name" = String, Path, description = "Domain name", example = "acme.test")),
    request_body(content = Option<RotateDkimRequest>, description = "Optional", content_type = "application/json"),
    responses(
        (status = 201, description = "The pending key and the record to publish", body = DkimKeyView),
        (status = 404, description = "The tenant has no such domain", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A rotation is already pending; or the domain signs with more than one algorithm and `algorithm` does not name the one to rotate", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn rotate_dkim_key(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
    OptionalJson(body): OptionalJson<RotateDkimRequest>,
) -> Result<(StatusCode, Json<DkimKeyView>), ApiError> {
    auth.require(Scope::Admin)?;
    let asked = body.unwrap_or_default().algorithm;
    let rotation =
        sluice_domains::rotate_dkim_key(&state.store, &auth.0.tenant_id, &name, asked).await?;
    Ok((
        StatusCode::CREATED,
        Json(view::key_view(&rotation.domain, &rotation.key)),
    ))
}

pub(crate) async fn find(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
) -> Result<DomainRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("no domain {name}"));
    let name = DomainName::parse(name).map_err(|_| not_found())?;
    state
        .store
        .get_domain(tenant, name.as_str())
        .await?
        .ok_or_else(not_found)
}

/// A JSON body that may be left out entirely (empty body: `None`).
struct OptionalJson<T>(Option<T>);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|rejection| ApiError::MalformedJson(rejection.body_text()))?;
        // No body, or JSON `null`: the defaults.
        if bytes.trim_ascii().is_empty() || bytes.trim_ascii() == b"null" {
            return Ok(Self(None));
        }
        let request = Request::from_parts(parts, Body::from(bytes));
        let body = JsonBody::<T>::from_request(request, state).await?;
        Ok(Self(Some(body.value)))
    }
}
