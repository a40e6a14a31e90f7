//! Each pattern against the parser it describes: what the pattern matches, the
//! server accepts (so a fuzzer's valid request is never refused), and samples the
//! server refuses do not match.

#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use regex::Regex;
use sluice_model::{EmailAddress, Mailbox};

use super::*;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap()
}

fn pick(rng: &mut impl Rng, chars: &str, min: usize, max: usize) -> String {
    let chars: Vec<char> = chars.chars().collect();
    (0..rng.random_range(min..=max))
        .map(|_| chars[rng.random_range(0..chars.len())])
        .collect()
}

const ATEXT_CHARS: &str = "abcXYZ019!#$%&'*+/=?^_`{|}~-";
const LABEL_CHARS: &str = "abzAZ09-";

/// A random string the address pattern matches, built part by part.
fn random_address(rng: &mut impl Rng) -> String {
    let mut local = pick(rng, ATEXT_CHARS, 1, 16);
    for _ in 0..rng.random_range(0..=3) {
        local += &format!(".{}", pick(rng, ATEXT_CHARS, 1, 15));
    }
    let label = |rng: &mut _, first: &str| {
        let inner = pick(rng, LABEL_CHARS, 0, 40);
        let end = if inner.is_empty() {
            String::new()
        } else {
            pick(rng, "a9", 1, 1)
        };
        format!("{}{inner}{end}", pick(rng, first, 1, 1))
    };
    let mut domain = String::new();
    for _ in 0..rng.random_range(1..=3) {
        domain += &label(rng, "a0Z");
        domain.push('.');
    }
    domain += &label(rng, "aZ");
    format!("{local}@{domain}")
}

#[test]
fn addresses_the_pattern_matches_are_accepted() {
    let mut rng = rand::rng();
    let bare = regex(&format!("^{}$", address()));
    let mailbox = regex(&super::mailbox());
    for _ in 0..2000 {
        let address = random_address(&mut rng);
        assert!(bare.is_match(&address), "{address}");
        assert!(EmailAddress::parse(&address).is_ok(), "{address}");
        let named = format!("{} <{address}>", pick(&mut rng, "Jane Dœ,.'()é ", 0, 60));
        assert!(mailbox.is_match(&named), "{named}");
        assert!(Mailbox::parse(&named).is_ok(), "{named}");
    }
    for refused in [
        "",
        "jane",
        "jane@localhost",
        ".jane@example.com",
        "ja..ne@example.com",
        "jane@example.123",
        "jane@-example.com",
        "Jane <jane@example.com",
        "\"Jane <jane@example.com>",
        "jane@exa mple.com",
        "jane\n@example.com",
    ] {
        assert!(!mailbox.is_match(refused), "{refused:?}");
        assert!(Mailbox::parse(refused).is_err(), "{refused:?}");
    }
}

#[test]
fn webhook_urls_the_pattern_matches_parse() {
    let mut rng = rand::rng();
    let pattern = regex(&webhook_url());
    for _ in 0..1000 {
        let host = random_address(&mut rng)
            .split_once('@')
            .unwrap()
            .1
            .to_string();
        let port = if rng.random_bool(0.5) {
            format!(":{}", rng.random_range(1..9999))
        } else {
            String::new()
        };
        let path = pick(&mut rng, "az09._~!$&'()*+,;=:@/-", 0, 30);
        let url = format!("https://{host}{port}/{path}");
        assert!(pattern.is_match(&url), "{url}");
        assert!(
            sluice_model::webhook_url::parse_url(&url, true).is_ok(),
            "{url}"
        );
    }
    for refused in [
        "ftp://example.com/",
        "https://",
        "example.com/hook",
        "https://a b.com/",
    ] {
        assert!(!pattern.is_match(refused), "{refused}");
        assert!(
            sluice_model::webhook_url::parse_url(refused, true).is_err(),
            "{refused}"
        );
    }
}

#[test]
fn base64url_cursors_match_exactly_what_decodes() {
    let pattern = regex(BASE64URL);
    let mut rng = rand::rng();
    for _ in 0..5000 {
        let text = pick(&mut rng, "AQgwBz09_-", 0, 11);
        assert_eq!(
            pattern.is_match(&text),
            URL_SAFE_NO_PAD.decode(&text).is_ok(),
            "{text:?}"
        );
        let bytes: Vec<u8> = (0..rng.random_range(0..20)).map(|_| rng.random()).collect();
        assert!(pattern.is_match(&URL_SAFE_NO_PAD.encode(bytes)));
    }
}

#[test]
fn base64_attachments_match_exactly_what_decodes() {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let pattern = regex(BASE64);
    let mut rng = rand::rng();
    for _ in 0..5000 {
        let text = pick(&mut rng, "AQgwBz09+/=", 0, 12);
        assert_eq!(
            pattern.is_match(&text),
            engine.decode(&text).is_ok(),
            "{text:?}"
        );
    }
}

#[test]
fn stream_cursors_match_exactly_what_the_store_takes() {
    let pattern = regex(STREAM_CURSOR);
    let mut rng = rand::rng();
    for _ in 0..5000 {
        let text = pick(&mut rng, "0129-", 0, 25);
        assert_eq!(
            pattern.is_match(&text),
            sluice_store::webhooks::is_stream_cursor(&text),
            "{text:?}"
        );
    }
}

#[test]
fn reserved_header_names_match_in_any_case() {
    let pattern = regex(&reserved_header_names());
    for name in [
        "From",
        "DKIM-Signature",
        "content-type",
        "REPLY-TO",
        "Message-Id",
    ] {
        assert!(pattern.is_match(name), "{name}");
    }
    for name in ["X-Campaign", "List-Unsubscribe", "Fromage", "Received"] {
        assert!(!pattern.is_match(name), "{name}");
    }
}

#[test]
fn the_document_carries_the_refinements() {
    let spec = crate::openapi();
    let message = &spec["components"]["schemas"]["SendMessageRequest"];
    assert_eq!(message["properties"]["from"]["pattern"], json!(mailbox()));
    assert!(message["not"].is_object() && message["if"].is_object());
    assert!(spec["components"]["schemas"]["CreateDomainRequest"]["not"].is_object());
}

#[test]
fn ip_addresses_the_pattern_matches_parse() {
    let pattern = regex(&format!("^(?:{})$", ip_address()));
    for ip in [
        "192.0.2.10",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "2001:db8::1",
        "fe80::",
        "1:2:3:4:5:6:7:8",
        "1::8",
        "::ffff:192.0.2.1",
        "::192.0.2.1",
        "1:2:3:4:5:6:7::",
    ] {
        assert!(pattern.is_match(ip), "{ip}");
        assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{ip}");
    }
    for bad in [
        "256.0.0.1",
        "01.2.3.4",
        "1.2.3",
        "1:2:3:4:5:6:7:8:9",
        "::g",
        "1:::2",
        "",
    ] {
        assert!(!pattern.is_match(bad), "{bad}");
        assert!(bad.parse::<std::net::IpAddr>().is_err(), "{bad}");
    }
}

/// A refinement aimed at a schema or property that no longer exists (renamed in
/// the code) would create it from nothing: every schema and property must still
/// have the type (or composition) utoipa gave it.
#[test]
fn every_refinement_lands_on_something_utoipa_made() {
    let spec = crate::openapi();
    let typed = |schema: &Value| {
        ["type", "oneOf", "allOf", "anyOf", "$ref"]
            .iter()
            .any(|k| schema.get(*k).is_some())
    };
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        assert!(typed(schema), "schema {name} has no type: {schema}");
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            assert!(typed(property), "{name}.{field} has no type: {property}");
        }
    }
}
