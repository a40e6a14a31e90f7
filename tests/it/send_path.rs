//! The send path end to end: HTTP API → Redis → worker → DKIM-signed SMTP → sink,
//! with the signature checked by an independent verifier (dkimpy).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice::run::Roles;

use common::{
    TestEnv, dkim_verify, domain_dkim_record, fields, header, headers, problem, simple_message,
};

async fn end_to_end(algorithm: &str) {
    let env = TestEnv::start().await;
    let (_, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let created = env
        .post(
            &key,
            "/v1/domains",
            json!({"name": "acme.test", "dkim_algorithm": algorithm}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let domain: Value = created.json().await.unwrap();
    assert_eq!(domain["dkim"]["algorithm"], algorithm);
    let purposes: Vec<&str> = domain["dns_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["purpose"].as_str().unwrap())
        .collect();
    for purpose in ["dkim", "spf", "dmarc", "return_path"] {
        assert!(
            purposes.contains(&purpose),
            "{purpose} record missing: {domain:#}"
        );
    }

    let attachment = b"%PDF-1.4 pretend invoice\n".repeat(40);
    let id = env
        .send(
            &key,
            json!({
                "from": "Acme Støtte <support@acme.test>",
                "to": ["Jörg Müller <jorg@example.com>", "ann@example.net"],
                "cc": ["carl@example.org"],
                "bcc": ["audit@example.org"],
                "reply_to": "help@acme.test",
                "subject": "Grüße – your invoice 日本語",
                "text": "Hello,\n.\nA line with a leading dot above.\n",
                "html": "<p>Hello <b>there</b></p>",
                "headers": {"X-Campaign": "spring"},
                "attachments": [{
                    "filename": "invoice.pdf",
                    "content_type": "application/pdf",
                    "content": base64::engine::general_purpose::STANDARD.encode(&attachment)
                }],
                "tags": ["invoice"],
                "metadata": {"order": "42"}
            }),
        )
        .await;

    let view = env
        .wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    let recipients = view["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 4);
    for recipient in recipients {
        assert_eq!(recipient["status"], "delivered");
        assert_eq!(recipient["smtp_reply"]["code"], 250);
    }
    assert_eq!(view["tags"], json!(["invoice"]));
    assert_eq!(view["metadata"], json!({"order": "42"}));
    let kinds: Vec<&str> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "message.accepted");
    assert_eq!(
        kinds.iter().filter(|k| **k == "message.delivered").count(),
        4
    );

    assert!(env.sink.wait_for_count(1, Duration::from_secs(5)).await);
    let received = env.sink.messages();
    assert_eq!(received.len(), 1, "one transaction for all recipients");
    let received = &received[0];
    let mut rcpt = received.rcpt_to.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        [
            "ann@example.net",
            "audit@example.org",
            "carl@example.org",
            "jorg@example.com"
        ]
    );
    assert!(
        received.mail_from.starts_with("bounces+")
            && received.mail_from.ends_with("@bounces.sluice.test"),
        "the envelope sender is the VERP return path: {}",
        received.mail_from
    );

    let parsed = headers(&received.data);
    assert!(
        header(&parsed, "Bcc").is_none(),
        "Bcc must never appear in the headers"
    );
    let subject = header(&parsed, "Subject").unwrap();
    assert!(
        subject.is_ascii() && subject.to_ascii_lowercase().contains("=?utf-8?"),
        "subject not RFC 2047 encoded: {subject}"
    );
    assert_eq!(header(&parsed, "X-Campaign"), Some("spring"));
    assert_eq!(
        header(&parsed, "Message-ID"),
        Some(view["message_id_header"].as_str().unwrap())
    );
    let text = String::from_utf8_lossy(&received.data);
    assert!(text.contains("invoice.pdf"));
    assert!(text.contains(&base64::engine::general_purpose::STANDARD.encode(&attachment)[..60]));
    let signature = header(&parsed, "DKIM-Signature").unwrap();
    assert!(signature.contains("d=acme.test"), "{signature}");
    assert!(signature.contains(&format!("a={algorithm}")), "{signature}");

    let (txt, name) = domain_dkim_record(&env, &key, "acme.test").await;
    assert_eq!(dkim_verify(&received.data, &txt, &name), "PASS");

    // The verifier can fail: a changed body must not verify.
    let mut tampered = received.data.clone();
    let at = tampered.len() - 10;
    tampered[at] ^= 0x01;
    assert!(dkim_verify(&tampered, &txt, &name).starts_with("FAIL"));
    env.stop().await;
}

#[tokio::test]
async fn a_message_travels_end_to_end_rsa_signed() {
    end_to_end("rsa-sha256").await;
}

#[tokio::test]
async fn a_message_travels_end_to_end_ed25519_signed() {
    end_to_end("ed25519-sha256").await;
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response_and_sends_once() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let send = |body: Value| {
        env.http
            .post(env.url("/v1/messages"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "order-42-receipt")
            .json(&body)
            .send()
    };
    let first = send(simple_message("jane@example.com")).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    // Same body with other key order and spacing: the same request.
    let reordered: Value =
        serde_json::from_str(r#"{"text":"Hi there","subject":"Hello","to":["jane@example.com"],"from":"Acme <noreply@acme.test>"}"#).unwrap();
    let second = send(reordered).await.unwrap();
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);

    let conflict = send(simple_message("someone-else@example.com"))
        .await
        .unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    assert_eq!(
        conflict.headers()["content-type"],
        "application/problem+json"
    );

    env.wait_for_status(
        &key,
        first["id"].as_str().unwrap(),
        "delivered",
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sink.count(), 1, "the replay must not send again");
    env.stop().await;
}

#[tokio::test]
async fn tenants_cannot_see_each_others_messages_or_domains() {
    let env = TestEnv::start().await;
    let key_a = env.ready_tenant().await;
    let (_, key_b) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let id = env.send(&key_a, simple_message("jane@example.com")).await;
    assert_eq!(
        env.get(&key_b, &format!("/v1/messages/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.get(&key_b, "/v1/domains/acme.test").await.status(),
        StatusCode::NOT_FOUND
    );
    // B cannot send from A's domain either.
    let refused = env
        .post(&key_b, "/v1/messages", simple_message("jane@example.com"))
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "from");
    env.stop().await;
}

#[tokio::test]
async fn transactional_mail_overtakes_thousands_of_queued_bulk_messages() {
    // Accept everything with no worker running, so the backlog is real.
    let env = TestEnv::start_with(
        std::sync::Arc::new(sluice_smtp_server::AcceptAll),
        Roles::API,
        |_| {},
    )
    .await;
    let key = env.ready_tenant().await;
    let bulk_count = 3000;
    let mut sends = tokio::task::JoinSet::new();
    for chunk in 0..20 {
        let (http, url, key) = (env.http.clone(), env.url("/v1/messages"), key.clone());
        sends.spawn(async move {
            for i in 0..bulk_count / 20 {
                let mut body = simple_message(&format!("fan{chunk}-{i}@example.com"));
                body["stream"] = json!("bulk");
                let response = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::ACCEPTED);
            }
        });
    }
    while let Some(result) = sends.join_next().await {
        result.unwrap();
    }
    let otp = env.send(&key, simple_message("otp@example.com")).await;

    let workers = 2;
    let worker = env
        .start_roles(Roles::WORKER, |c| c.workers = workers)
        .await;
    env.wait_for_status(&key, &otp, "delivered", Duration::from_secs(20))
        .await;
    let position = env
        .sink
        .messages()
        .iter()
        .position(|m| m.rcpt_to == ["otp@example.com"])
        .unwrap();
    assert!(
        position < workers,
        "the transactional message was delivered as number {position}, behind bulk mail"
    );
    worker.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn scheduled_messages_wait_for_send_at() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let mut body = simple_message("later@example.com");
    body["send_at"] = json!(
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let response = env.post(&key, "/v1/messages", body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["status"], "scheduled");
    let id = accepted["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(env.message(&key, id).await["status"], "scheduled");
    assert_eq!(env.sink.count(), 0);
    env.wait_for_status(&key, id, "delivered", Duration::from_secs(10))
        .await;
    assert!(time::OffsetDateTime::now_utc() >= at);
    env.stop().await;
}

/// Loop protection and RFC 3834: `Received` given as an array travels in order and
/// is counted (more than 25 is a loop, refused whatever the case of the name), and
/// `Auto-Submitted` is checked, kept and signed.
#[tokio::test]
async fn repeated_received_headers_travel_in_order_and_loops_are_refused() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let hops = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    "from hop{i}.example.net by mx{i}.example.net; Mon, 1 Dec 2026 10:00:0{} +0000",
                    i % 10
                )
            })
            .collect()
    };
    let with_headers = |headers: Value| {
        let mut body = simple_message("jane@example.com");
        body["headers"] = headers;
        body
    };

    let looping = with_headers(json!({"Received": hops(30)}));
    let body = problem(
        env.post(&key, "/v1/messages", looping).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["headers.Received"], "{body}");
    // 20 + 6 under two spellings of one name are 26 Received headers too.
    let mixed_case = with_headers(json!({"Received": hops(20), "received": hops(6)}));
    let body = problem(
        env.post(&key, "/v1/messages", mixed_case).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["headers.Received"], "{body}");
    let bad_auto = with_headers(json!({"Auto-Submitted": "yes please"}));
    let body = problem(
        env.post(&key, "/v1/messages", bad_auto).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["headers.Auto-Submitted"], "{body}");
    let not_a_string = with_headers(json!({"X-Count": 3}));
    problem(
        env.post(&key, "/v1/messages", not_a_string).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let three = hops(3);
    let id = env
        .send(
            &key,
            with_headers(json!({
                "Received": three,
                "Auto-Submitted": "auto-generated",
                "X-Campaign": "spring"
            })),
        )
        .await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    let received = env.sink.messages();
    assert_eq!(received.len(), 1, "only the valid message was sent");
    let parsed = headers(&received[0].data);
    let traces: Vec<&str> = parsed
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Received"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(traces, three, "all three, in the order given");
    let first = parsed
        .iter()
        .find(|(n, _)| !n.eq_ignore_ascii_case("DKIM-Signature"))
        .unwrap();
    assert_eq!(
        first.0, "Received",
        "trace fields lead the header: {parsed:?}"
    );
    assert_eq!(header(&parsed, "Auto-Submitted"), Some("auto-generated"));
    assert_eq!(header(&parsed, "X-Campaign"), Some("spring"));
    let signature = header(&parsed, "DKIM-Signature").unwrap();
    let signed: String = signature.split_whitespace().collect();
    assert!(
        signed.to_ascii_lowercase().contains("auto-submitted"),
        "Auto-Submitted is signed: {signature}"
    );
    let (txt, name) = domain_dkim_record(&env, &key, "acme.test").await;
    assert_eq!(dkim_verify(&received[0].data, &txt, &name), "PASS");
    env.stop().await;
}
