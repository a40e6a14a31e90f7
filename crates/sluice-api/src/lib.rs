//! The HTTP API: routes, authentication, validation and the OpenAPI document.
//!
//! Each resource has its own module under [`routes`]; each handler declares its
//! method and path once, in its `#[utoipa::path]`, and the router and the spec are
//! both built from those declarations.

pub mod admin_jwt;
pub mod console;
pub mod extract;
pub mod paging;
pub mod problem;
pub mod quota_headers;
pub mod readiness;
pub mod routes;
pub mod scrape;
mod spec_body_errors;
mod spec_links;
mod spec_refine;
mod templates;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use sluice_domains::dkim::DnsRecordSettings;
use sluice_model::Limits;
use sluice_store::Store;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

/// What the API needs to know from the configuration.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub limits: Limits,
    /// The operator's static bearer token for `/v1/admin`.
    pub admin_token: Option<String>,
    /// The operator's JWT verifier for `/v1/admin`. With neither, the admin API is off.
    pub admin_jwt: Option<admin_jwt::AdminJwtVerifier>,
    pub dns: DnsRecordSettings,
    /// Pools and providers, for `GET /v1/admin/delivery`.
    pub delivery: routes::delivery::DeliveryConfigView,
    pub webhooks: routes::webhooks::WebhookSettings,
    /// Domain verification and whether sending needs it.
    pub domains: routes::domains::DomainApiSettings,
    /// Every tenant's quotas unless it has its own (`PATCH /v1/admin/tenants/{id}`).
    pub quotas: sluice_model::TenantQuotas,
    /// Where templates render: child processes, each render capped in memory and
    /// time, so no template can take this process down.
    pub templates: sluice_template_sandbox::TemplateSandbox,
    /// The bearer token `GET /metrics` needs on the API port (`metrics.token`, else
    /// the admin token); `None` turns the route off there.
    pub metrics_token: Option<String>,
    /// The tenant reputation guard's thresholds, shown with a tenant's rates.
    pub reputation: sluice_model::ReputationPolicy,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<ApiSettings>,
    /// Set when shutdown begins, so `/readyz` turns 503 and load balancers drain us.
    pub draining: Arc<AtomicBool>,
    /// Checks one-click unsubscribe tokens; `None` turns the endpoint off.
    pub unsubscribe: Option<Arc<sluice_wire::UnsubscribeCodec>>,
    /// The background verdict on Redis's durability settings, for `/readyz`.
    pub readiness: Arc<readiness::Readiness>,
    /// Renders `/metrics` (shared with the `metrics.listen` listener, if any).
    pub scrape: scrape::Scrape,
}

impl AppState {
    pub fn new(store: Store, settings: ApiSettings) -> Self {
        Self {
            scrape: scrape::Scrape::new(store.clone()),
            store,
            settings: Arc::new(settings),
            draining: Arc::new(AtomicBool::new(false)),
            unsubscribe: None,
            readiness: Arc::default(),
        }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice",
        description = "Transactional email API gateway: accept messages in milliseconds, deliver them DKIM-signed, report every step.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    // The body of every webhook delivery (not a route: what Sluice POSTs to endpoints).
    components(schemas(sluice_model::WebhookPayload)),
    tags(
        (name = "messages", description = "Send messages and follow their delivery"),
        (name = "domains", description = "Sending domains, DKIM keys and the DNS records to publish"),
        (name = "suppressions", description = "Addresses Sluice will not send to: hard bounces, complaints, unsubscribes and manual entries"),
        (name = "templates", description = "Message templates (subject, text and HTML in Jinja syntax), versioned, rendered at send time with `template_data`"),
        (name = "events", description = "The tenant's event feed"),
        (name = "webhooks", description = "Endpoints that receive events, signed per Standard Webhooks"),
        (name = "api-keys", description = "The tenant's API keys: list and revoke"),
        (name = "admin", description = "Operator API: tenants and API keys"),
        (name = "health", description = "Liveness, readiness and the spec itself")
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(description.to_string());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "api_key",
            bearer("A tenant API key (`sk_…`) with the scopes the route needs."),
        );
        components.add_security_scheme(
            "admin_token",
            bearer("The operator's admin token (SLUICE_ADMIN_TOKEN)."),
        );
        components.add_security_scheme(
            "metrics_token",
            bearer(
                "The metrics token (SLUICE_METRICS_TOKEN), or the admin token when none is set.",
            ),
        );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::messages::router())
        .merge(routes::batch::router())
        .merge(routes::domains::router())
        .merge(routes::admin::router())
        .merge(routes::api_keys::router())
        .merge(routes::delivery::router())
        .merge(routes::health::router())
        .merge(routes::metrics::router())
        .merge(routes::suppressions::router())
        .merge(routes::templates::router())
        .merge(routes::unsubscribe::router())
        .merge(routes::webhooks::router())
        .merge(routes::events::router())
}

/// The complete application: every route, with request tracing, body limits, and the
/// one layer that logs server-side failures (inside the request's trace span).
pub fn app(state: AppState) -> Router {
    let body_limit = routes::messages::body_limit_layer(state.settings.limits.max_message_bytes);
    let (router, _) = api_router().split_for_parts();
    router
        // The web console: HTML pages, not part of the OpenAPI document.
        .merge(console::router())
        .layer(body_limit)
        .fallback(|| async { problem::ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn(problem::log_errors))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The OpenAPI document, as `sluice openapi` prints it and `api-spec/openapi.json`
/// holds it: what utoipa derives from the routes, plus the body errors every
/// JSON-taking operation can answer and the constraints and links of `spec_refine`.
pub fn openapi() -> serde_json::Value {
    let mut spec = api_router().into_openapi();
    spec_body_errors::document(&mut spec);
    let mut spec = serde_json::to_value(spec).unwrap_or_default();
    spec_refine::refine(&mut spec);
    spec
}

/// The spec as served at `/openapi.json`, built once.
pub fn openapi_json() -> &'static serde_json::Value {
    static SPEC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(openapi)
}
