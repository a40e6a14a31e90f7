//! `GET /metrics`: Prometheus text (see [`crate::scrape`] for what it holds and how
//! the queue gauges are sampled).
//!
//! On the API port the route needs the metrics token (`metrics.token`, else the admin
//! token): the API port usually faces clients, and metric names and labels tell an
//! outsider about tenants' traffic. The separate `metrics.listen` listener serves the
//! same text with no authentication ([`standalone`]); it is meant for a private
//! interface a Prometheus server reaches.

use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::problem::{ApiError, Problem};
use crate::scrape::Scrape;

/// The exposition format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The router of the `metrics.listen` listener: `GET /metrics` without authentication,
/// and nothing else.
pub fn standalone(scrape: Scrape) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(standalone_metrics))
        .fallback(|| async { ApiError::NotFound("only /metrics is served here".into()) })
        .with_state(scrape)
}

async fn standalone_metrics(State(scrape): State<Scrape>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        scrape.render().await,
    )
}

/// A scraper holding the metrics token.
pub struct MetricsAuth;

impl FromRequestParts<AppState> for MetricsAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = state.settings.metrics_token.as_deref() else {
            return Err(ApiError::Forbidden(
                "/metrics on the API port is disabled: set SLUICE_METRICS_TOKEN or SLUICE_ADMIN_TOKEN, or scrape the SLUICE_METRICS_LISTEN listener".into(),
            ));
        };
        let token = crate::extract::bearer(parts)?;
        if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(MetricsAuth)
        } else {
            Err(ApiError::Unauthorized("invalid metrics token"))
        }
    }
}

/// Prometheus metrics: accepted messages, delivery outcomes, SMTP latency, queue depth.
///
/// Also webhook attempts and HTTP connection counters; queue gauges are sampled at
/// most every 5 s. Needs the metrics token (`SLUICE_METRICS_TOKEN`, else the admin
/// token); the `SLUICE_METRICS_LISTEN` listener serves the same text without one.
#[utoipa::path(get, path = "/metrics", tag = "health", security(("metrics_token" = [])), responses(
    (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
    (status = 401, description = "Missing or wrong metrics token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "No metrics token is configured: scraping on the API port is off", body = Problem, content_type = "application/problem+json"),
))]
async fn metrics(_auth: MetricsAuth, State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        state.scrape.render().await,
    )
}
