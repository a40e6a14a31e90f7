//! The parts of the contract the derive macros cannot say, added to the finished
//! document: the `pattern` of every field the server parses (addresses, ids, cursors,
//! header names, base64), the rules between fields (`not` and `if`/`then`/`else`),
//! and the links from operations that create ids to those that take them.
//!
//! A contract fuzzer (schemathesis) generates requests from these: a request valid
//! by the schema must be accepted, one invalid must be refused. So each pattern is
//! the server's own rule or a part of it that the server always accepts; the tests
//! below check them against the parsers they describe. Constraints that depend on
//! state (the tenant's domains, what resolves where, the time now) stay in prose.

use serde_json::{Value, json};
use sluice_model::message::RESERVED_HEADERS;
use sluice_model::{ApiKeyId, MessageId, TemplateId, TenantId, WebhookId};

use crate::spec_links;

/// A character that is not a control character (Rust's `char::is_control`, the
/// Unicode `Cc` category), which every free-text field refuses.
const TEXT: &str = r"[^\x00-\x1f\x7f-\x9f]";

/// One `atext` of RFC 5322 (the ASCII ones; the server also takes non-ASCII).
const ATEXT: &str = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";

/// A domain label: letters, digits, inner hyphens. Labels of at most 42 characters
/// and at most four of them keep any match within the length limits.
const LABEL: &str = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,40}[A-Za-z0-9])?";

/// The last label starts with a letter (an all-digit one is refused).
const TOP_LABEL: &str = r"[A-Za-z](?:[A-Za-z0-9-]{0,40}[A-Za-z0-9])?";

/// Stream entry ids (`<ms>-<seq>`), as `GET /v1/events` and webhook attempts page by.
pub const STREAM_CURSOR: &str = "^[0-9]{1,19}-[0-9]{1,19}$";

/// Canonical unpadded base64url, the form of suppression-list cursors.
pub const BASE64URL: &str =
    "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$";

/// Canonical standard base64 (attachment contents); padding is optional, and a short
/// one is taken too (the decoder's `Indifferent` mode).
const BASE64: &str =
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]={0,2}|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=?)?$";

/// `Idempotency-Key`: 1 to 255 printable ASCII characters.
pub const IDEMPOTENCY_KEY: &str = "^[ -~]{1,255}$";

/// An address, `local@domain` (dot-atom local part of at most 64 bytes).
pub fn address() -> String {
    format!(r"{ATEXT}{{1,16}}(?:\.{ATEXT}{{1,15}}){{0,3}}@(?:{LABEL}\.){{1,3}}{TOP_LABEL}")
}

/// A mailbox: an address, or `Display Name <address>`.
pub fn mailbox() -> String {
    let address = address();
    format!(r#"^(?:[^"<>\x00-\x1f\x7f-\x9f]{{0,64}}<{address}>|{address})$"#)
}

/// A webhook URL: `http(s)://host[:port][/path]`.
pub fn webhook_url() -> String {
    format!(
        r"^https?://(?:{LABEL}\.){{0,3}}{TOP_LABEL}(?::[0-9]{{1,4}})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@/-]{{0,200}})?$"
    )
}

/// Header names Sluice sets itself, in any case: `[Ff][Rr][Oo][Mm]|…`.
fn reserved_header_names() -> String {
    let names: Vec<String> = RESERVED_HEADERS
        .iter()
        .map(|name| {
            name.chars()
                .map(|c| match c.is_ascii_alphabetic() {
                    true => format!("[{}{}]", c.to_ascii_uppercase(), c),
                    false => c.to_string(),
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", names.join("|"))
}

/// Adds everything this module knows to `spec` (the document utoipa built).
pub fn refine(spec: &mut Value) {
    let schemas = &mut spec["components"]["schemas"];
    send_message(&mut schemas["SendMessageRequest"]);
    merge(
        &mut schemas["AttachmentRequest"]["properties"],
        json!({
            "filename": non_blank(255),
            "content_type": {"pattern": "^[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}$"},
            "content": {"pattern": BASE64},
        }),
    );
    let header_value = json!({"pattern": r"^[^\x00-\x08\x0a-\x1f\x7f-\x9f]*$", "maxLength": 998});
    merge(
        &mut schemas["HeaderValues"],
        json!({"oneOf": [header_value, {"items": header_value, "minItems": 1}]}),
    );
    merge(
        &mut schemas["TemplateRequest"],
        json!({
            "properties": {
                "name": label(200),
                "subject": non_blank(998),
            },
            // `text` or `html` (not empty) is required.
            "not": {"properties": {"text": {"maxLength": 0}, "html": {"maxLength": 0}}},
        }),
    );
    merge(
        &mut schemas["CreateDomainRequest"],
        json!({
            // Not both `dkim_algorithm` and `dkim_algorithms` (a null is as absent).
            "not": {
                "required": ["dkim_algorithm", "dkim_algorithms"],
                "properties": {
                    "dkim_algorithm": {"type": "string"},
                    "dkim_algorithms": {"type": "array"},
                },
            },
        }),
    );
    merge(
        &mut schemas["CreateDomainRequest"]["properties"]["dkim_algorithms"],
        json!({"minItems": 1, "maxItems": 2, "uniqueItems": true}),
    );
    merge(
        &mut schemas["CreateDomainRequest"]["properties"]["name"],
        json!({"pattern": format!(r"^(?:{LABEL}\.){{1,3}}{TOP_LABEL}$")}),
    );
    let address = format!("^{}$", address());
    merge(
        &mut schemas["AddSuppressionsRequest"],
        json!({
            "properties": {
                "address": {"pattern": address},
                "addresses": {"items": {"pattern": address}, "maxItems": 1000},
                "note": {"maxLength": 1000},
            },
            // `address`, or a non-empty `addresses`.
            "not": {"properties": {
                "address": {"type": "null"},
                "addresses": {"maxItems": 0},
            }},
        }),
    );
    merge(
        &mut schemas["CreateWebhookRequest"]["properties"]["url"],
        json!({"pattern": webhook_url()}),
    );
    merge(
        &mut schemas["ReplayRequest"]["properties"]["event_id"],
        json!({"pattern": "^evt_[0-9]{1,19}-[0-9]{1,19}$"}),
    );
    admin(schemas);
    parameters(spec);
    spec_links::add(spec);
}

/// `POST /v1/messages` (and each message of a batch).
fn send_message(schema: &mut Value) {
    let mailbox = mailbox();
    let header_names = reserved_header_names();
    merge(
        schema,
        json!({
            "properties": {
                "from": {"pattern": mailbox},
                "reply_to": {"pattern": mailbox},
                "to": {"items": {"pattern": mailbox}, "maxItems": 50},
                "cc": {"items": {"pattern": mailbox}, "maxItems": 50},
                "bcc": {"items": {"pattern": mailbox}, "maxItems": 50},
                "template_id": {"pattern": TemplateId::PATTERN},
                "tags": {"items": {"pattern": format!("^{TEXT}{{1,128}}$")}, "maxItems": 10},
                "metadata": {
                    "maxProperties": 20,
                    "propertyNames": {"pattern": format!("^{TEXT}+$"), "maxLength": 64},
                    "additionalProperties": {"maxLength": 1024},
                },
                "headers": {
                    "maxProperties": 100,
                    "propertyNames": {
                        "pattern": "^[!-9;-~]{1,76}$",
                        "not": {"pattern": header_names},
                    },
                },
                "attachments": {"maxItems": 100},
            },
            // At least one recipient in `to`, `cc` or `bcc`.
            "not": {"properties": {
                "to": {"maxItems": 0},
                "cc": {"maxItems": 0},
                "bcc": {"maxItems": 0},
            }},
            // With a template, it supplies subject and bodies; without, they are
            // required and the other template fields are refused.
            "if": {
                "required": ["template_id"],
                "properties": {"template_id": {"type": "string"}},
            },
            "then": {"properties": {
                "subject": {"maxLength": 0},
                "text": {"type": "null"},
                "html": {"type": "null"},
            }},
            "else": {
                "required": ["subject"],
                "properties": {
                    "subject": non_blank(998),
                    "template_version": {"type": "null"},
                    "template_data": {"type": "null"},
                },
                "not": {"properties": {"text": {"maxLength": 0}, "html": {"maxLength": 0}}},
            },
        }),
    );
}

/// A character that is neither a control character nor white space.
const VISIBLE: &str = r"[^\s\x00-\x1f\x7f-\x9f]";

/// Text checked as sent: something besides spaces, no control characters anywhere.
fn non_blank(max: usize) -> Value {
    json!({"pattern": format!("^{TEXT}*{VISIBLE}{TEXT}*$"), "maxLength": max})
}

/// A label for people, which the server trims before checking: leading white space
/// (control characters included) goes, the rest is as [`non_blank`].
fn label(max: usize) -> Value {
    json!({"pattern": format!(r"^\s*{VISIBLE}{TEXT}*$"), "maxLength": max})
}

/// An IPv4 or IPv6 address as Rust's `IpAddr` parses it (no zone ids).
fn ip_address() -> String {
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    let v4 = format!(r"{octet}(?:\.{octet}){{3}}");
    let h = "[0-9a-fA-F]{1,4}";
    let v6 = [
        format!("(?:{h}:){{7}}{h}"),
        format!("(?:{h}:){{1,7}}:"),
        format!("(?:{h}:){{1,6}}:{h}"),
        format!("(?:{h}:){{1,5}}(?::{h}){{1,2}}"),
        format!("(?:{h}:){{1,4}}(?::{h}){{1,3}}"),
        format!("(?:{h}:){{1,3}}(?::{h}){{1,4}}"),
        format!("(?:{h}:){{1,2}}(?::{h}){{1,5}}"),
        format!("{h}:(?::{h}){{1,6}}"),
        format!(":(?:(?::{h}){{1,7}}|:)"),
        format!("::(?:[fF]{{4}}:)?{v4}"),
    ];
    format!("{v4}|{}", v6.join("|"))
}

/// The admin API's request bodies.
fn admin(schemas: &mut Value) {
    merge(
        &mut schemas["CreateTenantRequest"]["properties"]["name"],
        label(100),
    );
    merge(
        &mut schemas["CreateApiKeyRequest"]["properties"],
        json!({"name": label(100), "scopes": {"minItems": 1}}),
    );
    merge(
        &mut schemas["UpdateTenantRequest"]["properties"]["pools"],
        json!({"propertyNames": {"enum": ["transactional", "bulk"]}}),
    );
    merge(
        &mut schemas["PauseRequest"],
        json!({
            "properties": {
                "ip": {"pattern": format!("^(?:any|{})$", ip_address())},
                "provider": {"pattern": "^[A-Za-z0-9._-]{1,253}$"},
            },
            // An address, a provider, or both.
            "not": {"properties": {"ip": {"type": "null"}, "provider": {"type": "null"}}},
        }),
    );
}

/// Query, path and header parameters the server parses.
fn parameters(spec: &mut Value) {
    let Some(paths) = spec["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let Some(params) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for param in params {
                let name = param["name"].as_str().unwrap_or_default();
                let pattern: String = match (id.as_str(), name) {
                    (_, "Idempotency-Key") => IDEMPOTENCY_KEY.into(),
                    // An empty cursor is the first page, an empty filter no filter.
                    ("list_events" | "list_attempts", "cursor") => or_empty(STREAM_CURSOR),
                    ("list_events", "message_id") => or_empty(MessageId::PATTERN),
                    ("list_templates", "cursor") => or_empty(TemplateId::PATTERN),
                    ("list_suppressions", "cursor") => BASE64URL.into(),
                    ("admin_revoke_api_key", "key_id") | ("revoke_api_key", "id") => {
                        ApiKeyId::PATTERN.into()
                    }
                    (_, "id") if id.contains("tenant") || id.starts_with("admin_") => {
                        TenantId::PATTERN.into()
                    }
                    ("create_api_key", "id") => TenantId::PATTERN.into(),
                    (_, "id") if id.contains("message") => MessageId::PATTERN.into(),
                    (_, "id") if id.contains("template") => TemplateId::PATTERN.into(),
                    (_, "id")
                        if id.contains("webhook")
                            || ["list_attempts", "replay_event", "rotate_secret"]
                                .contains(&id.as_str()) =>
                    {
                        WebhookId::PATTERN.into()
                    }
                    _ => continue,
                };
                merge(&mut param["schema"], json!({"pattern": pattern}));
            }
        }
    }
}

/// `pattern` (anchored) or the empty string.
fn or_empty(pattern: &str) -> String {
    let inner = pattern.trim_start_matches('^').trim_end_matches('$');
    format!("^(?:{inner})?$")
}

/// Deep-merges `patch` into `target` (objects key by key; anything else replaces).
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (Value::Array(target), Value::Array(patch)) if target.len() == patch.len() => {
            for (target, value) in target.iter_mut().zip(patch) {
                merge(target, value);
            }
        }
        (target, patch) => *target = patch,
    }
}

#[cfg(test)]
mod tests;
