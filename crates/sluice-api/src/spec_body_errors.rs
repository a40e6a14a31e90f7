//! Every operation that takes a JSON body can be refused before its handler runs: a
//! body that is not JSON (400), one over the size limit (413), one sent as another
//! content type (415). The extractor (`extract::JsonBody`) and the body-limit layer
//! answer these the same way on every route, so the spec documents them the same way
//! here, once, rather than in each `#[utoipa::path]` (where one would be forgotten: a
//! contract fuzzer found three).

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Status, and what it means, for every operation with a request body.
const BODY_ERRORS: [(&str, &str); 3] = [
    ("400", "The body is not valid JSON"),
    ("413", "The body is over the size limit"),
    ("415", "The body is not application/json"),
];

/// Adds the [`BODY_ERRORS`] an operation with a request body does not document yet.
pub fn document(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        for operation in [&mut item.post, &mut item.put, &mut item.patch]
            .into_iter()
            .flatten()
        {
            add_to(operation);
        }
    }
}

fn add_to(operation: &mut Operation) {
    if operation.request_body.is_none() {
        return;
    }
    for (status, description) in BODY_ERRORS {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/problem+json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build(),
                        )
                        .build(),
                )
            });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn every_operation_with_a_body_documents_its_body_errors() {
        let spec = serde_json::to_value(crate::openapi()).unwrap();
        let mut checked = 0;
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if operation.get("requestBody").is_none() {
                    continue;
                }
                checked += 1;
                for status in ["400", "413", "415"] {
                    let response = &operation["responses"][status];
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} does not document {status}"
                    );
                }
            }
        }
        assert!(checked >= 10, "only {checked} operations take a body");
    }
}
