//! Request extractors whose rejections are problem documents: JSON bodies (400 for
//! syntax, 422 naming the field for shape, 413 for size) and the two kinds of bearer
//! credential (tenant API keys and the operator's admin token).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sluice_model::Scope;
use sluice_store::{ApiKeyRecord, KeyLookup};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::admin_jwt::{JwtRejection, looks_like_jwt};
use crate::problem::ApiError;

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
        let token = bearer(parts)?;
        let settings = &state.settings;
        if let Some(verifier) = &settings.admin_jwt
            && looks_like_jwt(token)
        {
            return match verifier.verify(token) {
                Ok(()) => Ok(AdminAuth),
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
                Ok(AdminAuth)
            }
            Some(_) => Err(ApiError::Unauthorized("invalid admin token")),
            None if settings.admin_jwt.is_some() => {
                Err(ApiError::Unauthorized("invalid admin token"))
            }
            None => Err(ApiError::Forbidden(
                "the admin API is disabled: set SLUICE_ADMIN_TOKEN or configure admin.jwt".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
