//! `GET /metrics`: Prometheus text. Counters and histograms are recorded through the
//! `metrics` facade wherever things happen (accepts here, deliveries in the worker);
//! queue depth is read from Redis at scrape time, so it is right even when the
//! workers run in other processes.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::problem::{ApiError, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Prometheus metrics: accepted messages, delivery outcomes, SMTP latency, queue depth.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
    (status = 503, description = "Redis unreachable", body = Problem, content_type = "application/problem+json"),
))]
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let handle = prometheus();
    let depth = state.store.queue_depth().await?;
    metrics::gauge!("sluice_queue_depth", "queue" => "transactional")
        .set(depth.transactional as f64);
    metrics::gauge!("sluice_queue_depth", "queue" => "bulk").set(depth.bulk as f64);
    metrics::gauge!("sluice_queue_depth", "queue" => "delayed").set(depth.delayed as f64);
    metrics::gauge!("sluice_queue_depth", "queue" => "in_flight").set(depth.in_flight as f64);
    let targets = state.store.adaptive().list().await?;
    let suspended = targets
        .iter()
        .filter(|t| t.suspended_until.is_some())
        .count();
    metrics::gauge!("sluice_suspended_targets").set(suspended as f64);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    ))
}
