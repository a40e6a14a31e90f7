#![allow(clippy::unwrap_used)]

use sluice_model::{AttachmentRequest, Limits, SendMessageRequest};
use time::OffsetDateTime;

use super::*;

/// A shipping notice of about 2 KB, personalised when `name` differs.
fn notice(to: &str, name: &str, text: Option<&str>) -> OutboundMessage {
    let html = format!(
        "<!doctype html><html><body><h1>Hi {name}, your order is on its way</h1>\
         <p>Order <b>#{n}</b> left our warehouse in Rotterdam this morning and is now with \
         the carrier. Follow every step with the link below.</p>\
         <p><a href=\"https://track.example.test/t/{n}?utm_source=email\">Track it</a></p>{rows}\
         <p>Questions? Reply to this email or visit our help centre.</p></body></html>",
        n = name.len() * 7919,
        rows = (1..=12)
            .map(|i| format!("<tr><td>Item number {i}, navy, size M</td><td>EUR {i}9.00</td></tr>"))
            .collect::<String>(),
    );
    SendMessageRequest {
        from: "Shop <orders@shop.test>".into(),
        to: vec![to.into()],
        subject: format!("Your order, {name}"),
        text: Some(text.map_or_else(
            || format!("Hi {name}, your order is on its way."),
            String::from,
        )),
        html: Some(html),
        ..Default::default()
    }
    .validate(&Limits::default(), OffsetDateTime::now_utc())
    .unwrap()
}

fn round_trip(bodies: &Bodies, messages: &[(&OutboundMessage, Partition)]) {
    for ((body, content), (message, _)) in bodies.bodies.iter().zip(messages) {
        let content = content.map(|c| &bodies.contents[c].stored[..]);
        assert_eq!(&decode(body, content).unwrap(), *message);
    }
}

#[test]
fn one_body_for_many_recipients_is_stored_once_per_partition() {
    let messages: Vec<OutboundMessage> = (0..40)
        .map(|i| notice(&format!("r{i}@example.test"), "Customer", Some("same")))
        .collect();
    let with_partitions: Vec<(&OutboundMessage, Partition)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m, Partition(i as u16 % 4)))
        .collect();
    let bodies = encode(&with_partitions);
    round_trip(&bodies, &with_partitions);
    assert_eq!(bodies.contents.len(), 4, "one content per partition");
    let keys: std::collections::HashSet<&str> =
        bodies.contents.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys.len(), 4);
    let json_len = serde_json::to_vec(&messages[0]).unwrap().len();
    for (body, content) in &bodies.bodies {
        assert!(content.is_some());
        assert!(
            body.len() < 160,
            "{} bytes for a {json_len}-byte message",
            body.len()
        );
    }
}

#[test]
fn a_template_rendered_per_recipient_stores_only_what_differs() {
    let messages: Vec<OutboundMessage> = (0..20)
        .map(|i| {
            notice(
                &format!("r{i}@example.test"),
                &format!("Customer {i}"),
                None,
            )
        })
        .collect();
    let with_partitions: Vec<(&OutboundMessage, Partition)> =
        messages.iter().map(|m| (m, Partition(0))).collect();
    let bodies = encode(&with_partitions);
    round_trip(&bodies, &with_partitions);
    assert_eq!(bodies.contents.len(), 1, "the first message's content");
    let alone = compress(&serde_json::to_vec(&messages[5]).unwrap(), None)
        .unwrap()
        .len();
    let (shared, _) = &bodies.bodies[5];
    assert!(
        shared.len() * 4 < alone,
        "{} bytes shared, {alone} alone",
        shared.len()
    );
}

#[test]
fn a_message_alone_in_its_partition_is_compressed_alone() {
    let small = notice("a@example.test", "Ann", None);
    let bodies = encode(&[(&small, Partition(0))]);
    assert!(bodies.contents.is_empty());
    assert_eq!(bodies.bodies[0].0[0], ALONE);
    round_trip(&bodies, &[(&small, Partition(0))]);

    // Even a large one: a shared content outlives the delivery, the record's own
    // body does not (a one-off 64 KB attachment must not stay for the retention).
    let bytes: Vec<u8> = (0..64 * 1024).map(|_| rand::random::<u8>()).collect();
    let mut request = SendMessageRequest {
        from: "Shop <orders@shop.test>".into(),
        to: vec!["b@example.test".into()],
        subject: "Your invoice".into(),
        text: Some("Attached.".into()),
        ..Default::default()
    };
    request.attachments = vec![AttachmentRequest {
        filename: "invoice.pdf".into(),
        content_type: Some("application/pdf".into()),
        content: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes),
    }];
    let large = request
        .validate(&Limits::default(), OffsetDateTime::now_utc())
        .unwrap();
    let alone = encode(&[(&large, Partition(3))]);
    round_trip(&alone, &[(&large, Partition(3))]);
    assert!(alone.contents.is_empty());
    assert_eq!(alone.bodies[0].0[0], ALONE);
    // Two of them in one partition of one request do share.
    let mut again = large.clone();
    again.to = vec![Mailbox::parse("c@example.test").unwrap()];
    let both = encode(&[(&large, Partition(3)), (&again, Partition(3))]);
    round_trip(&both, &[(&large, Partition(3)), (&again, Partition(3))]);
    assert_eq!(both.contents.len(), 1);
    assert!(both.bodies[1].0.len() < 1024);
}

#[test]
fn a_message_shares_only_when_that_makes_it_smaller() {
    let a = notice("a@example.test", "Ann", None);
    let mut b = notice("b@example.test", "Bob", None);
    b.html = Some("<p>Something else entirely: a one-line note.</p>".into());
    b.text = None;
    let bytes: Vec<u8> = (0..300).map(|_| rand::random::<u8>()).collect();
    let mut c = a.clone();
    c.html = Some(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &bytes,
    ));
    let messages = [(&a, Partition(0)), (&b, Partition(0)), (&c, Partition(0))];
    let bodies = encode(&messages);
    round_trip(&bodies, &messages);
    for ((body, content), (message, _)) in bodies.bodies.iter().zip(&messages) {
        let alone = compress(&serde_json::to_vec(message).unwrap(), None)
            .unwrap()
            .len();
        assert!(body.len() <= alone + 1, "{} > {alone}", body.len());
        if content.is_some() {
            assert!(body.len() < alone + 1);
        }
    }
}

#[test]
fn plain_json_of_earlier_versions_is_read() {
    let message = notice("a@example.test", "Ann", None);
    let json = serde_json::to_vec(&message).unwrap();
    assert_eq!(content_of(&json), Ok(None));
    assert_eq!(decode(&json, None).unwrap(), message);
}

#[test]
fn damaged_bodies_are_errors_not_panics() {
    assert!(content_of(b"").is_err());
    assert!(content_of(b"\x07abc").is_err());
    assert!(decode(b"\x01not zstd", None).is_err());
    assert!(decode(&[SHARED; 40], None).is_err());
    let message = notice("a@example.test", "Ann", None);
    let messages = [(&message, Partition(0)), (&message, Partition(0))];
    let bodies = encode(&messages);
    let (body, _) = &bodies.bodies[0];
    let wrong = compress(b"{\"text\":\"another content\"}", None).unwrap();
    assert!(decode(body, Some(&wrong)).is_err());
}
