//! Message templates end to end: created and versioned through the API, rendered at
//! accept time, delivered to the SMTP sink with HTML escaping in the HTML part only;
//! and every way a templated send can be wrong refused with a 422 that queues nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use mail_parser::MessageParser;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use common::{TestEnv, fields, problem};

async fn put(env: &TestEnv, key: &str, path: &str, body: Value) -> Response {
    env.http
        .put(env.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(env: &TestEnv, key: &str, path: &str) -> Response {
    env.http
        .delete(env.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// Creates a template and returns its id, asserting the 201.
async fn create(env: &TestEnv, key: &str, body: Value) -> String {
    let response = env.post(key, "/v1/templates", body).await;
    let status = response.status();
    let location = response.headers().get("location").cloned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("tpl_"), "{id}");
    assert_eq!(body["version"], 1);
    assert_eq!(location.unwrap(), format!("/v1/templates/{id}").as_str());
    id
}

fn templated(template_id: &str, data: Value) -> Value {
    json!({
        "from": "Acme <noreply@acme.test>",
        "to": ["jane@example.com"],
        "template_id": template_id,
        "template_data": data,
    })
}

/// The subject, text and HTML of every message the sink received.
fn delivered(env: &TestEnv) -> Vec<(String, String, String)> {
    env.sink
        .messages()
        .iter()
        .map(|m| {
            let parsed = MessageParser::default().parse(&m.data[..]).unwrap();
            (
                parsed.subject().unwrap_or_default().to_string(),
                parsed
                    .body_text(0)
                    .unwrap_or_default()
                    .replace("\r\n", "\n")
                    .trim_end()
                    .to_string(),
                parsed
                    .body_html(0)
                    .unwrap_or_default()
                    .trim_end()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_template_is_rendered_into_the_delivered_message() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let id = create(
        &env,
        &key,
        json!({
            "name": "sign-in code",
            "subject": "Hi {{ name }}, your code",
            "text": "Hello {{ name }},\nyour code is {{ code }}.",
            "html": "<p>Hello {{ name }},</p><p>your code is <b>{{ code }}</b>.</p>"
        }),
    )
    .await;

    let sent = env
        .send(
            &key,
            templated(
                &id,
                json!({"name": "<script>Jo & Co</script>", "code": "123456"}),
            ),
        )
        .await;
    let view = env
        .wait_for_status(&key, &sent, "delivered", Duration::from_secs(20))
        .await;
    assert_eq!(view["subject"], "Hi <script>Jo & Co</script>, your code");

    let messages = delivered(&env);
    assert_eq!(messages.len(), 1);
    let (subject, text, html) = &messages[0];
    assert_eq!(subject, "Hi <script>Jo & Co</script>, your code");
    assert_eq!(
        text,
        "Hello <script>Jo & Co</script>,\nyour code is 123456."
    );
    assert!(
        html.contains("<p>Hello &lt;script&gt;Jo &amp; Co&lt;&#x2f;script&gt;,</p>"),
        "the value is escaped in HTML: {html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("<b>123456</b>"), "{html}");

    // Reads: the template itself and the listing.
    let shown: Value = env
        .get(&key, &format!("/v1/templates/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["name"], "sign-in code");
    assert_eq!(shown["subject"], "Hi {{ name }}, your code");
    assert_eq!(shown["latest_version"], 1);
    let list: Value = env.get(&key, "/v1/templates").await.json().await.unwrap();
    assert_eq!(list["templates"][0]["id"], id.as_str());
    assert!(list["templates"][0].get("html").is_none(), "{list}");
    env.stop().await;
}

#[tokio::test]
async fn updates_make_versions_and_a_send_can_pin_one() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let id = create(
        &env,
        &key,
        json!({"name": "news", "subject": "v1 {{ n }}", "text": "one {{ n }}"}),
    )
    .await;
    let path = format!("/v1/templates/{id}");
    let updated = put(
        &env,
        &key,
        &path,
        json!({"name": "news!", "subject": "v2 {{ n }}", "html": "<p>two {{ n }}</p>"}),
    )
    .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["latest_version"], 2);
    assert_eq!(updated["name"], "news!");

    let old: Value = env
        .get(&key, &format!("{path}?version=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["version"], 1);
    assert_eq!(old["latest_version"], 2);
    assert_eq!(old["subject"], "v1 {{ n }}");
    assert_eq!(old["text"], "one {{ n }}");
    let missing = env.get(&key, &format!("{path}?version=3")).await;
    problem(missing, StatusCode::NOT_FOUND).await;
    let bad = env.get(&key, &format!("{path}?version=zero")).await;
    assert_eq!(
        fields(&problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["version"]
    );

    let mut pinned = templated(&id, json!({"n": 7}));
    pinned["template_version"] = json!(1);
    let first = env.send(&key, pinned).await;
    let latest = env.send(&key, templated(&id, json!({"n": 8}))).await;
    for sent in [&first, &latest] {
        env.wait_for_status(&key, sent, "delivered", Duration::from_secs(20))
            .await;
    }
    let mut messages = delivered(&env);
    messages.sort();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[0].0.as_str(), messages[0].1.as_str()),
        ("v1 7", "one 7")
    );
    assert_eq!(
        (messages[1].0.as_str(), messages[1].2.as_str()),
        ("v2 8", "<p>two 8</p>")
    );

    let mut unknown_version = templated(&id, json!({"n": 9}));
    unknown_version["template_version"] = json!(3);
    let refused = env.post(&key, "/v1/messages", unknown_version).await;
    assert_eq!(
        fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["template_version"]
    );

    // Only the last 50 versions are kept: at version 51, version 1 is gone.
    for n in 3..=51 {
        let response = put(
            &env,
            &key,
            &path,
            json!({"name": "news", "subject": format!("v{n}"), "text": "x"}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let gone = env.get(&key, &format!("{path}?version=1")).await;
    problem(gone, StatusCode::NOT_FOUND).await;
    let kept: Value = env
        .get(&key, &format!("{path}?version=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["subject"], "v2 {{ n }}");
    assert_eq!(kept["latest_version"], 51);
    env.stop().await;
}

#[tokio::test]
async fn bad_templates_and_bad_templated_sends_are_refused_and_queue_nothing() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;

    // Syntax is checked when saved; the error names the field and the line.
    let broken = env
        .post(
            &key,
            "/v1/templates",
            json!({"name": "x", "subject": "ok", "html": "<p>fine</p>\n<p>{{ name }</p>"}),
        )
        .await;
    let body = problem(broken, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(fields(&body), ["html"]);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("line 2"), "{message}");
    let empty = env
        .post(&key, "/v1/templates", json!({"subject": "s"}))
        .await;
    assert_eq!(
        fields(&problem(empty, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["name", "text"]
    );

    let id = create(
        &env,
        &key,
        json!({"name": "code", "subject": "Code {{ code }}", "text": "Hi {{ user.name }}: {{ code }}"}),
    )
    .await;
    let bad_update = put(
        &env,
        &key,
        &format!("/v1/templates/{id}"),
        json!({"name": "code", "subject": "{% if %}", "text": "x"}),
    )
    .await;
    assert_eq!(
        fields(&problem(bad_update, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["subject"]
    );

    let refuse = |body: Value| async {
        let response = env.post(&key, "/v1/messages", body).await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(body.get("id").is_none(), "{body}");
        body
    };

    // A variable missing from template_data: refused at accept time, naming it.
    let body = refuse(templated(&id, json!({"code": "1"}))).await;
    assert_eq!(fields(&body), ["template_data"]);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("`user`"), "{message}");

    // Subject (or a body) given with a template, and other bad fields, all at once.
    let mut with_subject = templated(&id, json!({"code": "1", "user": {"name": "J"}}));
    with_subject["subject"] = json!("mine");
    with_subject["to"] = json!(["not an address"]);
    assert_eq!(fields(&refuse(with_subject).await), ["subject", "to[0]"]);

    // Template fields without a template.
    let mut stray = common::simple_message("jane@example.com");
    stray["template_data"] = json!({"code": "1"});
    assert_eq!(fields(&refuse(stray).await), ["template_data"]);

    // An unknown id, a malformed one, and another tenant's template.
    let unknown = "tpl_01jdx8k3m5n6p7q8r9s0t1v2w3";
    assert_eq!(
        fields(&refuse(templated(unknown, json!({}))).await),
        ["template_id"]
    );
    assert_eq!(
        fields(&refuse(templated("welcome", json!({}))).await),
        ["template_id"]
    );
    let other_key = env.ready_tenant().await;
    let theirs = create(
        &env,
        &other_key,
        json!({"name": "theirs", "subject": "s", "text": "t"}),
    )
    .await;
    assert_eq!(
        fields(&refuse(templated(&theirs, json!({}))).await),
        ["template_id"]
    );
    let path = format!("/v1/templates/{theirs}");
    problem(env.get(&key, &path).await, StatusCode::NOT_FOUND).await;
    let overwrite = put(
        &env,
        &key,
        &path,
        json!({"name": "n", "subject": "s", "text": "t"}),
    )
    .await;
    problem(overwrite, StatusCode::NOT_FOUND).await;
    problem(delete(&env, &key, &path).await, StatusCode::NOT_FOUND).await;
    let still: Value = env.get(&other_key, &path).await.json().await.unwrap();
    assert_eq!(
        still["latest_version"], 1,
        "the other tenant's template is untouched"
    );

    // Scopes: reading needs `read`, writing `admin`.
    let (_, reader) = env.tenant_with_key(&["read", "send"]).await;
    problem(
        env.post(
            &reader,
            "/v1/templates",
            json!({"name": "n", "subject": "s", "text": "t"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        env.get(&reader, "/v1/templates").await.status(),
        StatusCode::OK
    );

    // Deleted: gone from reads and refused in sends.
    let deleted = delete(&env, &key, &format!("/v1/templates/{id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    problem(
        env.get(&key, &format!("/v1/templates/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let after_delete = templated(&id, json!({"code": "1", "user": {"name": "J"}}));
    assert_eq!(fields(&refuse(after_delete).await), ["template_id"]);

    // Nothing above reached the queue: the one good send is the only delivery.
    let good = create(
        &env,
        &key,
        json!({"name": "ok", "subject": "ok", "text": "fine"}),
    )
    .await;
    let sent = env.send(&key, templated(&good, json!({}))).await;
    env.wait_for_status(&key, &sent, "delivered", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sink.count(), 1);
    assert_eq!(delivered(&env)[0].0, "ok");
    env.stop().await;
}
