//! Request extractors whose rejections are problem documents: JSON bodies (400 for
//! syntax, 422 naming the field for shape, 413 for size), ids in the path (404 for one
//! that names nothing) and the two kinds of bearer credential (tenant API keys and the
//! operator's admin token).

use std::fmt;
use std::ops::Deref;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sluice_model::{ApiKeyId, MessageId, Scope, TemplateId, TenantId, WebhookId};
use sluice_store::{ApiKeyRecord, KeyLookup};
use subtle::ConstantTimeEq;

use crate::admin_jwt::{JwtRejection, looks_like_jwt};
use crate::problem::ApiError;
use crate::{ApiSettings, AppState};

/// A JSON body, plus a fingerprint of its canonical form (for idempotency checks:
/// key order and whitespace do not make two bodies different).
pub struct JsonBody<T> {
    pub value: T,
    pub fingerprint: String,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim();
            if !essence.eq_ignore_ascii_case("application/json") {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as application/json",
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        let fingerprint = fingerprint(&json);
        let value = deserialize(json)?;
        Ok(Self { value, fingerprint })
    }
}

/// Deserializes JSON into `T`; a shape error is a 422 naming the field's path (`body`
/// for the document itself).
pub fn deserialize<T: DeserializeOwned>(json: serde_json::Value) -> Result<T, ApiError> {
    // Every body (and batch item) is an object; serde would also fill a struct from
    // an array of its fields in order, which no client means.
    if json.is_array() {
        return Err(ApiError::field(
            "body",
            "must be a JSON object, not an array",
        ));
    }
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            String::from("body")
        } else {
            path
        };
        ApiError::field(&field, e.into_inner())
    })
}

/// SHA-256 of the JSON's canonical form (keys sorted, no whitespace): equal for
/// semantically equal documents, as Idempotency-Key checks need.
pub fn fingerprint(value: &serde_json::Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// JSON with object keys sorted, so semantically equal bodies hash equally.
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Something a route names in its path, such as a message by its id.
pub trait PathResource: Sized {
    /// The resource a path segment names; `None` when it cannot name one.
    fn parse_segment(segment: &str) -> Option<Self>;
    /// The 404 for a segment that names nothing (the segment as the client wrote it).
    fn not_found(segment: &str) -> ApiError;
}

macro_rules! id_resources {
    ($($id:ty => $noun:literal),* $(,)?) => {$(
        impl PathResource for $id {
            fn parse_segment(segment: &str) -> Option<Self> {
                <$id>::parse(segment).ok()
            }

            fn not_found(segment: &str) -> ApiError {
                ApiError::NotFound(format!(concat!("no ", $noun, " {}"), segment))
            }
        }
    )*};
}

id_resources!(
    MessageId => "message",
    TenantId => "tenant",
    ApiKeyId => "API key",
    TemplateId => "template",
    WebhookId => "webhook",
);

/// A resource named in the path, parsed before the handler runs: a segment that does
/// not parse names nothing, the same 404 as an unknown id. `N` picks the path
/// parameter (0, the first, by default) on routes naming two.
///
/// A handler that checks the key's scope first takes `Result<PathId<T>, ApiError>`
/// and applies `?` after the check, so a key without the scope hears 403 whatever
/// the path holds.
pub struct PathId<T, const N: usize = 0> {
    value: T,
    segment: String,
}

impl<T: PathResource, const N: usize> PathId<T, N> {
    /// Parses a segment taken some other way (the console's HTML routes), with the
    /// same 404 as the extractor.
    pub fn from_segment(segment: &str) -> Result<Self, ApiError> {
        match T::parse_segment(segment) {
            Some(value) => Ok(Self {
                value,
                segment: segment.to_owned(),
            }),
            None => Err(T::not_found(segment)),
        }
    }

    /// The 404 for this resource (not found after all, e.g. not this tenant's).
    pub fn not_found(&self) -> ApiError {
        T::not_found(&self.segment)
    }
}

impl<T, const N: usize> Deref for PathId<T, N> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// The segment as the client wrote it (as answers have always quoted it).
impl<T, const N: usize> fmt::Display for PathId<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segment)
    }
}

impl<S: Send + Sync, T: PathResource + Send, const N: usize> FromRequestParts<S> for PathId<T, N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                if rejection.status().is_server_error() {
                    ApiError::internal(rejection.body_text())
                } else {
                    // A segment that is not UTF-8 names nothing either.
                    ApiError::NotFound(rejection.body_text())
                }
            })?;
        let Some((_, segment)) = params.iter().nth(N) else {
            return Err(ApiError::internal(format!(
                "the route has no path parameter {N}"
            )));
        };
        Self::from_segment(segment)
    }
}

pub(crate) fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "send an Authorization: Bearer <key> header",
        ))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not valid text"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <key>`",
        )),
    }
}

/// A tenant's API key, authenticated.
pub struct ApiKeyAuth(pub ApiKeyRecord);

impl ApiKeyAuth {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this API key lacks the `{}` scope",
                scope.as_str()
            )))
        }
    }
}

impl FromRequestParts<AppState> for ApiKeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts)?;
        match state.store.authenticate_api_key(key).await? {
            KeyLookup::Valid(record) => Ok(Self(record)),
            KeyLookup::Expired => Err(ApiError::Unauthorized("API key expired")),
            KeyLookup::Unknown => Err(ApiError::Unauthorized("unknown or revoked API key")),
        }
    }
}

/// The operator, authenticated with the configured admin token.
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check_admin(&state.settings, bearer(parts)?).map(|_| AdminAuth)
    }
}

/// How an operator credential was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminCredential {
    /// The configured admin token.
    Token,
    /// An admin JWT, valid until this unix time (seconds) when it says.
    Jwt { expires_at: Option<i64> },
}

/// Checks an operator credential (an admin JWT or the admin token) as `/v1/admin`
/// does; the web console's operator login uses the same check.
pub fn check_admin(settings: &ApiSettings, token: &str) -> Result<AdminCredential, ApiError> {
    if let Some(verifier) = &settings.admin_jwt
        && looks_like_jwt(token)
    {
        return match verifier.verify_with_expiry(token) {
            Ok(expires_at) => Ok(AdminCredential::Jwt { expires_at }),
            Err(JwtRejection::NotAdmin) => {
                Err(ApiError::Forbidden("the token lacks role \"admin\"".into()))
            }
            Err(JwtRejection::Invalid(reason)) => {
                tracing::info!(%reason, "admin JWT refused");
                Err(ApiError::Unauthorized("invalid admin token"))
            }
        };
    }
    match settings.admin_token.as_deref() {
        Some(expected) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => {
            Ok(AdminCredential::Token)
        }
        Some(_) => Err(ApiError::Unauthorized("invalid admin token")),
        None if settings.admin_jwt.is_some() => Err(ApiError::Unauthorized("invalid admin token")),
        None => Err(ApiError::Forbidden(
            "the admin API is disabled: set SLUICE_ADMIN_TOKEN or configure admin.jwt".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    const ULID: &str = "01jdx8k3m5n6p7q8r9s0t1v2w3";

    async fn answer(uri: &str) -> (StatusCode, String) {
        let app = axum::Router::new()
            .route(
                "/messages/{id}",
                get(|id: PathId<MessageId>| async move { format!("{} {id}", *id) }),
            )
            .route(
                "/tenants/{id}/keys/{key_id}",
                get(
                    |tenant: PathId<TenantId>, key: PathId<ApiKeyId, 1>| async move {
                        format!("{} {}", *tenant, *key)
                    },
                ),
            );
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_path_id_parses_and_remembers_the_segment_as_written() {
        let upper = format!("msg_{}", ULID.to_uppercase());
        let (status, body) = answer(&format!("/messages/{upper}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, format!("msg_{ULID} {upper}"));
    }

    #[tokio::test]
    async fn a_path_id_that_names_nothing_is_a_404_problem() {
        let (status, body) = answer("/messages/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["type"], "urn:sluice:problem:not-found");
        assert_eq!(problem["detail"], "no message nope");
        // Another kind's id is not this kind's.
        let (status, body) = answer(&format!("/messages/ten_{ULID}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains(&format!("no message ten_{ULID}")), "{body}");
    }

    #[tokio::test]
    async fn the_const_parameter_picks_the_path_parameter() {
        let (status, body) = answer(&format!("/tenants/ten_{ULID}/keys/key_{ULID}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, format!("ten_{ULID} key_{ULID}"));
        let (status, body) = answer(&format!("/tenants/ten_{ULID}/keys/msg_{ULID}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains(&format!("no API key msg_{ULID}")), "{body}");
        let (status, body) = answer(&format!("/tenants/x/keys/key_{ULID}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no tenant x"), "{body}");
    }

    #[test]
    fn canonical_form_ignores_key_order_and_spacing() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap_or_default();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).unwrap_or_default();
        let (mut ca, mut cb) = (String::new(), String::new());
        write_canonical(&a, &mut ca);
        write_canonical(&b, &mut cb);
        assert_eq!(ca, cb);
        assert_eq!(ca, r#"{"a":{"x":"s","y":[1,2]},"b":1}"#);
    }
}
