//! The operator's page (`/console/delivery`, operator login only): queue depths, every
//! (IP × provider) with its learned rate, warm-up day and suspension, pause and resume
//! buttons (the same calls as `/v1/admin/delivery/pause|resume`), pools and providers.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::session::{ConsoleAuth, ConsolePost};
use super::{ConsoleError, view};
use crate::AppState;
use crate::problem::ApiError;
use crate::routes::delivery::{PauseRequest, overview, pause_target, resume_target};

/// Tenants listed with their quotas (more: `GET /v1/admin/tenants/{id}`).
const TENANTS_SHOWN: usize = 200;

/// `GET /console/delivery`.
pub async fn page(
    auth: ConsoleAuth,
    State(state): State<AppState>,
) -> Result<Response, ConsoleError> {
    auth.operator()?;
    let depth = state.store.queue_depth().await?;
    let overview = overview(&state).await?;
    let now = time::OffsetDateTime::now_utc();
    let targets: Vec<_> = overview
        .targets
        .iter()
        .map(|t| {
            let (ip, provider) = t.target.split_once('|').unwrap_or((&t.target, ""));
            let warmup = overview.warmup.iter().find(|w| w.target == t.target);
            json!({
                "target": t.target,
                "ip": ip,
                "provider": provider,
                "rate": t.rate_per_minute,
                "strikes": t.strikes,
                "suspended": t.suspended_until.filter(|u| *u > now).map(view::when),
                "suspension": t.suspension,
                "warmup_day": warmup.and_then(|w| w.day),
                "warmup_cap": warmup.and_then(|w| w.cap),
            })
        })
        .collect();
    let ids = state.store.list_tenant_ids(TENANTS_SHOWN + 1).await?;
    let mut tenants = Vec::new();
    for id in ids.iter().take(TENANTS_SHOWN) {
        // A tenant deleted meanwhile is skipped.
        if let Ok(tenant) = crate::routes::admin::tenant_view(&state, id).await {
            tenants.push(tenant);
        }
    }
    Ok(view::page(
        "delivery.html",
        &json!({
            "title": "Delivery",
            "nav": auth.nav("delivery"),
            "depth": {
                "transactional": depth.transactional,
                "bulk": depth.bulk,
                "delayed": depth.delayed,
                "in_flight": depth.in_flight,
                "transactional_oldest": view::wait(depth.transactional_oldest),
                "bulk_oldest": view::wait(depth.bulk_oldest),
                "delayed_overdue": view::wait(depth.delayed_overdue),
            },
            "blocklist": overview.blocklist,
            "dnsbl_zones": overview.config.dnsbl.len(),
            "targets": targets,
            "pools": overview.config.pools,
            "providers": overview.config.providers,
            "charts": super::chart::both(&state, None).await?,
            "tenants": tenants,
            "more_tenants": ids.len() > TENANTS_SHOWN,
            "csrf": auth.csrf,
        }),
    )?
    .into_response())
}

/// The pause and resume forms (text fields: an empty one means "every").
#[derive(Deserialize)]
pub struct TargetForm {
    #[serde(default)]
    ip: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    minutes: String,
}

impl TargetForm {
    fn request(&self) -> Result<PauseRequest, ApiError> {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let minutes = match text(&self.minutes) {
            None => None,
            Some(m) => Some(
                m.parse::<u32>()
                    .map_err(|_| ApiError::field("minutes", "must be 1 to 10080"))?,
            ),
        };
        Ok(PauseRequest {
            ip: text(&self.ip),
            provider: text(&self.provider),
            minutes,
        })
    }
}

/// `POST /console/delivery/pause`.
pub async fn pause(
    State(state): State<AppState>,
    post: ConsolePost<TargetForm>,
) -> Result<Response, ConsoleError> {
    post.auth.operator()?;
    pause_target(&state, &post.form.request()?).await?;
    Ok(Redirect::to("/console/delivery").into_response())
}

/// `POST /console/delivery/resume`.
pub async fn resume(
    State(state): State<AppState>,
    post: ConsolePost<TargetForm>,
) -> Result<Response, ConsoleError> {
    post.auth.operator()?;
    resume_target(&state, &post.form.request()?).await?;
    Ok(Redirect::to("/console/delivery").into_response())
}
