//! DKIM keys end to end: rotation with overlap, dual signatures, private keys sealed
//! at rest (and never shown), and keys an older version stored in plaintext — every
//! signature checked by an independent verifier (dkimpy).
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::domain_support;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_store::KeySealer;
use sluice_store::domains::seal::KeyOwner;
use sluice_test_dns::DnsFixture;

use common::{TEST_DKIM_KEK, TestEnv, dkim_verify, dkim_verify_nth, problem};
use domain_support::{
    ALL, check, create, insert_legacy_domain, json_of, key_of, publish, send_and_receive,
    signatures, start, tag, verify,
};

#[tokio::test]
async fn rotation_keeps_the_old_key_until_the_new_record_verifies() {
    let dns = DnsFixture::start().await.unwrap();
    let env = start(&dns, |config| {
        config.domains.dkim_overlap = Duration::from_secs(6);
    })
    .await;
    let (_, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let created = create(&env, &key, json!({"name": "acme.test"})).await;
    publish(&dns, &created, ALL);
    verify(&env, &key, "acme.test").await;
    let old = created["dkim"]["selector"].as_str().unwrap().to_string();
    let old_txt = created["dkim_keys"][0]["dns_record"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let old_name = format!("{old}._domainkey.acme.test");

    let rotated = json_of(
        env.http
            .post(env.url("/v1/domains/acme.test/dkim/rotate"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(rotated["state"], "pending");
    assert_eq!(rotated["algorithm"], "rsa-sha256");
    let new = rotated["selector"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(new.starts_with("sluice2"), "{new}");
    let new_name = format!("{new}._domainkey.acme.test");
    assert_eq!(rotated["dns_record"]["name"], new_name);
    let new_txt = rotated["dns_record"]["value"].as_str().unwrap().to_string();
    assert!(
        rotated["advice"]
            .as_str()
            .unwrap()
            .contains("Publish this record")
    );
    // One rotation at a time.
    problem(
        env.post(&key, "/v1/domains/acme.test/dkim/rotate", json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;

    // The new record is not published: mail is still signed with the old key, and a
    // verify leaves the new key pending without unverifying the domain.
    let view = verify(&env, &key, "acme.test").await;
    assert_eq!(key_of(&view, &new)["state"], "pending");
    assert_eq!(check(&view, "dkim", Some(&new))["status"], "missing");
    assert_eq!(view["verification"]["status"], "verified");
    let data = send_and_receive(&env, &key, "noreply@acme.test").await;
    let sigs = signatures(&data);
    assert_eq!(sigs.len(), 1);
    assert_eq!(tag(&sigs[0], "s"), old);
    assert_eq!(dkim_verify(&data, &old_txt, &old_name), "PASS");

    // Published and verified: the new key takes over, the old one retires.
    dns.set_txt(&new_name, &[&new_txt]);
    let activated_at = time::OffsetDateTime::now_utc();
    let view = verify(&env, &key, "acme.test").await;
    assert_eq!(key_of(&view, &new)["state"], "active");
    let retiring = key_of(&view, &old);
    assert_eq!(retiring["state"], "retiring");
    let retire_at = time::OffsetDateTime::parse(
        retiring["retire_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let overlap = retire_at - activated_at;
    assert!(
        overlap > time::Duration::seconds(4) && overlap <= time::Duration::seconds(7),
        "retire_at {retire_at} is not the 6 s overlap after {activated_at}"
    );
    assert!(
        retiring["advice"]
            .as_str()
            .unwrap()
            .contains("Keep this record published until"),
        "{retiring:#}"
    );
    assert_eq!(view["dkim"]["selector"], new.as_str());
    let dkim_records: Vec<&str> = view["dns_records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["purpose"] == "dkim")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(dkim_records, [new_name.as_str(), old_name.as_str()]);
    assert_eq!(view["verification"]["status"], "verified");

    let data = send_and_receive(&env, &key, "noreply@acme.test").await;
    let sigs = signatures(&data);
    assert_eq!(sigs.len(), 1, "only active keys sign");
    assert_eq!(tag(&sigs[0], "s"), new);
    assert_eq!(dkim_verify(&data, &new_txt, &new_name), "PASS");
    assert!(dkim_verify(&data, &old_txt, &old_name).starts_with("FAIL"));

    // After the overlap the old key is dropped.
    let wait = retire_at - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(200);
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
    let view = verify(&env, &key, "acme.test").await;
    let selectors: Vec<&str> = view["dkim_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["selector"].as_str().unwrap())
        .collect();
    assert_eq!(selectors, [new.as_str()]);
    env.stop().await;
}

#[tokio::test]
async fn dual_signatures_both_verify() {
    let dns = DnsFixture::start().await.unwrap();
    let env = start(&dns, |_| {}).await;
    let (_, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    problem(
        env.post(
            &key,
            "/v1/domains",
            json!({"name": "x.test", "dkim_algorithms": ["ed25519-sha256", "ed25519-sha256"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let created = create(
        &env,
        &key,
        json!({"name": "acme.test", "dkim_algorithms": ["ed25519-sha256", "rsa-sha256"]}),
    )
    .await;
    let keys = created["dkim_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k["state"] == "active"));
    assert_eq!(created["dkim"]["algorithm"], "rsa-sha256");
    publish(&dns, &created, ALL);
    let view = verify(&env, &key, "acme.test").await;
    assert_eq!(view["verification"]["status"], "verified", "{view:#}");

    let data = send_and_receive(&env, &key, "noreply@acme.test").await;
    let sigs = signatures(&data);
    assert_eq!(sigs.len(), 2, "one signature per active key");
    assert_eq!(tag(&sigs[0], "a"), "rsa-sha256", "RSA topmost");
    assert_eq!(tag(&sigs[1], "a"), "ed25519-sha256");
    for (index, signature) in sigs.iter().enumerate() {
        let selector = tag(signature, "s");
        let record = &key_of(&created, &selector)["dns_record"];
        let txt = record["value"].as_str().unwrap();
        let name = record["name"].as_str().unwrap();
        assert_eq!(
            dkim_verify_nth(&data, txt, name, index),
            "PASS",
            "signature {index}"
        );
    }
    // The verifier can fail: the Ed25519 signature does not verify against the RSA key.
    let rsa_txt = key_of(&created, &tag(&sigs[0], "s"))["dns_record"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(dkim_verify_nth(&data, &rsa_txt, "", 1).starts_with("FAIL"));
    env.stop().await;
}

/// The base64 of `bytes` at each of the three alignments it can take inside a longer
/// base64 text (trimmed of the edge characters that depend on neighbours).
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    (0..3)
        .map(|skip| {
            let encoded = STANDARD.encode(&bytes[skip..]);
            encoded[4..encoded.len() - 4].to_string()
        })
        .collect()
}

#[tokio::test]
async fn private_keys_are_sealed_at_rest_and_never_shown() {
    let dns = DnsFixture::start().await.unwrap();
    let env = start(&dns, |_| {}).await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let mut responses = Vec::new();
    let created = create(
        &env,
        &key,
        json!({"name": "acme.test", "dkim_algorithms": ["rsa-sha256", "ed25519-sha256"]}),
    )
    .await;
    responses.push(created.to_string());
    publish(&dns, &created, ALL);
    responses.push(verify(&env, &key, "acme.test").await.to_string());
    let rotated = env
        .post(
            &key,
            "/v1/domains/acme.test/dkim/rotate",
            json!({"algorithm": "ed25519-sha256"}),
        )
        .await;
    responses.push(json_of(rotated, StatusCode::CREATED).await.to_string());
    for path in ["/v1/domains", "/v1/domains/acme.test", "/openapi.json"] {
        responses.push(
            json_of(env.get(&key, path).await, StatusCode::OK)
                .await
                .to_string(),
        );
    }

    let redis = redis::Client::open(env.redis.url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let hash_key = format!("sluice:v1:{{sluice:t:{tenant}}}:domain:acme.test");
    let raw: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(&hash_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!raw.contains_key("private_key"), "no plaintext field");
    let dump: String = raw.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let tenant_id = sluice_model::TenantId::parse(&tenant).unwrap();
    let sealer = KeySealer::from_base64(TEST_DKIM_KEK).unwrap();
    let mut opened = 0;
    for (field, value) in &raw {
        let Some(selector) = field.strip_prefix("key:") else {
            continue;
        };
        let stored: Value = serde_json::from_str(value).unwrap();
        let sealed = stored["private_key"].as_str().unwrap();
        assert!(sealed.starts_with("v1:"), "{field}");
        let owner = KeyOwner {
            tenant: &tenant_id,
            domain: "acme.test",
            selector,
        };
        let der = sealer.open(owner, sealed).unwrap();
        opened += 1;
        // The plaintext is nowhere: not raw, not hex, not base64 at any alignment, not
        // in any API response.
        let lossy = String::from_utf8_lossy(&der[8..]).to_string();
        assert!(!dump.contains(&lossy));
        let hex: String = der[8..40].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.contains(&hex));
        for form in base64_forms(&der) {
            assert!(
                !dump.contains(&form),
                "{field}: the key is in the hash in base64"
            );
            for response in &responses {
                assert!(
                    !response.contains(&form),
                    "a response holds the private key"
                );
            }
        }
        // Bound to its owner: moved to another domain or selector, it does not open.
        let moved = KeyOwner {
            domain: "other.test",
            ..owner
        };
        assert!(sealer.open(moved, sealed).is_err());
        assert!(
            sealer
                .open(
                    KeyOwner {
                        selector: "elsewhere",
                        ..owner
                    },
                    sealed
                )
                .is_err()
        );
        assert!(
            KeySealer::from_base64(&KeySealer::generate_base64().unwrap())
                .unwrap()
                .open(owner, sealed)
                .is_err()
        );

        // And it is the real key: what it signs verifies against the published record.
        let algorithm =
            sluice_model::DkimAlgorithm::parse(stored["algorithm"].as_str().unwrap()).unwrap();
        let signer =
            sluice_domains::dkim::DkimSigner::new("acme.test", selector, algorithm, &der).unwrap();
        let message = b"From: a@acme.test\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody\r\n";
        let signed = signer.sign_into(message).unwrap();
        let txt = sluice_domains::dkim::dkim_record_value(&sluice_model::DkimInfo {
            selector: selector.to_string(),
            algorithm,
            public_key: stored["public_key"].as_str().unwrap().to_string(),
        });
        assert_eq!(
            dkim_verify(&signed, &txt, &format!("{selector}._domainkey.acme.test")),
            "PASS"
        );
    }
    assert_eq!(opened, 3, "two active keys and the pending one");
    for response in &responses {
        assert!(!response.contains("-----BEGIN"));
        assert!(!response.contains("\"private_key"));
    }

    // Debug output of stored records never shows the key either.
    let store = sluice_store::Store::connect(&env.redis.url(), Duration::from_secs(60))
        .await
        .unwrap()
        .with_key_sealer(KeySealer::from_base64(TEST_DKIM_KEK).unwrap());
    let record = store
        .get_domain(&tenant_id, "acme.test")
        .await
        .unwrap()
        .unwrap();
    let (_, signing) = store
        .signing_keys(&tenant_id, "acme.test")
        .await
        .unwrap()
        .unwrap();
    let debug = format!("{record:?} {signing:?}");
    assert!(debug.contains("<redacted>"));
    for key in &signing {
        for form in base64_forms(&key.private_key_pkcs8_der) {
            assert!(!debug.contains(&form));
        }
        assert!(!debug.contains(&format!("{:?}", &key.private_key_pkcs8_der[..16])));
    }
    env.stop().await;
}

#[tokio::test]
async fn keys_stored_in_plaintext_by_older_versions_still_sign_and_get_sealed() {
    let dns = DnsFixture::start().await.unwrap();
    let env = start(&dns, |_| {}).await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    // What an older Sluice wrote: one key, its private half in plain base64.
    let generated = insert_legacy_domain(
        &env,
        &tenant,
        "legacy.test",
        "sluice20250101",
        sluice_model::DkimAlgorithm::RsaSha256,
    )
    .await;
    let redis = redis::Client::open(env.redis.url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let hash_key = format!("sluice:v1:{{sluice:t:{tenant}}}:domain:legacy.test");
    let txt = format!("v=DKIM1; k=rsa; p={}", generated.public_key_b64);
    let name = "sluice20250101._domainkey.legacy.test";

    let view = json_of(
        env.get(&key, "/v1/domains/legacy.test").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(view["dkim"]["selector"], "sluice20250101");
    assert_eq!(key_of(&view, "sluice20250101")["state"], "active");
    publish(&dns, &view, ALL);
    // The first update (this verification) rewrites the key sealed.
    let view = verify(&env, &key, "legacy.test").await;
    assert_eq!(view["verification"]["status"], "verified", "{view:#}");
    let raw: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(&hash_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    for legacy in ["private_key", "selector", "algorithm", "public_key"] {
        assert!(!raw.contains_key(legacy), "{legacy} left behind: {raw:?}");
    }
    let stored: Value = serde_json::from_str(&raw["key:sluice20250101"]).unwrap();
    assert!(stored["private_key"].as_str().unwrap().starts_with("v1:"));
    let data = send_and_receive(&env, &key, "noreply@legacy.test").await;
    assert_eq!(dkim_verify(&data, &txt, name), "PASS");
    env.stop().await;
}

#[tokio::test]
async fn a_legacy_plaintext_key_signs_before_any_update() {
    let env = TestEnv::start().await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let generated = insert_legacy_domain(
        &env,
        &tenant,
        "old.test",
        "s2024",
        sluice_model::DkimAlgorithm::Ed25519Sha256,
    )
    .await;
    let data = send_and_receive(&env, &key, "noreply@old.test").await;
    let sigs = signatures(&data);
    assert_eq!(tag(&sigs[0], "s"), "s2024");
    let txt = format!("v=DKIM1; k=ed25519; p={}", generated.public_key_b64);
    assert_eq!(
        dkim_verify(&data, &txt, "s2024._domainkey.old.test"),
        "PASS"
    );
    env.stop().await;
}
