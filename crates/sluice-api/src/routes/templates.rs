//! Message templates: create, read (any kept version), list, replace (a new version)
//! and delete. Sending with one is `template_id` on `POST /v1/messages`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_model::{Scope, Template, TemplateId, TemplateRequest, TemplateSummary};
use sluice_store::TemplateLookup;
use sluice_store::templates::VERSIONS_KEPT;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiKeyAuth, JsonBody, PathId};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;
use crate::{AppState, paging};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template, delete_template))
}

/// `GET /v1/templates` query parameters, taken as text so a bad value is a problem
/// document naming the parameter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Templates per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// `GET /v1/templates/{id}` query parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// The version to show (default: the latest). The last 50 versions are kept.
    #[param(value_type = Option<u32>, minimum = 1)]
    version: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    /// Newest first; bodies are left out (read one template for them).
    pub templates: Vec<TemplateSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// List the tenant's templates, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", security(("api_key" = ["read"])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of templates", body = TemplateList),
        (status = 422, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn list_templates(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<TemplateList>, ApiError> {
    auth.require(Scope::Read)?;
    let Query(params) = params.map_err(|e| ApiError::field("query", e.body_text()))?;
    let mut errors = Vec::new();
    let cursor = paging::cursor(
        params.cursor.as_deref(),
        |text| TemplateId::parse(text).ok(),
        &mut errors,
    );
    let limit = paging::limit(params.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = state
        .store
        .list_templates(&auth.0.tenant_id, cursor.as_ref(), limit)
        .await?;
    Ok(Json(TemplateList {
        templates: page.templates,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

/// Create a template (version 1). Its syntax is checked now; what depends on the
/// data (a missing variable) is checked when a message is sent with it.
#[utoipa::path(post, path = "/v1/templates", tag = "templates", security(("api_key" = ["admin"])),
    request_body = TemplateRequest,
    responses(
        (status = 201, description = "Created", body = Template,
            headers(("Location" = String, description = "The template's URL"))),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, one entry per field; a syntax error names its line", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn create_template(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    body: JsonBody<TemplateRequest>,
) -> Result<Response, ApiError> {
    auth.require(Scope::Admin)?;
    let template = body.value.validate().map_err(ApiError::Validation)?;
    let created = state
        .store
        .create_template(&auth.0.tenant_id, &template)
        .await?;
    let location = format!("/v1/templates/{}", created.id);
    let mut response = (StatusCode::CREATED, Json(created)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// A template: its latest version, or the one asked for with `version`.
#[utoipa::path(get, path = "/v1/templates/{id}", tag = "templates", security(("api_key" = ["read"])),
    params(("id" = String, Path, description = "Template id"), GetParams),
    responses(
        (status = 200, description = "The template version", body = Template),
        (status = 404, description = "No such template for this tenant, or no such version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn get_template(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    id: Result<PathId<TemplateId>, ApiError>,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Result<Json<Template>, ApiError> {
    auth.require(Scope::Read)?;
    let Query(params) = params.map_err(|e| ApiError::field("query", e.body_text()))?;
    let version = match params.version.as_deref() {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(version) if version >= 1 => Some(version),
            _ => return Err(ApiError::field("version", "must be a whole number from 1")),
        },
    };
    let id = id?;
    match state
        .store
        .get_template(&auth.0.tenant_id, &id, version)
        .await?
    {
        TemplateLookup::Found(template) => Ok(Json(template)),
        TemplateLookup::NoTemplate => Err(id.not_found()),
        TemplateLookup::NoVersion { latest } => Err(ApiError::NotFound(format!(
            "template {id} has no version {} (the latest is {latest}; the last {VERSIONS_KEPT} are kept)",
            version.unwrap_or(latest)
        ))),
    }
}

/// Replace a template: the body becomes its next version (old versions stay readable
/// and sendable, the last 50 of them).
#[utoipa::path(put, path = "/v1/templates/{id}", tag = "templates", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Template id")),
    request_body = TemplateRequest,
    responses(
        (status = 200, description = "Saved as the next version", body = Template),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such template for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, one entry per field; a syntax error names its line", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn update_template(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    id: Result<PathId<TemplateId>, ApiError>,
    body: JsonBody<TemplateRequest>,
) -> Result<Json<Template>, ApiError> {
    auth.require(Scope::Admin)?;
    let id = id?;
    let template = body.value.validate().map_err(ApiError::Validation)?;
    state
        .store
        .update_template(&auth.0.tenant_id, &id, &template)
        .await?
        .map(Json)
        .ok_or_else(|| id.not_found())
}

/// Delete a template and all its versions. Sends naming it are refused from now on
/// (messages already accepted were rendered when accepted and are not affected).
#[utoipa::path(delete, path = "/v1/templates/{id}", tag = "templates", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such template for this tenant", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn delete_template(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    id: Result<PathId<TemplateId>, ApiError>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::Admin)?;
    let id = id?;
    if state.store.delete_template(&auth.0.tenant_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(id.not_found())
    }
}
