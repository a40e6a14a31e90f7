//! Every error class of the API, as RFC 9457 problem documents: right status, right
//! content type, the offending field named — and nothing accepted or half-written.
#![allow(clippy::unwrap_used)]

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{ADMIN_TOKEN, TestEnv, fields, problem, simple_message};

#[tokio::test]
async fn malformed_json_is_400() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let response = env
        .http
        .post(env.url("/v1/messages"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(r#"{"from": "a@acme.test", "to": ["#)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::BAD_REQUEST).await;
    env.stop().await;
}

#[tokio::test]
async fn missing_or_unknown_credentials_are_401() {
    let env = TestEnv::start().await;
    let none = env
        .http
        .post(env.url("/v1/messages"))
        .json(&simple_message("a@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    problem(none, StatusCode::UNAUTHORIZED).await;
    let wrong = env
        .post(
            "sk_not_a_real_key",
            "/v1/messages",
            simple_message("a@example.com"),
        )
        .await;
    problem(wrong, StatusCode::UNAUTHORIZED).await;
    let basic = env
        .http
        .get(env.url("/v1/domains/acme.test"))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap();
    problem(basic, StatusCode::UNAUTHORIZED).await;
    // An API key is not an admin token, and a wrong admin token is refused.
    let key = env.ready_tenant().await;
    problem(
        env.post(&key, "/v1/admin/tenants", json!({"name": "x"}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let wrong_admin = env
        .post(
            "test-admin-token-WRONG",
            "/v1/admin/tenants",
            json!({"name": "x"}),
        )
        .await;
    problem(wrong_admin, StatusCode::UNAUTHORIZED).await;
    env.stop().await;
}

#[tokio::test]
async fn a_key_without_the_scope_is_403() {
    let env = TestEnv::start().await;
    let (_, read_only) = env.tenant_with_key(&["read"]).await;
    let body = problem(
        env.post(&read_only, "/v1/messages", simple_message("a@example.com"))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("send"));
    let domain = env
        .post(&read_only, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    problem(domain, StatusCode::FORBIDDEN).await;
    let (_, send_only) = env.tenant_with_key(&["send"]).await;
    let read = env
        .get(&send_only, "/v1/messages/msg_01jdx8k3m5n6p7q8r9s0t1v2w3")
        .await;
    problem(read, StatusCode::FORBIDDEN).await;
    env.stop().await;
}

#[tokio::test]
async fn unknown_things_are_404() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    problem(
        env.get(&key, "/v1/messages/msg_01jdx8k3m5n6p7q8r9s0t1v2w3")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        env.get(&key, "/v1/messages/not-an-id").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        env.get(&key, "/v1/domains/unknown.test").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        env.get(&key, "/v1/no/such/route").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let tenant = env
        .admin_post(
            "/v1/admin/tenants/ten_01jdx8k3m5n6p7q8r9s0t1v2w3/api-keys",
            json!({"scopes": ["send"]}),
        )
        .await;
    problem(tenant, StatusCode::NOT_FOUND).await;
    env.stop().await;
}

#[tokio::test]
async fn oversized_messages_are_413_and_nothing_is_queued() {
    let env = TestEnv::start_with(
        std::sync::Arc::new(sluice_smtp_server::AcceptAll),
        sluice::run::Roles::ALL,
        |c| {
            c.max_message_bytes = 100_000;
        },
    )
    .await;
    let key = env.ready_tenant().await;
    // Within the HTTP body limit, but over the message limit once encoded.
    let mut body = simple_message("a@example.com");
    body["text"] = json!("x".repeat(120_000));
    let estimated = problem(
        env.post(&key, "/v1/messages", body).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(
        estimated["detail"].as_str().unwrap().contains("100000"),
        "{estimated}"
    );
    // Far over: refused while reading the body.
    let mut body = simple_message("a@example.com");
    body["text"] = json!("x".repeat(1_000_000));
    problem(
        env.post(&key, "/v1/messages", body).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let depth = env.redis.url();
    let client = redis::Client::open(depth).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let len: u64 = redis::cmd("XLEN")
        .arg("sluice:v1:{sluice:q0}:stream:transactional")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 0);
    env.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_422_with_one_entry_each() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let body = json!({
        "from": "not-an-address",
        "to": ["ok@example.com", "broken@", "x@y.test\r\nBcc: victim@evil.test"],
        "subject": "Hi\r\nBcc: victim@evil.test",
        "text": "body",
        "headers": {"X-Evil": "a\r\nBcc: victim@evil.test", "From": "spoof@evil.test"},
        "attachments": [{"filename": "a.txt", "content": "%%%not base64%%%"}],
        "stream": "bulk"
    });
    let body = problem(
        env.post(&key, "/v1/messages", body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let named = fields(&body);
    for expected in [
        "from",
        "to[1]",
        "to[2]",
        "subject",
        "headers.X-Evil",
        "headers.From",
        "attachments[0].content",
    ] {
        assert!(
            named.contains(&expected.to_string()),
            "missing {expected} in {named:?}"
        );
    }
    assert!(!named.contains(&"to[0]".to_string()));

    // Wrong JSON types name the field too.
    let wrong_type =
        json!({"from": "a@acme.test", "to": "single@example.com", "subject": "s", "text": "t"});
    let body = problem(
        env.post(&key, "/v1/messages", wrong_type).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["to"]);
    let unknown = json!({"from": "a@acme.test", "to": ["b@example.com"], "subject": "s", "text": "t", "tp": 1});
    let body = problem(
        env.post(&key, "/v1/messages", unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("tp"), "{body}");
    let bad_stream = json!({"from": "a@acme.test", "to": ["b@example.com"], "subject": "s", "text": "t", "stream": "urgent"});
    let body = problem(
        env.post(&key, "/v1/messages", bad_stream).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["stream"]);

    // Nothing was queued by any of these.
    assert_eq!(env.sink.count(), 0);
    env.stop().await;
}

#[tokio::test]
async fn wrong_content_type_is_415_and_bad_idempotency_key_is_422() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let response = env
        .http
        .post(env.url("/v1/messages"))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let response = env
        .http
        .post(env.url("/v1/messages"))
        .bearer_auth(&key)
        .header("Idempotency-Key", "")
        .json(&simple_message("a@example.com"))
        .send()
        .await
        .unwrap();
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(fields(&body), ["Idempotency-Key"]);
    env.stop().await;
}

#[tokio::test]
async fn domains_and_tenants_validate_their_input() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let bad = problem(
        env.post(&key, "/v1/domains", json!({"name": "not a domain"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&bad), ["name"]);
    problem(
        env.post(&key, "/v1/domains", json!({"name": "acme.test"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    let algo = json!({"name": "b.test", "dkim_algorithm": "dsa"});
    problem(
        env.post(&key, "/v1/domains", algo).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let empty = env
        .admin_post("/v1/admin/tenants", json!({"name": " "}))
        .await;
    problem(empty, StatusCode::UNPROCESSABLE_ENTITY).await;
    let tenant: Value = env
        .admin_post("/v1/admin/tenants", json!({"name": "t"}))
        .await
        .json()
        .await
        .unwrap();
    let id = tenant["id"].as_str().unwrap();
    let no_scopes = env
        .admin_post(
            &format!("/v1/admin/tenants/{id}/api-keys"),
            json!({"scopes": []}),
        )
        .await;
    problem(no_scopes, StatusCode::UNPROCESSABLE_ENTITY).await;
    let bad_scope = env
        .admin_post(
            &format!("/v1/admin/tenants/{id}/api-keys"),
            json!({"scopes": ["root"]}),
        )
        .await;
    problem(bad_scope, StatusCode::UNPROCESSABLE_ENTITY).await;
    let _ = ADMIN_TOKEN;
    env.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let env = TestEnv::start().await;
    let health = env.http.get(env.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = env.http.get(env.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let spec: Value = env
        .http
        .get(env.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/v1/messages"]["post"].is_object());

    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@example.com")).await;
    env.wait_for_status(&key, &id, "delivered", std::time::Duration::from_secs(10))
        .await;
    let metrics = env
        .http
        .get(env.url("/metrics"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "sluice_queue_depth{queue=\"transactional\"} 0",
        "sluice_messages_accepted_total{stream=\"transactional\",mode=\"live\"}",
        "sluice_recipient_outcomes_total{event=\"message.delivered\",stream=\"transactional\"}",
        "sluice_smtp_transaction_seconds",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from:\n{metrics}"
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn the_admin_api_takes_operator_jwts_with_the_algorithm_pinned() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    const SECRET: &str = "jwt-secret-jwt-secret-jwt-secret-42";
    let env = TestEnv::start_with(
        std::sync::Arc::new(sluice_smtp_server::AcceptAll),
        sluice::run::Roles::ALL,
        |c| {
            c.admin.jwt = Some(sluice::config::JwtConfig {
                algorithm: "HS256".into(),
                secret: Some(SECRET.into()),
                public_key_pem: None,
                issuer: "https://idp.test".into(),
                audience: "sluice-admin".into(),
            });
        },
    )
    .await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |exp: i64, aud: &str, role: &str| json!({"iss": "https://idp.test", "aud": aud, "exp": exp, "role": role});
    let sign = |alg: Algorithm, claims: Value| {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let create = |token: String| {
        let env = &env;
        async move {
            env.http
                .post(env.url("/v1/admin/tenants"))
                .bearer_auth(token)
                .json(&json!({"name": "jwt"}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        create(sign(
            Algorithm::HS256,
            claims(now + 300, "sluice-admin", "admin")
        ))
        .await
        .status(),
        StatusCode::CREATED
    );
    problem(
        create(sign(
            Algorithm::HS384,
            claims(now + 300, "sluice-admin", "admin"),
        ))
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        create(sign(
            Algorithm::HS256,
            claims(now - 300, "sluice-admin", "admin"),
        ))
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        create(sign(Algorithm::HS256, claims(now + 300, "other", "admin"))).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        create(sign(
            Algorithm::HS256,
            claims(now + 300, "sluice-admin", "viewer"),
        ))
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // The static token still works alongside.
    assert_eq!(
        create(ADMIN_TOKEN.to_string()).await.status(),
        StatusCode::CREATED
    );
    env.stop().await;
}

/// Every flaw of an operator JWT is a 401 through the HTTP API with RS256 pinned,
/// including the classic confusion attack (an HS256 token "signed" with the RSA public
/// key PEM as the HMAC secret); a valid token without `role: "admin"` is a 403. The
/// RSA keys are test-only fixtures (tests/fixtures/jwt).
#[tokio::test]
async fn operator_jwts_are_refused_for_every_flaw() {
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/jwt");
    let read = |name: &str| std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
    let (private_pem, public_pem, other_pem) = (
        read("operator_rs256.key"),
        read("operator_rs256.pub"),
        read("other_rs256.key"),
    );
    let public_for_config = public_pem.clone();
    let env = TestEnv::start_with(
        std::sync::Arc::new(sluice_smtp_server::AcceptAll),
        sluice::run::Roles::ALL,
        |c| {
            c.admin.jwt = Some(sluice::config::JwtConfig {
                algorithm: "RS256".into(),
                secret: None,
                public_key_pem: Some(public_for_config),
                issuer: "https://idp.test".into(),
                audience: "sluice-admin".into(),
            });
        },
    )
    .await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good = json!({"iss": "https://idp.test", "aud": "sluice-admin", "exp": now + 300, "nbf": now - 10, "role": "admin"});
    let with = |name: &str, value: Value| {
        let mut claims = good.clone();
        match value {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(name);
            }
            value => claims[name] = value,
        }
        claims
    };
    let rs256 = |pem: &str, claims: &Value| {
        encode(
            &Header::new(Algorithm::RS256),
            claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let hs256 = |secret: &[u8], claims: &Value| {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let create = |token: String| {
        let env = &env;
        async move {
            env.http
                .post(env.url("/v1/admin/tenants"))
                .bearer_auth(token)
                .json(&json!({"name": "jwt"}))
                .send()
                .await
                .unwrap()
        }
    };

    // The control: a valid RS256 token works, so each refusal below is for its flaw.
    assert_eq!(
        create(rs256(&private_pem, &good)).await.status(),
        StatusCode::CREATED
    );
    let refused = [
        (
            "HS256 signed with the RSA public key as the secret",
            hs256(public_pem.as_bytes(), &good),
        ),
        (
            "HS256 signed with another secret",
            hs256(b"jwt-secret-jwt-secret-jwt-secret-42", &good),
        ),
        (
            "alg none, no signature",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&good)
            ),
        ),
        ("alg none with the RS256 signature kept", {
            let valid = rs256(&private_pem, &good);
            let signature = valid.rsplit('.').next().unwrap().to_string();
            format!(
                "{}.{}.{signature}",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&good)
            )
        }),
        ("signed by another RSA key", rs256(&other_pem, &good)),
        ("claims changed after signing", {
            let valid = rs256(&private_pem, &good);
            let parts: Vec<&str> = valid.split('.').collect();
            let forged = with("aud", json!("sluice-admin-2"));
            format!("{}.{}.{}", parts[0], b64(&forged), parts[2])
        }),
        (
            "expired",
            rs256(&private_pem, &with("exp", json!(now - 120))),
        ),
        ("no exp", rs256(&private_pem, &with("exp", Value::Null))),
        (
            "not yet valid",
            rs256(&private_pem, &with("nbf", json!(now + 600))),
        ),
        (
            "wrong audience",
            rs256(&private_pem, &with("aud", json!("someone-else"))),
        ),
        (
            "wrong issuer",
            rs256(&private_pem, &with("iss", json!("https://evil.test"))),
        ),
    ];
    for (flaw, token) in refused {
        let response = create(token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{flaw}");
        let body = problem(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(body["detail"], "invalid admin token", "{flaw}: {body}");
    }
    for claims in [with("role", Value::Null), with("role", json!("viewer"))] {
        problem(
            create(rs256(&private_pem, &claims)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    env.stop().await;
}
