//! The operator's view of delivery: source pools, providers and their limits, and
//! each (IP × provider)'s learned rate and suspension; manual pause and resume.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_store::adaptive::AdaptiveState;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{AdminAuth, JsonBody};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;

mod blocklist;
pub use blocklist::{AddressBlocklistView, BlocklistView, CheckView, DnsblZoneView, ListingView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(delivery))
        .routes(routes!(pause))
        .routes(routes!(resume))
}

/// Static delivery configuration, as the API shows it.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct DeliveryConfigView {
    pub pools: Vec<PoolView>,
    pub providers: Vec<ProviderView>,
    /// The DNS blocklists every pool address is checked on (`[[delivery.dnsbl]]`).
    pub dnsbl: Vec<DnsblZoneView>,
    /// How often they are checked (`delivery.dnsbl_interval`), in seconds.
    pub dnsbl_interval_seconds: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PoolView {
    #[schema(example = "shared")]
    pub name: String,
    /// The streams that send from this pool by default (tenants may be assigned any pool).
    pub streams: Vec<String>,
    pub sources: Vec<SourceView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SourceView {
    #[schema(example = "192.0.2.10")]
    pub ip: String,
    #[schema(example = "mta1.example.com")]
    pub ehlo_name: String,
    /// The address's warm-up schedule, if it has one.
    pub warmup: Option<WarmupScheduleView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WarmupScheduleView {
    /// The schedule's first day (UTC).
    #[schema(example = "2026-11-01")]
    pub start: String,
    /// Days since 1970-01-01 of `start` (how the caps are indexed).
    #[serde(skip)]
    pub start_day: i64,
    /// Messages per provider on day 0, 1, …; past the end the address is warm.
    pub daily_caps: Vec<u32>,
}

/// Where one (IP × provider) stands on its address's warm-up ramp today.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WarmupProgressView {
    #[schema(example = "192.0.2.10|gmail")]
    pub target: String,
    /// Today's day on the ramp (after setbacks); `null` once past the schedule.
    pub day: Option<u32>,
    /// Today's cap; `null` once warm.
    pub cap: Option<u32>,
    pub sent_today: u32,
    /// Days the ramp lost because the provider pushed back.
    pub setbacks: u32,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProviderView {
    #[schema(example = "gmail")]
    pub name: String,
    pub mx_patterns: Vec<String>,
    pub builtin: bool,
    pub max_connections_per_ip: usize,
    pub messages_per_connection: usize,
    pub messages_per_minute_per_ip: u32,
    pub messages_per_hour_per_ip: u32,
}

/// One (IP × provider) — or a pause of a whole IP (`ip|*`) or provider (`*|provider`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TargetView {
    #[schema(example = "192.0.2.10|gmail")]
    pub target: String,
    /// The learned rate (messages per minute); never above the provider's limit.
    pub rate_per_minute: u32,
    /// Throttling replies in a row.
    pub strikes: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub suspended_until: Option<OffsetDateTime>,
    /// `adaptive` (repeated throttling replies) or `manual`.
    pub suspension: Option<String>,
}

impl From<AdaptiveState> for TargetView {
    fn from(state: AdaptiveState) -> Self {
        Self {
            target: state.target,
            rate_per_minute: state.rate_per_minute,
            strikes: state.strikes,
            suspended_until: state.suspended_until,
            suspension: state.suspension,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryOverview {
    #[serde(flatten)]
    pub config: DeliveryConfigView,
    /// Every target with learned state or a pause.
    pub targets: Vec<TargetView>,
    /// Every (IP × provider) of a warming address that has sent or been set back.
    pub warmup: Vec<WarmupProgressView>,
    /// Blocklist listings, the last check of each address on each zone, and the last
    /// round (a listing is not a suspension: resume does not lift it).
    pub blocklist: BlocklistView,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// A source address; omit to pause the provider from every address.
    #[schema(example = "192.0.2.10")]
    pub ip: Option<String>,
    /// A provider name (see `providers`); omit to pause the address for every provider.
    #[schema(example = "gmail")]
    pub provider: Option<String>,
    /// How long (1 to 10080 minutes; default 60). Only for pause.
    #[serde(default, deserialize_with = "sluice_model::whole_number::option_u32")]
    #[schema(minimum = 1, maximum = 10080)]
    pub minutes: Option<u32>,
}

/// Delivery state: pools, providers, learned rates and suspensions.
#[utoipa::path(get, path = "/v1/admin/delivery", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "Delivery state", body = DeliveryOverview), CommonErrors))]
async fn delivery(
    _: AdminAuth,
    State(state): State<AppState>,
) -> Result<Json<DeliveryOverview>, ApiError> {
    overview(&state).await.map(Json)
}

/// The delivery state (the JSON route and the console's operator page).
pub(crate) async fn overview(state: &AppState) -> Result<DeliveryOverview, ApiError> {
    let targets = state
        .store
        .list_adaptive_states()
        .await?
        .into_iter()
        .map(TargetView::from)
        .collect();
    let config = &state.settings.delivery;
    let schedule_of = |ip: &str| {
        config
            .pools
            .iter()
            .flat_map(|p| &p.sources)
            .find(|s| s.ip == ip)
            .and_then(|s| s.warmup.as_ref())
    };
    let warmup = state
        .store
        .list_warmups()
        .await?
        .into_iter()
        .filter_map(|record| {
            let (ip, _) = record.target.split_once('|')?;
            let schedule = schedule_of(ip)?;
            let day = (record.today - schedule.start_day - i64::from(record.setbacks)).max(0);
            let cap = usize::try_from(day)
                .ok()
                .and_then(|d| schedule.daily_caps.get(d).copied());
            Some(WarmupProgressView {
                day: cap.map(|_| day as u32),
                cap,
                sent_today: record.sent_today,
                setbacks: record.setbacks,
                target: record.target,
            })
        })
        .collect();
    let blocklist = state.store.dnsbl_status().await?.into();
    Ok(DeliveryOverview {
        config: config.clone(),
        targets,
        warmup,
        blocklist,
    })
}

/// Pause sending from an address, to a provider, or both, until a time; it ends by itself.
#[utoipa::path(post, path = "/v1/admin/delivery/pause", tag = "admin", security(("admin_token" = [])),
    request_body = PauseRequest,
    responses(
        (status = 200, description = "Paused", body = TargetView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn pause(
    _: AdminAuth,
    State(state): State<AppState>,
    body: JsonBody<PauseRequest>,
) -> Result<Json<TargetView>, ApiError> {
    pause_target(&state, &body.value).await.map(Json)
}

/// Pauses an (IP × provider) for the request's minutes (the JSON route and the
/// console's button).
pub(crate) async fn pause_target(
    state: &AppState,
    request: &PauseRequest,
) -> Result<TargetView, ApiError> {
    let minutes = request.minutes.unwrap_or(60);
    let target = target(request)?;
    let until = OffsetDateTime::now_utc() + time::Duration::minutes(i64::from(minutes));
    state.store.suspend_adaptive_target(&target, until).await?;
    let (ip, provider) = target.split_once('|').unwrap_or_default();
    Ok(state
        .store
        .effective_adaptive_state(ip, provider, 0)
        .await?
        .into())
}

/// Lift a pause or an adaptive suspension now (a blocklist listing stays until the
/// blocklist drops it).
#[utoipa::path(post, path = "/v1/admin/delivery/resume", tag = "admin", security(("admin_token" = [])),
    request_body = PauseRequest,
    responses(
        (status = 204, description = "Resumed"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn resume(
    _: AdminAuth,
    State(state): State<AppState>,
    body: JsonBody<PauseRequest>,
) -> Result<StatusCode, ApiError> {
    resume_target(&state, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a pause or suspension (the JSON route and the console's button).
pub(crate) async fn resume_target(
    state: &AppState,
    request: &PauseRequest,
) -> Result<(), ApiError> {
    let target = target(request)?;
    state.store.resume_adaptive_target(&target).await?;
    Ok(())
}

/// The `<ip>|<provider>` a pause or resume acts on (`*` for any); `minutes`, which
/// only a pause uses, is checked for both, as the schema states it once.
fn target(request: &PauseRequest) -> Result<String, ApiError> {
    if request.minutes.is_some_and(|m| !(1..=10_080).contains(&m)) {
        return Err(ApiError::field("minutes", "must be 1 to 10080"));
    }
    let ip = match request.ip.as_deref() {
        Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() || ip == "any" => ip,
        Some(_) => return Err(ApiError::field("ip", "must be an IP address")),
        None => "*",
    };
    let provider = match request.provider.as_deref() {
        Some(p)
            if !p.is_empty()
                && p.len() <= 253
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            p
        }
        Some(_) => return Err(ApiError::field("provider", "must be a provider name")),
        None => "*",
    };
    if ip == "*" && provider == "*" {
        return Err(ApiError::field(
            "provider",
            "name an ip, a provider, or both",
        ));
    }
    Ok(format!("{ip}|{provider}"))
}
