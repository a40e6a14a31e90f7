//! Logging in and out, and who a request comes from: the session cookie, checked on
//! every request against Redis (and, for a tenant, against its API key's records, so
//! a revoked key is logged out at once), and the CSRF token every form carries.

use std::time::Duration;

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sluice_model::Scope;
use sluice_store::{ApiKeyRecord, ConsoleLogin, KeyLookup};
use subtle::ConstantTimeEq;

use super::error::clear_cookie;
use super::{ConsoleError, view};
use crate::AppState;
use crate::extract::{AdminCredential, check_admin};
use crate::problem::ApiError;

const COOKIE: &str = "sluice_console";

/// How long a session lasts (an admin JWT's session ends with the token, if sooner).
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Who is logged in.
pub enum Who {
    /// A tenant, with its API key as it stands now (scopes included).
    Tenant(ApiKeyRecord),
    Operator,
}

/// A request with a live session.
pub struct ConsoleAuth {
    pub who: Who,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
}

impl ConsoleAuth {
    /// The tenant's key, or 403 for the operator (tenant pages need a tenant login).
    pub fn tenant(&self) -> Result<&ApiKeyRecord, ConsoleError> {
        match &self.who {
            Who::Tenant(record) => Ok(record),
            Who::Operator => Err(ApiError::Forbidden(
                "this page belongs to a tenant: log in with one of its API keys".into(),
            )
            .into()),
        }
    }

    /// The tenant's key if it has `scope`; 403 as the API answers otherwise.
    pub fn require(&self, scope: Scope) -> Result<&ApiKeyRecord, ConsoleError> {
        let record = self.tenant()?;
        if record.scopes.contains(&scope) {
            Ok(record)
        } else {
            Err(
                ApiError::Forbidden(format!("this API key lacks the `{}` scope", scope.as_str()))
                    .into(),
            )
        }
    }

    pub fn operator(&self) -> Result<(), ConsoleError> {
        match self.who {
            Who::Operator => Ok(()),
            Who::Tenant(_) => Err(ApiError::Forbidden(
                "the delivery page is the operator's: log in with the admin token".into(),
            )
            .into()),
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        matches!(&self.who, Who::Tenant(record) if record.scopes.contains(&scope))
    }

    /// What the layout's navigation needs.
    pub fn nav(&self, active: &str) -> Value {
        match &self.who {
            Who::Tenant(record) => json!({
                "tenant": record.tenant_id.as_str(),
                "key": record.id.as_str(),
                "scopes": record.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "active": active,
                "csrf": self.csrf,
            }),
            Who::Operator => json!({"operator": true, "active": active, "csrf": self.csrf}),
        }
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then(|| value.to_string())
        })
}

/// A fingerprint of the configured admin token: a session made with it ends when the
/// token is changed.
fn admin_token_fingerprint(token: &str) -> String {
    let digest = Sha256::digest(format!("sluice-console|{token}").as_bytes());
    hex::encode(&digest[..16])
}

fn operator_credential(state: &AppState, credential: AdminCredential) -> String {
    match credential {
        AdminCredential::Token => format!(
            "token:{}",
            admin_token_fingerprint(state.settings.admin_token.as_deref().unwrap_or_default())
        ),
        AdminCredential::Jwt { expires_at } => {
            format!(
                "jwt:{}",
                expires_at.map(|e| e.to_string()).unwrap_or_default()
            )
        }
    }
}

/// Whether an operator session's credential still holds.
fn operator_still_valid(state: &AppState, credential: &str) -> bool {
    if let Some(fingerprint) = credential.strip_prefix("token:") {
        return state
            .settings
            .admin_token
            .as_deref()
            .is_some_and(|token| admin_token_fingerprint(token) == fingerprint);
    }
    if let Some(expiry) = credential.strip_prefix("jwt:") {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        return state.settings.admin_jwt.is_some()
            && expiry.parse::<i64>().map_or(expiry.is_empty(), |e| e > now);
    }
    false
}

impl FromRequestParts<AppState> for ConsoleAuth {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ConsoleError> {
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(ConsoleError::LoggedOut("login"));
        };
        let Some(session) = state.store.console_session(&token).await? else {
            return Err(ConsoleError::LoggedOut("expired"));
        };
        let who = match session.login {
            ConsoleLogin::Tenant { tenant, key_id } => {
                match state.store.check_api_key(&tenant, &key_id).await? {
                    KeyLookup::Valid(record) => Who::Tenant(record),
                    KeyLookup::Expired | KeyLookup::Unknown => {
                        state.store.end_console_session(&token).await?;
                        return Err(ConsoleError::LoggedOut("revoked"));
                    }
                }
            }
            ConsoleLogin::Operator { credential } => {
                if !operator_still_valid(state, &credential) {
                    state.store.end_console_session(&token).await?;
                    return Err(ConsoleError::LoggedOut("expired"));
                }
                Who::Operator
            }
        };
        Ok(ConsoleAuth {
            who,
            csrf: session.csrf,
        })
    }
}

/// A form posted by a logged-in session, its CSRF token checked (constant time)
/// before the handler runs: every console POST but the login takes one.
pub struct ConsolePost<T> {
    pub auth: ConsoleAuth,
    pub form: T,
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ConsolePost<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ConsoleError> {
        let (mut parts, body) = request.into_parts();
        let auth = ConsoleAuth::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let Form(posted) = Form::<WithCsrf<T>>::from_request(request, state)
            .await
            .map_err(|rejection| ConsoleError::BadForm(rejection.body_text()))?;
        let expected = auth.csrf.as_bytes();
        if posted.csrf.is_empty() || !bool::from(posted.csrf.as_bytes().ct_eq(expected)) {
            return Err(ConsoleError::Csrf);
        }
        Ok(ConsolePost {
            auth,
            form: posted.form,
        })
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

#[derive(Deserialize)]
pub struct LoginQuery {
    m: Option<String>,
}

/// What the login page says after a redirect (codes only: nothing from the URL is
/// shown as it came).
fn login_notice(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "expired" => Some("Your session ended. Log in again."),
        "revoked" => Some("The API key of your session was revoked or expired. Log in again."),
        "out" => Some("You are logged out."),
        _ => None,
    }
}

pub async fn login_form(
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ConsoleError> {
    let notice = query.ok().and_then(|Query(q)| login_notice(q.m.as_deref()));
    Ok(view::page("login.html", &json!({"title": "Log in", "notice": notice}))?.into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

fn login_refused(status: StatusCode, error: &str) -> Result<Response, ConsoleError> {
    let mut response =
        view::page("login.html", &json!({"title": "Log in", "error": error}))?.into_response();
    *response.status_mut() = status;
    Ok(response)
}

/// Whether the request reached us over HTTPS (directly, or as a proxy in front says).
fn over_https(parts: &HeaderMap, uri: &axum::http::Uri) -> bool {
    uri.scheme_str() == Some("https")
        || parts
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Whether a browser sent this request from another site (login CSRF: a page
/// elsewhere logging the visitor into the attacker's account). The login form has
/// no session to hold a token yet, so the browser's own headers decide, as OWASP
/// advises: `Sec-Fetch-Site` when sent, else an `Origin` that is not this host.
/// Clients that send neither (curl, scripts) are not browsers and are let through.
fn from_another_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text("origin") else {
        return false;
    };
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let hosts = [text("x-forwarded-host"), text("host")];
    !hosts
        .iter()
        .flatten()
        .any(|host| authority.is_some_and(|a| a.eq_ignore_ascii_case(host.trim())))
}

/// `POST /console/login`, form field `token`: a tenant API key, or the operator's
/// admin token or admin JWT (checked exactly as the API checks them).
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    if from_another_site(&headers) {
        return login_refused(
            StatusCode::FORBIDDEN,
            "Log in from this console's own page.",
        );
    }
    let Ok(Form(form)) = form else {
        return login_refused(StatusCode::BAD_REQUEST, "Send the form with a token.");
    };
    let token = form.token.trim();
    if token.is_empty() {
        return login_refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter an API key or the admin token.",
        );
    }
    let (login, ttl, home) = if token.starts_with("sk_") {
        match state.store.authenticate_api_key(token).await? {
            KeyLookup::Valid(record) => (
                ConsoleLogin::Tenant {
                    tenant: record.tenant_id,
                    key_id: record.id,
                },
                SESSION_TTL,
                "/console/messages",
            ),
            KeyLookup::Expired => {
                return login_refused(StatusCode::UNAUTHORIZED, "This API key has expired.");
            }
            KeyLookup::Unknown => {
                return login_refused(StatusCode::UNAUTHORIZED, "Unknown or revoked API key.");
            }
        }
    } else {
        match check_admin(&state.settings, token) {
            Ok(credential) => {
                let ttl = match credential {
                    AdminCredential::Jwt {
                        expires_at: Some(exp),
                    } => {
                        let left = exp - time::OffsetDateTime::now_utc().unix_timestamp();
                        SESSION_TTL.min(Duration::from_secs(left.max(1) as u64))
                    }
                    _ => SESSION_TTL,
                };
                (
                    ConsoleLogin::Operator {
                        credential: operator_credential(&state, credential),
                    },
                    ttl,
                    "/console/delivery",
                )
            }
            Err(ApiError::Forbidden(reason)) => {
                return login_refused(StatusCode::FORBIDDEN, &reason);
            }
            Err(_) => {
                return login_refused(StatusCode::UNAUTHORIZED, "Unknown API key or admin token.");
            }
        }
    };
    let (secret, _) = state.store.create_console_session(login, ttl).await?;
    let mut cookie = format!(
        "{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/console; Max-Age={}",
        ttl.as_secs()
    );
    if over_https(&headers, &uri) {
        cookie.push_str("; Secure");
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, home)]).into_response();
    let cookie = HeaderValue::from_str(&cookie).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `POST /console/logout`: ends the session in Redis and in the browser.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _post: ConsolePost<NoFields>,
) -> Result<Response, ConsoleError> {
    if let Some(token) = session_cookie(&headers) {
        state.store.end_console_session(&token).await?;
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/console/login?m=out")],
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_cookie());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_from_another_site_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            headers
        };
        assert!(!from_another_site(&headers(&[])), "curl");
        assert!(!from_another_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!from_another_site(&headers(&[("sec-fetch-site", "none")])));
        assert!(from_another_site(&headers(&[(
            "sec-fetch-site",
            "cross-site"
        )])));
        assert!(from_another_site(&headers(&[(
            "sec-fetch-site",
            "same-site"
        )])));
        let same = [
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ];
        assert!(!from_another_site(&headers(&same)));
        let proxied = [
            ("origin", "https://mail.example.com"),
            ("host", "10.0.0.5:8080"),
            ("x-forwarded-host", "mail.example.com"),
        ];
        assert!(!from_another_site(&headers(&proxied)));
        let evil = [
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ];
        assert!(from_another_site(&headers(&evil)));
        let null = [("origin", "null"), ("host", "127.0.0.1:8080")];
        assert!(from_another_site(&headers(&null)));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sluice_console=abc; b=2"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("sluice_console="));
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn https_is_told_by_the_scheme_or_the_proxy() {
        let mut headers = HeaderMap::new();
        let plain: axum::http::Uri = "/console/login".parse().unwrap_or_default();
        assert!(!over_https(&headers, &plain));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_https(&headers, &plain));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!over_https(&headers, &plain));
    }
}
