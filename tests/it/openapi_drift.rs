//! The committed spec (`api-spec/openapi.json`, what SDKs are generated from) must be
//! exactly what the code describes, and every operation must document its errors.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;

fn committed() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../api-spec/openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_committed_spec_matches_the_code() {
    let generated = serde_json::to_value(sluice_api::openapi()).unwrap();
    assert!(
        generated == committed(),
        "api-spec/openapi.json is out of date; regenerate it with:\n  cargo run -q -p sluice -- openapi > api-spec/openapi.json"
    );
}

#[test]
fn every_operation_is_documented_with_descriptions_and_problem_errors() {
    let spec = serde_json::to_value(sluice_api::openapi()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/v1/messages",
        "/v1/messages/{id}",
        "/v1/domains",
        "/v1/domains/{name}",
        "/v1/admin/tenants",
        "/v1/admin/tenants/{id}/api-keys",
        "/v1/suppressions",
        "/v1/suppressions/{address}",
        "/v1/unsubscribe/{token}",
    ] {
        assert!(paths.contains_key(path), "{path} is not in the spec");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description (SDK generators reject that)"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not documented as application/problem+json"
                    );
                }
            }
            // Unsubscribe links are public: the signed token is the credential.
            if path.starts_with("/v1/") && !path.starts_with("/v1/unsubscribe/") {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} does not document 401"
                );
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} has no security requirement"
                );
            }
        }
    }
}

#[test]
fn operation_ids_are_unique() {
    // SDK generators name a method after each operationId; two alike is an invalid
    // document (OpenAPI 3.1 §4.8.10) and a generator refuses it.
    let spec = serde_json::to_value(sluice_api::openapi()).unwrap();
    let mut seen = std::collections::HashMap::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            if let Some(other) = seen.insert(id.to_string(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {other} and {method} {path}");
            }
        }
    }
}
