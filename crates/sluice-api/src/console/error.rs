//! How the console answers when something fails: an HTML page with the status the
//! JSON API would have used (the same [`ApiError`] underneath), a redirect to the login
//! page when there is no session, and a 403 page for a form without its CSRF token.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sluice_store::StoreError;

use super::view;
use crate::problem::{ApiError, ErrorReports};

#[derive(Debug)]
pub enum ConsoleError {
    /// No session, or it ended (logged out, expired, its API key revoked): to the
    /// login page, which says why (`reason` is one of the codes the page knows).
    LoggedOut(&'static str),
    /// A form without this session's CSRF token.
    Csrf,
    /// The body of a form could not be read.
    BadForm(String),
    /// Anything the API would refuse, with the API's status and words.
    Api(ApiError),
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        ConsoleError::Api(error)
    }
}

impl From<StoreError> for ConsoleError {
    fn from(error: StoreError) -> Self {
        ConsoleError::Api(ApiError::from(error))
    }
}

/// The cookie that ends a session in the browser.
pub(super) fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("sluice_console=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0")
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, detail, report) = match self {
            ConsoleError::LoggedOut(reason) => {
                let mut response = (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, format!("/console/login?m={reason}"))],
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, clear_cookie());
                return response;
            }
            ConsoleError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form refused".to_string(),
                "The form did not carry this session's CSRF token. Reload the page and try again."
                    .to_string(),
                None,
            ),
            ConsoleError::BadForm(detail) => (
                StatusCode::BAD_REQUEST,
                "Form not understood".to_string(),
                detail,
                None,
            ),
            ConsoleError::Api(error) => {
                let report = error.report();
                let problem = error.into_problem();
                let status = StatusCode::from_u16(problem.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut detail = problem.detail;
                for field in &problem.errors {
                    detail.push_str(&format!("\n{}: {}", field.field, field.message));
                }
                (status, problem.title, detail, report)
            }
        };
        let mut response = view::render_plain(
            "error.html",
            &json!({"title": title, "status": status.as_u16(), "detail": detail}),
        )
        .into_response();
        *response.status_mut() = status;
        if let Some(report) = report {
            response.extensions_mut().insert(ErrorReports(vec![report]));
        }
        response
    }
}
