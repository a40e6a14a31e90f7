//! The contract fuzz: schemathesis generates requests from the committed OpenAPI
//! document, sends them to a real Sluice (real Redis, real SMTP sink) and checks
//! every answer with all its checks: no server error, every status and body as the
//! document says, every schema-valid request accepted and every invalid one refused,
//! links followed from created ids (its stateful phase). Once with a tenant key with
//! every scope, once with the admin token for `/v1/admin` and `/metrics`.
//!
//! The few rules the schema cannot state (the tenant's own domains, how far ahead
//! `send_at` may be) are applied by `tests/contract/sluice_hooks.py`, which says why.
//! Needs `schemathesis` (PyPI) in SLUICE_TEST_PYTHON: `scripts/lib.sh
//! ensure_contract_fuzzer` installs the pinned version.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use sluice_test_dns::DnsFixture;

use crate::common::{ADMIN_TOKEN, TestEnv};

/// Generated cases per operation and phase; the seed makes a run repeatable (set
/// SLUICE_FUZZ_SEED to try others, SLUICE_FUZZ_EXAMPLES for more cases).
const EXAMPLES: &str = "25";
const SEED: &str = "20261206";

fn python() -> String {
    std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs schemathesis against `env` with `auth`, restricted by `paths` (a regex and
/// whether to include or exclude it), and fails the test with its report.
fn fuzz(env: &TestEnv, auth: &str, paths: (&str, &str), extra_env: &[(&str, &str)]) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let examples = std::env::var("SLUICE_FUZZ_EXAMPLES").unwrap_or_else(|_| EXAMPLES.into());
    let seed = std::env::var("SLUICE_FUZZ_SEED").unwrap_or_else(|_| SEED.into());
    let output = Command::new(python())
        // Its cache (`.schemathesis/`) goes under target/, not into the checkout.
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .args(["-m", "schemathesis.cli", "run", &env.url("/openapi.json")])
        .args([
            "--checks",
            "all",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
        ])
        .args(["--header", &format!("Authorization: Bearer {auth}")])
        .args([paths.0, paths.1])
        .args(["--request-timeout", "20", "--no-color"])
        .env("PYTHONPATH", format!("{root}/tests/contract"))
        .env("SCHEMATHESIS_HOOKS", "sluice_hooks")
        .envs(extra_env.iter().copied())
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    if errors.contains("No module named schemathesis") {
        panic!(
            "schemathesis is not installed for {}: run `. scripts/lib.sh && ensure_contract_fuzzer`",
            python()
        );
    }
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{report}\n{errors}",
        output.status
    );
    // A run that tested nothing would pass too: make sure it ran.
    assert!(report.contains("Tested:"), "{report}");
    assert!(!report.contains("Tested: 0"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tenant_api_keeps_its_contract_under_a_fuzzer() {
    // Domain checks ask a loopback name server (which knows no names), never the
    // internet; webhook URLs on any address are taken, so none is looked up.
    let dns = DnsFixture::start().await.unwrap();
    let env = TestEnv::start_with(
        std::sync::Arc::new(sluice_smtp_server::AcceptAll),
        sluice::run::Roles::ALL,
        |c| {
            c.webhook_allow_private = true;
            c.domains.dns_servers = vec![dns.addr().to_string()];
        },
    )
    .await;
    let tenant = env
        .admin_post("/v1/admin/tenants", json!({"name": "fuzz"}))
        .await;
    assert_eq!(tenant.status(), StatusCode::CREATED);
    let tenant: Value = tenant.json().await.unwrap();
    let created = env
        .admin_post(
            &format!(
                "/v1/admin/tenants/{}/api-keys",
                tenant["id"].as_str().unwrap()
            ),
            json!({"scopes": ["send", "read", "admin"]}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let domain = env
        .post(&key, "/v1/domains", json!({"name": "fuzz.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    let key_id = created["id"].as_str().unwrap().to_string();
    let base = env.url("");
    let fuzz_env = [
        ("SLUICE_FUZZ_DOMAIN", "fuzz.test"),
        ("SLUICE_FUZZ_KEY_ID", key_id.as_str()),
        ("SLUICE_FUZZ_URL", base.as_str()),
        ("SLUICE_FUZZ_KEY", key.as_str()),
    ];
    let paths = ("--exclude-path-regex", "^/(v1/admin|metrics)");
    tokio::task::block_in_place(|| fuzz(&env, &key, paths, &fuzz_env));
    // The key still works: the fuzzer never revoked it, and Sluice still serves.
    assert_eq!(env.get(&key, "/v1/domains").await.status(), StatusCode::OK);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_keeps_its_contract_under_a_fuzzer() {
    let env = TestEnv::start().await;
    tokio::task::block_in_place(|| {
        fuzz(
            &env,
            ADMIN_TOKEN,
            ("--include-path-regex", "^/(v1/admin|metrics)"),
            &[],
        )
    });
    env.stop().await;
}
