//! Asynchronous bounces, complaints and unsubscribes, end to end: messages go out with
//! a VERP return path; real-world DSN and ARF shapes (the golden fixtures of
//! sluice-wire) are sent back over SMTP to Sluice's inbound listener and become
//! events on the original message; bulk mail carries a signed one-click unsubscribe.
#![allow(clippy::unwrap_used)]

use crate::bounce_support;
use crate::common;

use std::time::Duration;

use bounce_support::{
    BOUNCE_DOMAIN, delivered, fixture, inbound, inject, rewrite, wait_for_event,
    wait_for_suppression,
};
use common::{TestEnv, domain_dkim_record, simple_message};

#[tokio::test]
async fn dsns_in_real_world_shapes_bounce_or_defer_the_recipient() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    // (fixture, its recipient, event, DSN status, bounce type and class, new status)
    let cases = [
        (
            "dsn-postfix-user-unknown.eml",
            "nobody@example.org",
            "message.bounced",
            "5.1.1",
            Some(("hard", "bad-mailbox")),
            "bounced",
        ),
        (
            "dsn-gmail-address-not-found.eml",
            "nobody@example.org",
            "message.bounced",
            "5.1.1",
            Some(("hard", "bad-mailbox")),
            "bounced",
        ),
        (
            "dsn-exim-no-such-user.eml",
            "ghost@example.net",
            "message.bounced",
            "5.0.0",
            Some(("hard", "bad-mailbox")),
            "bounced",
        ),
        (
            "dsn-mailbox-full.eml",
            "full@example.net",
            "message.bounced",
            "5.2.2",
            Some(("soft", "mailbox-full")),
            "bounced",
        ),
        (
            "dsn-sendmail-delayed.eml",
            "slow@example.org",
            "message.deferred",
            "4.4.7",
            None,
            "delivered",
        ),
    ];
    for (i, (name, fixture_rcpt, kind, status, bounce, recipient_status)) in
        cases.into_iter().enumerate()
    {
        let to = format!("user{i}@example.org");
        let (id, _, verp) = delivered(&env, &key, &to, "transactional").await;
        assert!(
            verp.starts_with("bounces+") && verp.ends_with(&format!("@{BOUNCE_DOMAIN}")),
            "the envelope sender is a VERP address: {verp}"
        );
        let dsn = rewrite(&fixture(name), &verp, fixture_rcpt, &to);
        let replies = inject(inbound(&env), &verp, &dsn).await;
        assert!(replies[5].starts_with("250"), "{name}: {replies:?}");
        let event = wait_for_event(&env, &key, &id, kind).await;
        assert_eq!(event["recipient"], to.as_str(), "{name}: {event:#}");
        assert_eq!(event["dsn_status"], status, "{name}: {event:#}");
        if let Some((bounce_type, class)) = bounce {
            assert_eq!(event["bounce"]["type"], bounce_type, "{name}: {event:#}");
            assert_eq!(event["bounce"]["class"], class, "{name}: {event:#}");
        }
        let view = env.message(&key, &id).await;
        assert_eq!(
            view["recipients"][0]["status"], recipient_status,
            "{name}: {view:#}"
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn a_forwarded_recipients_bounce_is_tied_back_by_the_token() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    // Microsoft 365's NDR, returned for a message whose one recipient was forwarded:
    // the DSN names an address Sluice never sent to, the token names the recipient.
    let (id, _, verp) = delivered(&env, &key, "ann@example.com", "transactional").await;
    let ndr = rewrite(
        &fixture("dsn-microsoft365-recipient-not-found.eml"),
        &verp,
        "@example.com",
        "@forwarded.example.net",
    );
    let replies = inject(inbound(&env), &verp, &ndr).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let bounce = wait_for_event(&env, &key, &id, "message.bounced").await;
    assert_eq!(bounce["recipient"], "ann@example.com", "{bounce:#}");
    assert_eq!(bounce["dsn_status"], "5.1.10");
    env.stop().await;
}

#[tokio::test]
async fn a_dsn_for_a_shared_transaction_bounces_only_the_recipient_it_names() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let mut body = simple_message("jane@example.org");
    body["to"] = serde_json::json!(["jane@example.org", "joe@example.org"]);
    let id = env.send(&key, body).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    let received = env.sink.messages().pop().unwrap();
    assert_eq!(received.rcpt_to.len(), 2, "one transaction for both");
    let verp = received.mail_from;
    let dsn = rewrite(
        &fixture("dsn-postfix-user-unknown.eml"),
        &verp,
        "nobody@example.org",
        "joe@example.org",
    );
    let replies = inject(inbound(&env), &verp, &dsn).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let bounce = wait_for_event(&env, &key, &id, "message.bounced").await;
    assert_eq!(bounce["recipient"], "joe@example.org");
    let view = env.message(&key, &id).await;
    let status = |address: &str| {
        view["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("jane@example.org"), "delivered");
    assert_eq!(status("joe@example.org"), "bounced");
    env.stop().await;
}

#[tokio::test]
async fn a_complaint_report_is_a_complained_event() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let (id, _, verp) = delivered(&env, &key, "reader@example.org", "bulk").await;
    let arf = rewrite(
        &fixture("arf-yahoo-abuse.eml"),
        &verp,
        "reader@example.org",
        "reader@example.org",
    );
    // Feedback loops send to their registered address; the token is in the report.
    let postmaster = format!("abuse@{BOUNCE_DOMAIN}");
    let replies = inject(inbound(&env), &postmaster, &arf).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let complaint = wait_for_event(&env, &key, &id, "message.complained").await;
    assert_eq!(complaint["recipient"], "reader@example.org");
    assert_eq!(complaint["feedback_type"], "abuse");
    let view = env.message(&key, &id).await;
    assert_eq!(
        view["recipients"][0]["status"], "delivered",
        "a complaint does not undo the delivery"
    );
    let suppressed = wait_for_suppression(&env, &key, "reader@example.org").await;
    assert_eq!(suppressed["reason"], "complaint", "{suppressed:#}");
    env.stop().await;
}

#[tokio::test]
async fn the_listener_is_no_open_relay_and_drops_what_it_cannot_use() {
    let env = TestEnv::start().await;
    let replies = inject(inbound(&env), "someone@example.com", "Subject: hi\n\nhello").await;
    assert!(replies[3].starts_with("550"), "{replies:?}");
    let replies = inject(
        inbound(&env),
        &format!("nobody@{BOUNCE_DOMAIN}"),
        "Subject: hi\n\nhello",
    )
    .await;
    assert!(replies[3].starts_with("550"), "{replies:?}");
    // A forged token is accepted (never bounce a bounce) and changes nothing.
    let forged = format!("bounces+01jd4k5q8z6y2x1w0v9t8s7r6p-0-00000000@{BOUNCE_DOMAIN}");
    let dsn = rewrite(
        &fixture("dsn-postfix-user-unknown.eml"),
        &forged,
        "nobody@example.org",
        "nobody@example.org",
    );
    let replies = inject(inbound(&env), &forged, &dsn).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    env.stop().await;
}

fn header(data: &[u8], name: &str) -> Option<String> {
    common::header(&common::headers(data), name).map(str::to_string)
}

#[tokio::test]
async fn bulk_mail_carries_a_signed_one_click_unsubscribe() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let (id, data, _) = delivered(&env, &key, "fan@example.org", "bulk").await;
    let list = header(&data, "List-Unsubscribe").expect("List-Unsubscribe on bulk mail");
    assert_eq!(
        header(&data, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let signature = header(&data, "DKIM-Signature")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        signature.contains("list-unsubscribe:list-unsubscribe-post")
            || (signature.contains("list-unsubscribe")
                && signature.contains("list-unsubscribe-post")),
        "both headers are signed: {signature}"
    );
    let (txt, name) = domain_dkim_record(&env, &key, "acme.test").await;
    assert_eq!(common::dkim_verify(&data, &txt, &name), "PASS");

    let url = list
        .split(['<', '>'])
        .find(|p| p.starts_with("http"))
        .unwrap()
        .to_string();
    let mailto = list
        .split(['<', '>'])
        .find(|p| p.starts_with("mailto:"))
        .unwrap()
        .to_string();
    assert!(url.starts_with(&env.url("/v1/unsubscribe/")), "{url}");
    assert!(mailto.contains(&format!("@{BOUNCE_DOMAIN}")), "{mailto}");

    // Opening the link (or a scanner following it) changes nothing.
    let page = env.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    let view = env.message(&key, &id).await;
    assert!(
        !view["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "message.unsubscribed")
    );
    // The one-click POST (RFC 8058) unsubscribes.
    let click = env
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(click.status(), reqwest::StatusCode::OK);
    let event = wait_for_event(&env, &key, &id, "message.unsubscribed").await;
    assert_eq!(event["recipient"], "fan@example.org");
    let suppressed = wait_for_suppression(&env, &key, "fan@example.org").await;
    assert_eq!(suppressed["reason"], "unsubscribe", "{suppressed:#}");
    // A tampered token is refused.
    let last = if url.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &url[..url.len() - 1]);
    let refused = env.http.post(&forged).send().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );

    // The mailto of another bulk message unsubscribes through the inbound listener.
    let (other, data, _) = delivered(&env, &key, "pal@example.org", "bulk").await;
    let list = header(&data, "List-Unsubscribe").unwrap();
    let address = list
        .split(['<', '>'])
        .find_map(|p| p.strip_prefix("mailto:"))
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let replies = inject(
        inbound(&env),
        &address,
        "Subject: unsubscribe\n\nunsubscribe",
    )
    .await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let event = wait_for_event(&env, &key, &other, "message.unsubscribed").await;
    assert_eq!(event["recipient"], "pal@example.org");

    // Transactional mail carries no unsubscribe headers.
    let (_, data, _) = delivered(&env, &key, "otp@example.org", "transactional").await;
    assert_eq!(header(&data, "List-Unsubscribe"), None);
    env.stop().await;
}
