//! The web console under `/console`: server-rendered HTML (minijinja templates
//! compiled into the binary) over the same store calls and shared route functions as
//! the JSON API. It works without JavaScript; the only script copies text to the
//! clipboard. Not part of the OpenAPI document.
//!
//! Log in with a tenant API key (its scopes apply as in the API) or an operator
//! credential (the admin token or an admin JWT). The session lives in Redis
//! (`sluice-store` `console`), the cookie is `HttpOnly`, `SameSite=Strict`,
//! `Path=/console`, `Secure` over HTTPS, and every form carries the session's CSRF
//! token ([`session::ConsolePost`] checks it before a handler runs).

mod api_keys;
mod chart;
mod delivery;
mod domains;
mod error;
mod messages;
mod session;
mod suppressions;
mod view;
mod webhooks;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;

pub use error::ConsoleError;

/// The console's routes, to merge into the app (outside the OpenAPI router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/style.css", get(style))
        .route("/console/copy.js", get(script))
        .route(
            "/console/login",
            get(session::login_form).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route("/console/messages", get(messages::activity))
        .route("/console/messages/{id}", get(messages::message))
        .route("/console/messages/{id}/cancel", post(messages::cancel))
        .route("/console/domains", get(domains::list))
        .route("/console/domains/{name}", get(domains::domain))
        .route("/console/domains/{name}/verify", post(domains::verify_now))
        .route("/console/domains/{name}/rotate", post(domains::rotate))
        .route("/console/suppressions", get(suppressions::list))
        .route("/console/suppressions.csv", get(suppressions::export))
        .route("/console/suppressions/add", post(suppressions::add_form))
        .route(
            "/console/suppressions/remove",
            post(suppressions::remove_form),
        )
        .route("/console/webhooks", get(webhooks::list))
        .route("/console/webhooks/{id}", get(webhooks::endpoint))
        .route(
            "/console/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/console/webhooks/{id}/replay",
            post(webhooks::replay_event),
        )
        .route("/console/api-keys", get(api_keys::list))
        .route("/console/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/console/delivery", get(delivery::page))
        .route("/console/delivery/pause", post(delivery::pause))
        .route("/console/delivery/resume", post(delivery::resume))
}

/// `/console`: the tenant's activity, or the operator's delivery page.
async fn home(auth: session::ConsoleAuth) -> Response {
    match auth.who {
        session::Who::Tenant(_) => Redirect::to("/console/messages").into_response(),
        session::Who::Operator => Redirect::to("/console/delivery").into_response(),
    }
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/style.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/copy.js"),
    )
        .into_response()
}
