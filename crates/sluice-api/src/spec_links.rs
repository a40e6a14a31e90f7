//! OpenAPI links: from each operation that creates something to the operations that
//! take its id, so clients, generators and contract fuzzers (schemathesis's stateful
//! phase) can follow a created tenant, key, domain, message, template, webhook or
//! suppression to its reads, updates and deletes.

use serde_json::{Map, Value, json};

/// `(creating operation, its success status, [(linked operation, parameters)])`.
type Links = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static [(&'static str, &'static str)])],
);

const BODY_ID: &[(&str, &str)] = &[("id", "$response.body#/id")];

const LINKS: &[Links] = &[
    (
        "create_tenant",
        "201",
        &[
            ("get_tenant", BODY_ID),
            ("update_tenant", BODY_ID),
            ("resume_tenant", BODY_ID),
            ("admin_list_api_keys", BODY_ID),
            ("create_api_key", BODY_ID),
        ],
    ),
    (
        "create_api_key",
        "201",
        &[(
            "admin_revoke_api_key",
            &[("id", "$request.path.id"), ("key_id", "$response.body#/id")],
        )],
    ),
    (
        "create_domain",
        "201",
        &[
            ("get_domain", &[("name", "$response.body#/name")]),
            ("verify_domain", &[("name", "$response.body#/name")]),
            ("rotate_dkim_key", &[("name", "$response.body#/name")]),
        ],
    ),
    (
        "send_message",
        "202",
        &[("get_message", BODY_ID), ("cancel_message", BODY_ID)],
    ),
    (
        "create_template",
        "201",
        &[
            ("get_template", BODY_ID),
            ("update_template", BODY_ID),
            ("delete_template", BODY_ID),
        ],
    ),
    (
        "create_webhook",
        "201",
        &[
            ("get_webhook", BODY_ID),
            ("delete_webhook", BODY_ID),
            ("list_attempts", BODY_ID),
            ("enable_webhook", BODY_ID),
            ("rotate_secret", BODY_ID),
        ],
    ),
    (
        "add_suppressions",
        "201",
        &[
            (
                "get_suppression",
                &[("address", "$response.body#/suppressions/0/address")],
            ),
            (
                "delete_suppression",
                &[("address", "$response.body#/suppressions/0/address")],
            ),
        ],
    ),
];

/// Adds [`LINKS`] to the responses of `spec`'s creating operations.
pub fn add(spec: &mut Value) {
    let Some(paths) = spec["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in item.values_mut() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            let Some((_, status, targets)) = LINKS.iter().find(|(from, ..)| *from == id) else {
                continue;
            };
            let links: Map<String, Value> = targets
                .iter()
                .map(|(target, parameters)| {
                    let parameters: Map<String, Value> = parameters
                        .iter()
                        .map(|(name, expression)| (name.to_string(), json!(expression)))
                        .collect();
                    (
                        link_name(target),
                        json!({"operationId": target, "parameters": parameters}),
                    )
                })
                .collect();
            operation["responses"][*status]["links"] = Value::Object(links);
        }
    }
}

/// `get_message` → `GetMessage`, the usual spelling of a link's name.
fn link_name(operation: &str) -> String {
    operation
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every link names an operation that exists, only parameters it takes, and a
    /// creating operation whose response has the status linked from.
    #[test]
    fn every_link_resolves_to_an_operation_and_its_parameters() {
        let spec = crate::openapi();
        let mut operations = std::collections::HashMap::new();
        for item in spec["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let params: Vec<String> = operation["parameters"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .map(|p| p["name"].as_str().unwrap().into())
                            .collect()
                    })
                    .unwrap_or_default();
                operations.insert(operation["operationId"].as_str().unwrap(), params);
            }
        }
        let mut count = 0;
        for (from, status, targets) in LINKS {
            assert!(operations.contains_key(from), "{from}");
            for (target, parameters) in *targets {
                let taken = &operations[target];
                for (name, _) in *parameters {
                    assert!(taken.iter().any(|p| p == name), "{target} takes no {name}");
                }
                count += 1;
            }
            let found = spec["paths"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|item| item.as_object().unwrap().values())
                .find(|op| op["operationId"] == *from)
                .unwrap();
            assert!(found["responses"][*status]["links"].is_object(), "{from}");
        }
        assert!(count >= 20, "{count} links");
        assert_eq!(link_name("get_message"), "GetMessage");
    }
}
