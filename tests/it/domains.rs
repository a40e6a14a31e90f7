//! Sending-domain verification end to end, against a real loopback DNS server: each
//! record reported, the send gate on unverified domains, periodic re-verification
//! (leased across processes) and its `domain.verification_failed` event, and the
//! encryption key `sluice serve` requires.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::domain_support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sluice::run::Roles;
use sluice_test_dns::DnsFixture;

use common::{dkim_verify, fields, problem, simple_message};
use domain_support::{
    ALL, check, create, insert_legacy_domain, json_of, publish, send_and_receive, start, verify,
};

#[tokio::test]
async fn verification_reports_each_record() {
    let dns = DnsFixture::start().await.unwrap();
    let env = start(&dns, |_| {}).await;
    let (_, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let created = create(&env, &key, json!({"name": "acme.test"})).await;
    assert_eq!(created["verification"]["status"], "unverified");
    let selector = created["dkim"]["selector"].as_str().unwrap().to_string();
    let dkim_name = format!("{selector}._domainkey.acme.test");

    // Nothing published: DKIM and SPF missing, the domain unverified.
    let view = verify(&env, &key, "acme.test").await;
    assert_eq!(view["verification"]["status"], "unverified");
    let dkim = check(&view, "dkim", Some(&selector));
    assert_eq!(dkim["status"], "missing");
    assert_eq!(dkim["name"], dkim_name);
    assert_eq!(dkim["required"], true);
    assert!(
        dkim["expected"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=rsa; p=MIIB")
    );
    assert_eq!(check(&view, "spf", None)["status"], "missing");
    assert!(view["verification"]["last_checked_at"].is_string());
    assert!(view["verification"]["verified_at"].is_null());

    // DKIM with another key's p=: a mismatch that shows what was found.
    let other = create(&env, &key, json!({"name": "other.test"})).await;
    let wrong = other["dkim"]["public_key"].as_str().unwrap();
    dns.set_txt(&dkim_name, &[&format!("v=DKIM1; k=rsa; p={wrong}")]);
    publish(&dns, &created, &["spf", "dmarc"]);
    let view = verify(&env, &key, "acme.test").await;
    let dkim = check(&view, "dkim", Some(&selector));
    assert_eq!(dkim["status"], "mismatch", "{dkim:#}");
    assert!(
        dkim["found"][0].as_str().unwrap().contains(wrong),
        "{dkim:#}"
    );
    assert!(
        dkim["detail"].as_str().unwrap().contains("instead of"),
        "{dkim:#}"
    );
    assert_eq!(check(&view, "spf", None)["status"], "verified");
    assert_eq!(view["verification"]["status"], "unverified");

    // SPF without Sluice's include: a mismatch, even with DKIM right.
    publish(&dns, &created, &["dkim"]);
    dns.set_txt(
        "acme.test",
        &["v=spf1 include:_spf.google.com ~all", "site-verification=1"],
    );
    let view = verify(&env, &key, "acme.test").await;
    assert_eq!(check(&view, "dkim", Some(&selector))["status"], "verified");
    let spf = check(&view, "spf", None);
    assert_eq!(spf["status"], "mismatch");
    assert_eq!(spf["expected"], "include:_spf.mta.sluice.test");
    assert_eq!(spf["found"], json!(["v=spf1 include:_spf.google.com ~all"]));
    assert_eq!(view["verification"]["status"], "unverified");

    // Everything as told; the DKIM record split in 255-byte strings as DNS requires.
    publish(&dns, &created, ALL);
    let view = verify(&env, &key, "acme.test").await;
    assert_eq!(view["verification"]["status"], "verified", "{view:#}");
    for purpose in ["dkim", "spf", "dmarc"] {
        assert_eq!(
            check(&view, purpose, None)["status"],
            "verified",
            "{purpose}"
        );
    }
    let verified_at = view["verification"]["verified_at"].clone();
    assert!(verified_at.is_string());
    // Stored: GET and the list show the same.
    let got = json_of(env.get(&key, "/v1/domains/acme.test").await, StatusCode::OK).await;
    assert_eq!(got["verification"], view["verification"]);
    let list = json_of(env.get(&key, "/v1/domains").await, StatusCode::OK).await;
    let names: Vec<&str> = list["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme.test", "other.test"]);

    // DMARC missing is reported but does not unverify (documented choice).
    dns.set_nxdomain("_dmarc.acme.test");
    let view = verify(&env, &key, "acme.test").await;
    assert_eq!(check(&view, "dmarc", None)["status"], "missing");
    assert_eq!(check(&view, "dmarc", None)["required"], false);
    assert_eq!(view["verification"]["status"], "verified");
    assert_eq!(view["verification"]["verified_at"], verified_at);

    // Scope, unknown and foreign domains.
    let (_, read_only) = env.tenant_with_key(&["read"]).await;
    problem(
        env.post(&read_only, "/v1/domains/acme.test/verify", json!({}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let (_, stranger) = env.tenant_with_key(&["send", "read", "admin"]).await;
    for path in [
        "/v1/domains/acme.test/verify",
        "/v1/domains/nowhere.test/verify",
        "/v1/domains/acme.test/dkim/rotate",
    ] {
        problem(
            env.post(&stranger, path, json!({})).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    env.stop().await;
}

#[tokio::test]
async fn unverified_domains_cannot_send_until_verified() {
    let dns = DnsFixture::start().await.unwrap();
    let env = start(&dns, |_| {}).await;
    let (_, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let created = create(&env, &key, json!({"name": "acme.test"})).await;

    let refused = problem(
        env.post(&key, "/v1/messages", simple_message("jane@example.com"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&refused), ["from"]);
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("not verified") && message.contains("/v1/domains/acme.test/verify"),
        "{message}"
    );
    // A domain the tenant does not have is still told apart.
    let mut foreign = simple_message("jane@example.com");
    foreign["from"] = json!("x@unknown.test");
    let unknown = problem(
        env.post(&key, "/v1/messages", foreign).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        unknown["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/domains")
    );

    publish(&dns, &created, ALL);
    assert_eq!(
        verify(&env, &key, "acme.test").await["verification"]["status"],
        "verified"
    );
    let data = send_and_receive(&env, &key, "Acme <noreply@acme.test>").await;
    let (txt, name) = common::domain_dkim_record(&env, &key, "acme.test").await;
    assert_eq!(dkim_verify(&data, &txt, &name), "PASS");
    env.stop().await;
}

#[tokio::test]
async fn the_periodic_check_reports_a_record_that_disappeared_once() {
    let dns = DnsFixture::start().await.unwrap();
    let env = start(&dns, |config| {
        config.domains.reverify_interval = Duration::from_secs(1);
    })
    .await;
    // A second worker process competes for the same checks.
    let second = env.start_roles(Roles::WORKER, |_| {}).await;
    let (_, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let created = create(&env, &key, json!({"name": "acme.test"})).await;
    publish(&dns, &created, ALL);
    assert_eq!(
        verify(&env, &key, "acme.test").await["verification"]["status"],
        "verified"
    );
    let selector = created["dkim"]["selector"].as_str().unwrap();
    let dkim_name = format!("{selector}._domainkey.acme.test");

    dns.set_nxdomain(&dkim_name);
    let path = "/v1/events?type=domain.verification_failed";
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let page = json_of(env.get(&key, path).await, StatusCode::OK).await;
        if !page["events"].as_array().unwrap().is_empty() {
            break page["events"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no domain.verification_failed event"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let event = &events[0];
    assert_eq!(event["type"], "domain.verification_failed");
    assert_eq!(event["domain"]["name"], "acme.test");
    let failed = event["domain"]["failed_records"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{event:#}");
    assert_eq!(failed[0]["purpose"], "dkim");
    assert_eq!(failed[0]["name"], dkim_name);
    assert_eq!(failed[0]["status"], "missing");
    assert!(event["detail"].as_str().unwrap().contains(&dkim_name));

    let view = json_of(env.get(&key, "/v1/domains/acme.test").await, StatusCode::OK).await;
    assert_eq!(view["verification"]["status"], "unverified");
    problem(
        env.post(&key, "/v1/messages", simple_message("jane@example.com"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Several more rounds by two processes: still the one event (no repeat while it
    // stays unverified, no duplicate from the competing process).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let page = json_of(env.get(&key, path).await, StatusCode::OK).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1, "{page:#}");

    // Fixed: the periodic check verifies it again by itself.
    publish(&dns, &created, &["dkim"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let view = json_of(env.get(&key, "/v1/domains/acme.test").await, StatusCode::OK).await;
        if view["verification"]["status"] == "verified" {
            break;
        }
        assert!(Instant::now() < deadline, "not re-verified: {view:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    second.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn domains_written_before_the_schedule_are_checked_periodically() {
    let dns = DnsFixture::start().await.unwrap();
    let env = start(&dns, |config| {
        config.domains.reverify_interval = Duration::from_secs(1);
    })
    .await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    // A domain an older version wrote: not on the check schedule.
    insert_legacy_domain(
        &env,
        &tenant,
        "old.test",
        "s2024",
        sluice_model::DkimAlgorithm::Ed25519Sha256,
    )
    .await;
    let view = json_of(env.get(&key, "/v1/domains/old.test").await, StatusCode::OK).await;
    publish(&dns, &view, ALL);
    // A worker starting now schedules it; no verify call is made.
    let worker = env.start_roles(Roles::WORKER, |_| {}).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let view = json_of(env.get(&key, "/v1/domains/old.test").await, StatusCode::OK).await;
        if view["verification"]["status"] == "verified" {
            break;
        }
        assert!(Instant::now() < deadline, "never checked: {view:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    worker.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn serving_without_an_encryption_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.arg("serve").current_dir(dir.path());
    for (name, _) in std::env::vars() {
        if name.starts_with("SLUICE_") {
            command.env_remove(name);
        }
    }
    // Refused before Redis is contacted or a port is bound.
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        command
            .env("SLUICE_REDIS_URL", "redis://127.0.0.1:1/")
            .env("SLUICE_LISTEN", "127.0.0.1:0")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("sluice serve did not exit")
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SLUICE_DKIM_KEY_ENCRYPTION_KEY")
            && stderr.contains("openssl rand -base64 32"),
        "{stderr}"
    );
}
