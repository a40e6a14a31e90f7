//! Helpers of the domain tests (domains.rs, dkim_keys.rs): a test
//! environment whose verification lookups go to a loopback DNS fixture, and the
//! calls and readings those tests repeat.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice::config::Config;
use sluice::run::Roles;
use sluice_smtp_server::AcceptAll;
use sluice_test_dns::DnsFixture;

use crate::common::{TestEnv, headers, simple_message};

/// A test environment whose verification lookups go to `dns`, with sends gated on
/// verification.
pub async fn start(dns: &DnsFixture, tweak: impl FnOnce(&mut Config)) -> TestEnv {
    let addr = dns.addr().to_string();
    TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, move |config| {
        config.domains.dns_servers = vec![addr];
        config.domains.require_verified = Some(true);
        tweak(config);
    })
    .await
}

pub async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(actual, status, "{body:#}");
    body
}

/// Creates `name` for the tenant of `key` and returns its view.
pub async fn create(env: &TestEnv, key: &str, body: Value) -> Value {
    json_of(
        env.post(key, "/v1/domains", body).await,
        StatusCode::CREATED,
    )
    .await
}

pub async fn verify(env: &TestEnv, key: &str, name: &str) -> Value {
    json_of(
        env.post(key, &format!("/v1/domains/{name}/verify"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await
}

/// Publishes the view's TXT records of the given purposes (all records at one name
/// together, replacing what was there).
pub fn publish(dns: &DnsFixture, view: &Value, purposes: &[&str]) {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in view["dns_records"].as_array().unwrap() {
        if record["type"] == "TXT" && purposes.contains(&record["purpose"].as_str().unwrap()) {
            by_name
                .entry(record["name"].as_str().unwrap().to_string())
                .or_default()
                .push(record["value"].as_str().unwrap().to_string());
        }
    }
    for (name, values) in by_name {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        dns.set_txt(&name, &values);
    }
}

pub const ALL: &[&str] = &["dkim", "spf", "dmarc"];

/// The check of one record in a verification, by purpose (and selector for DKIM).
pub fn check<'a>(view: &'a Value, purpose: &str, selector: Option<&str>) -> &'a Value {
    view["verification"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["purpose"] == purpose && selector.is_none_or(|s| c["selector"] == s))
        .unwrap_or_else(|| panic!("no {purpose} check in {view:#}"))
}

pub fn key_of<'a>(view: &'a Value, selector: &str) -> &'a Value {
    view["dkim_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["selector"] == selector)
        .unwrap_or_else(|| panic!("no key {selector} in {view:#}"))
}

/// The DKIM-Signature headers of a received message, topmost first.
pub fn signatures(data: &[u8]) -> Vec<String> {
    headers(data)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("DKIM-Signature"))
        .map(|(_, v)| v)
        .collect()
}

pub fn tag(signature: &str, name: &str) -> String {
    signature
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.split_whitespace().collect())
        .unwrap_or_default()
}

/// Sends one message, waits for its delivery and returns the bytes the sink got.
pub async fn send_and_receive(env: &TestEnv, key: &str, from: &str) -> Vec<u8> {
    let before = env.sink.messages().len();
    let mut body = simple_message("jane@example.com");
    body["from"] = json!(from);
    let id = env.send(key, body).await;
    env.wait_for_status(key, &id, "delivered", Duration::from_secs(10))
        .await;
    assert!(
        env.sink
            .wait_for_count(before as u64 + 1, Duration::from_secs(5))
            .await
    );
    env.sink.messages()[before].data.clone()
}

/// Writes a domain the way versions before sealing and rotation did: one key, its
/// private half in plain base64, no version, not on the check schedule.
pub async fn insert_legacy_domain(
    env: &TestEnv,
    tenant: &str,
    name: &str,
    selector: &str,
    algorithm: sluice_model::DkimAlgorithm,
) -> sluice_domains::dkim::GeneratedKey {
    let generated = sluice_domains::dkim::generate_key(algorithm).unwrap();
    let redis = redis::Client::open(env.redis.url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let scope = format!("sluice:v1:{{sluice:t:{tenant}}}");
    let _: () = redis::pipe()
        .cmd("SADD")
        .arg(format!("{scope}:domains"))
        .arg(name)
        .ignore()
        .cmd("HSET")
        .arg(format!("{scope}:domain:{name}"))
        .arg("name")
        .arg(name)
        .arg("selector")
        .arg(selector)
        .arg("algorithm")
        .arg(algorithm.as_str())
        .arg("public_key")
        .arg(&generated.public_key_b64)
        .arg("private_key")
        .arg(STANDARD.encode(&generated.private_key_pkcs8_der))
        .arg("created_at")
        .arg(1_735_689_600_000_i64)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    generated
}
