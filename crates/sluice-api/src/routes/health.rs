//! Liveness, readiness and the spec.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::problem::{ApiError, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: Redis answers, its settings still keep accepted mail (`noeviction`, the
/// persistence the durability mode needs; re-checked in the background every few
/// seconds), and the process is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready to accept messages", body = Health),
    (status = 503, description = "Draining, Redis unreachable, or Redis settings that could lose accepted mail (the detail says which)", body = Problem, content_type = "application/problem+json"),
))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if state.draining.load(Ordering::SeqCst) {
        return Err(ApiError::unavailable("shutting down"));
    }
    if let Some(problem) = state.readiness.problem() {
        return Err(ApiError::NotReady(problem));
    }
    state.store.ping().await?;
    Ok(Json(Health { status: "ready" }))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "The OpenAPI document", body = Object)))]
async fn openapi_json() -> Json<&'static serde_json::Value> {
    Json(crate::openapi_json())
}
