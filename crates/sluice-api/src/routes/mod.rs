pub mod admin;
pub mod api_keys;
pub mod batch;
pub mod delivery;
pub mod domains;
pub mod events;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod reputation;
pub mod suppressions;
pub mod templates;
pub mod unsubscribe;
pub mod webhooks;

use crate::problem::Problem;

/// Error responses shared by most routes, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum CommonErrors {
    /// Missing, malformed or unknown credentials.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The credentials lack the scope this route needs.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Redis is unreachable; nothing was changed. Retry after the `Retry-After` delay.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}
