//! The operator's JWTs: verified with a configured key, with the algorithm pinned
//! (no `none`, no switching from RS256 to HS256 with the public key as a secret),
//! `exp`, `nbf`, `iss` and `aud` checked, and `role: "admin"` required.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error(
        "`admin.jwt.algorithm` (SLUICE_JWT_ALGORITHM) must be one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, ES256, ES384 or EdDSA; got `{0}`"
    )]
    Algorithm(String),
    #[error(
        "`admin.jwt.secret` (SLUICE_JWT_SECRET) is required for {0} and must be at least 32 bytes"
    )]
    Secret(&'static str),
    #[error("`admin.jwt.public_key_pem` (SLUICE_JWT_PUBLIC_KEY) is required for {0}")]
    MissingPublicKey(&'static str),
    #[error(
        "`admin.jwt.public_key_pem` (SLUICE_JWT_PUBLIC_KEY) is not a valid {algorithm} public key: {reason}"
    )]
    PublicKey {
        algorithm: &'static str,
        reason: String,
    },
    #[error(
        "`admin.jwt.issuer` and `admin.jwt.audience` (SLUICE_JWT_ISSUER, SLUICE_JWT_AUDIENCE) are required"
    )]
    IssuerAudience,
}

/// Why a presented JWT was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtRejection {
    #[error("invalid admin JWT: {0}")]
    Invalid(String),
    #[error("the admin JWT lacks `role: \"admin\"`")]
    NotAdmin,
}

#[derive(Clone)]
pub struct AdminJwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for AdminJwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminJwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish()
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
}

impl AdminJwtVerifier {
    /// `secret` for the HS family, `public_key_pem` (PEM text) for the others.
    pub fn new(
        algorithm: &str,
        secret: Option<&str>,
        public_key_pem: Option<&[u8]>,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, JwtConfigError> {
        let alg: Algorithm = algorithm
            .parse()
            .map_err(|_| JwtConfigError::Algorithm(algorithm.into()))?;
        let name = algorithm_name(alg);
        let key = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => match secret {
                Some(secret) if secret.len() >= 32 => DecodingKey::from_secret(secret.as_bytes()),
                _ => return Err(JwtConfigError::Secret(name)),
            },
            _ => {
                let pem = public_key_pem.ok_or(JwtConfigError::MissingPublicKey(name))?;
                let parsed = match alg {
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
                    _ => DecodingKey::from_rsa_pem(pem),
                };
                parsed.map_err(|e| JwtConfigError::PublicKey {
                    algorithm: name,
                    reason: e.to_string(),
                })?
            }
        };
        if issuer.trim().is_empty() || audience.trim().is_empty() {
            return Err(JwtConfigError::IssuerAudience);
        }
        let mut validation = Validation::new(alg);
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Ok(Self { key, validation })
    }

    pub fn verify(&self, token: &str) -> Result<(), JwtRejection> {
        self.verify_with_expiry(token).map(|_| ())
    }

    /// [`verify`](Self::verify), returning the token's `exp` (unix seconds), so a
    /// console session made with it ends when the token does.
    pub fn verify_with_expiry(&self, token: &str) -> Result<Option<i64>, JwtRejection> {
        let data = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| JwtRejection::Invalid(e.to_string()))?;
        match data.claims.role.as_deref() {
            Some("admin") => Ok(data.claims.exp),
            _ => Err(JwtRejection::NotAdmin),
        }
    }
}

fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        _ => "this algorithm",
    }
}

/// A token shaped like a JWT (three base64url parts), as opposed to a static token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn verifier() -> AdminJwtVerifier {
        AdminJwtVerifier::new(
            "HS256",
            Some(SECRET),
            None,
            "https://idp.test",
            "sluice-admin",
        )
        .unwrap()
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn token(alg: Algorithm, secret: &str, claims: serde_json::Value) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn good_claims() -> serde_json::Value {
        json!({"iss": "https://idp.test", "aud": "sluice-admin", "exp": now() + 300, "nbf": now() - 10, "role": "admin"})
    }

    #[test]
    fn a_valid_admin_token_passes() {
        verifier()
            .verify(&token(Algorithm::HS256, SECRET, good_claims()))
            .unwrap();
    }

    #[test]
    fn wrong_signature_algorithm_expiry_audience_issuer_and_role_fail() {
        let v = verifier();
        assert!(
            v.verify(&token(
                Algorithm::HS256,
                "another-secret-another-secret-xx",
                good_claims()
            ))
            .is_err()
        );
        assert!(
            v.verify(&token(Algorithm::HS512, SECRET, good_claims()))
                .is_err(),
            "algorithm is pinned"
        );
        let mut expired = good_claims();
        expired["exp"] = json!(now() - 120);
        assert!(v.verify(&token(Algorithm::HS256, SECRET, expired)).is_err());
        let mut not_yet = good_claims();
        not_yet["nbf"] = json!(now() + 600);
        assert!(v.verify(&token(Algorithm::HS256, SECRET, not_yet)).is_err());
        let mut audience = good_claims();
        audience["aud"] = json!("someone-else");
        assert!(
            v.verify(&token(Algorithm::HS256, SECRET, audience))
                .is_err()
        );
        let mut issuer = good_claims();
        issuer["iss"] = json!("https://evil.test");
        assert!(v.verify(&token(Algorithm::HS256, SECRET, issuer)).is_err());
        let mut no_exp = good_claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(v.verify(&token(Algorithm::HS256, SECRET, no_exp)).is_err());
        let mut role = good_claims();
        role["role"] = json!("viewer");
        assert!(matches!(
            v.verify(&token(Algorithm::HS256, SECRET, role)),
            Err(JwtRejection::NotAdmin)
        ));
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(good_claims())
        );
        assert!(verifier().verify(&none).is_err());
    }

    #[test]
    fn configuration_errors_name_the_key() {
        let short = AdminJwtVerifier::new("HS256", Some("short"), None, "i", "a")
            .unwrap_err()
            .to_string();
        assert!(short.contains("SLUICE_JWT_SECRET"), "{short}");
        let algorithm = AdminJwtVerifier::new("none", None, None, "i", "a")
            .unwrap_err()
            .to_string();
        assert!(algorithm.contains("SLUICE_JWT_ALGORITHM"), "{algorithm}");
        let pem = AdminJwtVerifier::new("RS256", None, None, "i", "a")
            .unwrap_err()
            .to_string();
        assert!(pem.contains("SLUICE_JWT_PUBLIC_KEY"), "{pem}");
    }
}
