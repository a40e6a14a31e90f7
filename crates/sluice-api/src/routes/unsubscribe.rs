//! One-click unsubscribe (RFC 8058): the public endpoint behind the `List-Unsubscribe`
//! URL of bulk mail. `POST` (what mail clients send for one click) unsubscribes; `GET`
//! (a person, or a link scanner) only shows a page with the button, so scanners that
//! follow links never unsubscribe anyone. No credentials: the token is the proof.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::problem::{ApiError, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(unsubscribe_page, unsubscribe))
}

/// The confirmation page of an unsubscribe link (changes nothing).
#[utoipa::path(get, path = "/v1/unsubscribe/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The token of the List-Unsubscribe URL")),
    responses(
        (status = 200, description = "A page with an unsubscribe button", content_type = "text/html", body = String),
        (status = 404, description = "Not a valid unsubscribe token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    verify(&state, &token)?;
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">\
         <title>Unsubscribe</title></head><body><form method=\"post\" action=\"/v1/unsubscribe/{token}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <p>Stop receiving these emails?</p><button type=\"submit\">Unsubscribe</button></form></body></html>",
        token = token.to_ascii_lowercase()
    );
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response())
}

/// One-click unsubscribe: the recipient goes on the sender's suppression list and a
/// `message.unsubscribed` event is recorded. Repeating it is harmless.
#[utoipa::path(post, path = "/v1/unsubscribe/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The token of the List-Unsubscribe URL")),
    responses(
        (status = 200, description = "Unsubscribed", content_type = "text/html", body = String),
        (status = 404, description = "Not a valid unsubscribe token, or the message is no longer known", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable; try again", body = Problem, content_type = "application/problem+json"),
    ))]
async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let (message, index) = verify(&state, &token)?;
    match state
        .store
        .unsubscribe(&message, index, "one-click")
        .await?
    {
        Some(_) => Ok(Html(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribed</title></head>\
             <body><p>You have been unsubscribed.</p></body></html>",
        )
        .into_response()),
        None => Err(ApiError::NotFound(
            "this unsubscribe link is no longer valid".into(),
        )),
    }
}

fn verify(state: &AppState, token: &str) -> Result<(sluice_model::MessageId, u16), ApiError> {
    state
        .unsubscribe
        .as_ref()
        .and_then(|codec| codec.verify(token))
        .ok_or_else(|| ApiError::NotFound("not a valid unsubscribe link".into()))
}
