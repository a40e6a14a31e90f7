//! API keys after creation: listing (never the secret), revocation that holds at once
//! on every process, expiry, and tenants kept apart.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use common::{ADMIN_TOKEN, TestEnv, fields, problem};

/// Creates a key for `tenant` through the operator API and returns the 201 body.
async fn create_key(env: &TestEnv, tenant: &str, body: Value) -> Value {
    let response = env
        .admin_post(&format!("/v1/admin/tenants/{tenant}/api-keys"), body)
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn delete(env: &TestEnv, base: &str, token: &str, path: &str) -> reqwest::Response {
    env.http
        .delete(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `GET /v1/api-keys` with `key`, asserting the 200.
async fn list(env: &TestEnv, key: &str) -> Vec<Value> {
    let response = env.get(key, "/v1/api-keys").await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["api_keys"].as_array().unwrap().clone()
}

/// The status a request with `key` gets from the API at `base` (a read-scope route).
async fn status_with(env: &TestEnv, base: &str, key: &str) -> StatusCode {
    env.http
        .get(format!("{base}/v1/events?limit=1"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

/// A real `sluice api` process (its own OS process, connections and memory) on the
/// same Redis; killed when dropped.
struct ApiProcess {
    child: tokio::process::Child,
    base: String,
}

impl ApiProcess {
    async fn start(env: &TestEnv) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("api")
            .current_dir(env.dir.path())
            .env("SLUICE_REDIS_URL", env.redis.url())
            .env("SLUICE_LISTEN", format!("127.0.0.1:{port}"))
            .env("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SLUICE_HOSTNAME", "mta.sluice.test")
            .env("SLUICE_DKIM_KEY_ENCRYPTION_KEY", common::TEST_DKIM_KEK)
            .stderr(std::process::Stdio::piped())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = env.http.get(format!("{base}/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    pipe.read_to_string(&mut stderr).await.unwrap();
                }
                panic!("sluice api exited with {status}: {stderr}");
            }
            assert!(Instant::now() < deadline, "sluice api did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Keep draining its stderr so a chatty process never blocks on a full pipe.
        if let Some(mut pipe) = child.stderr.take() {
            tokio::spawn(async move { tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await });
        }
        Self { child, base }
    }
}

#[tokio::test]
async fn the_listing_shows_every_key_but_never_a_secret() {
    let env = TestEnv::start().await;
    let (tenant, admin_key) = env.tenant_with_key(&["admin"]).await;
    let expires = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let created = create_key(
        &env,
        &tenant,
        json!({"scopes": ["send", "read", "send"], "name": "billing service", "expires_at": rfc3339(expires)}),
    )
    .await;
    let secret = created["key"].as_str().unwrap();
    assert_eq!(created["name"], "billing service");
    assert_eq!(created["scopes"], json!(["send", "read"]));
    assert_eq!(
        OffsetDateTime::parse(created["expires_at"].as_str().unwrap(), &Rfc3339)
            .unwrap()
            .unix_timestamp(),
        expires.unix_timestamp()
    );

    let listed = list(&env, &admin_key).await;
    let raw = serde_json::to_string(&listed).unwrap();
    for secret in [secret, admin_key.as_str()] {
        assert!(!raw.contains(secret), "a secret is in the listing: {raw}");
        assert!(
            !raw.contains(&secret[3..]),
            "a secret is in the listing: {raw}"
        );
    }
    assert_eq!(listed.len(), 2, "{raw}");
    let allowed: BTreeSet<&str> = [
        "id",
        "name",
        "scopes",
        "mode",
        "last4",
        "created_at",
        "expires_at",
        "revoked_at",
        "status",
    ]
    .into();
    for entry in &listed {
        let keys: BTreeSet<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert!(keys.is_subset(&allowed), "unexpected fields in {entry}");
        assert_eq!(entry["status"], "active");
    }
    let billing = listed
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap_or_else(|| panic!("the new key is not listed: {raw}"));
    assert_eq!(billing["name"], "billing service");
    assert_eq!(billing["scopes"], json!(["send", "read"]));
    assert_eq!(billing["mode"], "live");
    assert_eq!(billing["last4"], secret[secret.len() - 4..]);
    assert_eq!(billing["expires_at"], created["expires_at"]);
    let own = listed.iter().find(|k| k["id"] != created["id"]).unwrap();
    assert_eq!(own["last4"], admin_key[admin_key.len() - 4..]);
    assert!(own.get("expires_at").is_none(), "{own}");

    // The operator sees the same list.
    let response = env
        .http
        .get(env.url(&format!("/v1/admin/tenants/{tenant}/api-keys")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let operator: Value = response.json().await.unwrap();
    assert_eq!(operator["api_keys"], json!(listed));

    // Listing needs the admin scope.
    problem(env.get(secret, "/v1/api-keys").await, StatusCode::FORBIDDEN).await;
    env.stop().await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_by_another_process() {
    let env = TestEnv::start().await;
    let other = ApiProcess::start(&env).await;
    let (tenant, admin_key) = env.tenant_with_key(&["admin"]).await;
    let revoked = create_key(&env, &tenant, json!({"scopes": ["read"]})).await;
    let revoked_key = revoked["key"].as_str().unwrap();
    let kept = create_key(&env, &tenant, json!({"scopes": ["read"]})).await;
    let kept_key = kept["key"].as_str().unwrap();
    for base in [env.base.as_str(), other.base.as_str()] {
        assert_eq!(status_with(&env, base, revoked_key).await, StatusCode::OK);
    }

    let response = delete(
        &env,
        &env.base,
        &admin_key,
        &format!("/v1/api-keys/{}", revoked["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The very next request, on the process that did not revoke it, is refused.
    let refused = env
        .http
        .get(format!("{}/v1/events?limit=1", other.base))
        .bearer_auth(revoked_key)
        .send()
        .await
        .unwrap();
    let body = problem(refused, StatusCode::UNAUTHORIZED).await;
    assert!(
        body["detail"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    assert_eq!(
        status_with(&env, &env.base, revoked_key).await,
        StatusCode::UNAUTHORIZED
    );
    // The other key of the tenant is untouched.
    for base in [env.base.as_str(), other.base.as_str()] {
        assert_eq!(status_with(&env, base, kept_key).await, StatusCode::OK);
    }
    let listed = list(&env, &admin_key).await;
    let entry = listed.iter().find(|k| k["id"] == revoked["id"]).unwrap();
    assert_eq!(entry["status"], "revoked");
    assert!(entry["revoked_at"].is_string(), "{entry}");
    // Revoking again is harmless.
    let again = delete(
        &env,
        &other.base,
        &admin_key,
        &format!("/v1/api-keys/{}", revoked["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);

    // The operator revokes too, from the other process this time.
    let response = delete(
        &env,
        &other.base,
        ADMIN_TOKEN,
        &format!(
            "/v1/admin/tenants/{tenant}/api-keys/{}",
            kept["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_with(&env, &env.base, kept_key).await,
        StatusCode::UNAUTHORIZED
    );

    // A key may revoke itself: 204, and then it is refused like any other.
    let own_id = list(&env, &admin_key)
        .await
        .into_iter()
        .find(|k| k["status"] == "active")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = delete(
        &env,
        &env.base,
        &admin_key,
        &format!("/v1/api-keys/{own_id}"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    problem(
        env.get(&admin_key, "/v1/api-keys").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    drop(other.child);
    env.stop().await;
}

#[tokio::test]
async fn an_expired_key_is_refused_and_a_past_expiry_is_422() {
    let env = TestEnv::start().await;
    let (tenant, admin_key) = env.tenant_with_key(&["admin"]).await;
    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let short = create_key(
        &env,
        &tenant,
        json!({"scopes": ["read"], "expires_at": rfc3339(expires)}),
    )
    .await;
    let short_key = short["key"].as_str().unwrap();
    assert_eq!(
        status_with(&env, &env.base, short_key).await,
        StatusCode::OK
    );
    let wait = expires - OffsetDateTime::now_utc() + time::Duration::milliseconds(200);
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    let body = problem(
        env.get(short_key, "/v1/events?limit=1").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["detail"], "API key expired", "{body}");
    let listed = list(&env, &admin_key).await;
    let entry = listed.iter().find(|k| k["id"] == short["id"]).unwrap();
    assert_eq!(entry["status"], "expired");

    let path = format!("/v1/admin/tenants/{tenant}/api-keys");
    let past = rfc3339(OffsetDateTime::now_utc() - time::Duration::minutes(1));
    for (body, field) in [
        (
            json!({"scopes": ["read"], "expires_at": past}),
            "expires_at",
        ),
        (
            json!({"scopes": ["read"], "expires_at": "tomorrow"}),
            "expires_at",
        ),
        (json!({"scopes": ["read"], "name": ""}), "name"),
        (json!({"scopes": []}), "scopes"),
    ] {
        let problem = problem(
            env.admin_post(&path, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(fields(&problem), [field], "{body} → {problem}");
    }
    // Nothing was created by the refused requests.
    assert_eq!(list(&env, &admin_key).await.len(), 2);
    env.stop().await;
}

#[tokio::test]
async fn another_tenant_can_neither_list_nor_revoke_a_key() {
    let env = TestEnv::start().await;
    let (_, key_a) = env.tenant_with_key(&["admin", "read"]).await;
    let (tenant_b, key_b) = env.tenant_with_key(&["admin", "read"]).await;
    let a_id = list(&env, &key_a).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b_listing = list(&env, &key_b).await;
    assert_eq!(b_listing.len(), 1);
    assert_ne!(b_listing[0]["id"], a_id.as_str());

    problem(
        delete(&env, &env.base, &key_b, &format!("/v1/api-keys/{a_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Through the operator API, under the wrong tenant, it is not found either.
    problem(
        delete(
            &env,
            &env.base,
            ADMIN_TOKEN,
            &format!("/v1/admin/tenants/{tenant_b}/api-keys/{a_id}"),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(status_with(&env, &env.base, &key_a).await, StatusCode::OK);
    assert_eq!(list(&env, &key_a).await[0]["status"], "active");
    // Unknown key ids and tenants are 404 too.
    problem(
        delete(&env, &env.base, &key_b, "/v1/api-keys/key_nonsense").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let response = env
        .http
        .get(env.url("/v1/admin/tenants/ten_01jdx8k3m5n6p7q8r9s0t1v2w3/api-keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::NOT_FOUND).await;
    env.stop().await;
}
