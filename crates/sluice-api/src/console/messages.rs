//! The tenant's activity (`/console/messages?q=`) and one message's page.
//!
//! There is no message index: the activity list is read from the tenant's event feed
//! (`Store::list_events`, the feed behind `GET /v1/events`), newest first. Without a
//! search it lists each message's `message.accepted` / `message.scheduled` event (one
//! row per message); a search filters the feed by recipient, tag or event type. Each
//! page reads a bounded stretch of the feed (the store's scan budget): when the budget
//! runs out before the page is full, the page says so and offers to read on. Each row
//! then shows the message as it stands now (`Store::get_message`, what
//! `GET /v1/messages/{id}` reads).

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_model::{EventType, MessageEvent, MessageId, MessageStatus, MessageView, Scope};
use sluice_store::EventFilter;

use super::session::{ConsoleAuth, ConsolePost, NoFields};
use super::{ConsoleError, view};
use crate::AppState;
use crate::extract::PathId;

/// Rows per page.
const PAGE: usize = 25;

#[derive(Deserialize)]
pub struct ActivityQuery {
    q: Option<String>,
    cursor: Option<String>,
}

/// What a search box entry means.
#[derive(Debug, PartialEq)]
enum Search {
    All,
    Message(MessageId),
    Recipient(String),
    Tag(String),
    Event(EventType),
}

fn event_of_status(word: &str) -> Option<EventType> {
    let word = word.trim().to_ascii_lowercase();
    let word = word.strip_prefix("message.").unwrap_or(&word);
    Some(match word {
        "queued" | "accepted" => EventType::Accepted,
        "scheduled" => EventType::Scheduled,
        "delivered" => EventType::Delivered,
        "deferred" => EventType::Deferred,
        "bounced" => EventType::Bounced,
        "complained" => EventType::Complained,
        "suppressed" => EventType::Suppressed,
        "failed" => EventType::Failed,
        "unsubscribed" => EventType::Unsubscribed,
        "cancelled" => EventType::Cancelled,
        _ => return None,
    })
}

/// `msg_…` is a message id, `…@…` (or `to:…`) a recipient, a status word (or
/// `status:…`) the messages with that event, anything else (or `tag:…`) a tag.
fn parse_search(q: &str) -> Search {
    let q = q.trim();
    if q.is_empty() {
        return Search::All;
    }
    if let Some(tag) = q.strip_prefix("tag:") {
        return Search::Tag(tag.trim().to_string());
    }
    if let Some(to) = q.strip_prefix("to:") {
        return Search::Recipient(to.trim().to_string());
    }
    if let Some(status) = q.strip_prefix("status:") {
        return event_of_status(status).map_or(Search::Tag(q.to_string()), Search::Event);
    }
    if let Ok(id) = MessageId::parse(q) {
        return Search::Message(id);
    }
    if q.contains('@') {
        return Search::Recipient(q.to_string());
    }
    event_of_status(q).map_or_else(|| Search::Tag(q.to_string()), Search::Event)
}

fn describe(search: &Search) -> String {
    match search {
        Search::All => "every message, newest first".into(),
        Search::Message(id) => format!("message {id}"),
        Search::Recipient(r) => format!("messages with events for recipient {r}"),
        Search::Tag(t) => format!("messages tagged {t}"),
        Search::Event(e) => format!("messages with a {} event", e.as_str()),
    }
}

/// `GET /console/messages?q=&cursor=`.
pub async fn activity(
    auth: ConsoleAuth,
    State(state): State<AppState>,
    Query(query): Query<ActivityQuery>,
) -> Result<Response, ConsoleError> {
    let tenant = auth.require(Scope::Read)?.tenant_id.clone();
    let q = query.q.unwrap_or_default();
    let search = parse_search(&q);
    if let Search::Message(id) = &search {
        return Ok(Redirect::to(&format!("/console/messages/{id}")).into_response());
    }
    let accepted = vec![EventType::Accepted, EventType::Scheduled];
    let filter = match &search {
        Search::Recipient(r) => EventFilter {
            recipient: Some(r.clone()),
            ..EventFilter::default()
        },
        Search::Tag(t) => EventFilter {
            types: accepted,
            tag: Some(t.clone()),
            ..EventFilter::default()
        },
        Search::Event(kind) => EventFilter {
            types: vec![*kind],
            ..EventFilter::default()
        },
        Search::All | Search::Message(_) => EventFilter {
            types: accepted,
            ..EventFilter::default()
        },
    };
    let cursor = query
        .cursor
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit() || b == b'-'));
    let page = state
        .store
        .list_events(&tenant, &filter, cursor.as_deref(), PAGE)
        .await?;
    let scan_limited = page.events.len() < PAGE && page.next_cursor.is_some();
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for event in &page.events {
        let Some(id) = &event.message_id else {
            continue;
        };
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(message) = state.store.get_message(&tenant, id).await? else {
            continue;
        };
        rows.push(json!({
            "id": id.as_str(),
            "at": view::when(event.event.timestamp),
            "event": event.event.kind.as_str(),
            "status": message.status.as_str(),
            "from": message.from,
            "subject": message.subject,
            "to": message.recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(),
            "tags": message.tags,
        }));
    }
    let first_page = search == Search::All && cursor.is_none();
    let charts = if first_page {
        super::chart::both(&state, Some(&tenant)).await?
    } else {
        Vec::new()
    };
    let next = page
        .next_cursor
        .map(|c| format!("/console/messages?q={}&cursor={c}", encode(&q)));
    Ok(view::page(
        "messages.html",
        &json!({
            "title": "Activity",
            "nav": auth.nav("messages"),
            "q": q,
            "described": describe(&search),
            "rows": rows,
            "next": next,
            "scan_limited": scan_limited,
            "charts": charts,
        }),
    )?
    .into_response())
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn event_row(event: &MessageEvent) -> Value {
    json!({
        "type": event.kind.as_str(),
        "at": view::when(event.timestamp),
        "recipient": event.recipient,
        "reply": event.smtp_reply.as_ref().map(ToString::to_string),
        "detail": event.detail,
        "bounce": event.bounce.map(|b| format!("{:?} / {:?}", b.kind, b.class).to_lowercase()),
        "dsn": event.dsn_status,
    })
}

fn cancellable(message: &MessageView) -> bool {
    matches!(
        message.status,
        MessageStatus::Queued | MessageStatus::Scheduled | MessageStatus::Deferred
    )
}

/// `GET /console/messages/{id}`: 404 unless it is this tenant's.
pub async fn message(
    auth: ConsoleAuth,
    State(state): State<AppState>,
    Path(segment): Path<String>,
) -> Result<Response, ConsoleError> {
    let tenant = &auth.require(Scope::Read)?.tenant_id;
    let id = PathId::<MessageId>::from_segment(&segment)?;
    let message = state
        .store
        .get_message(tenant, &id)
        .await?
        .ok_or_else(|| id.not_found())?;
    let recipients: Vec<Value> = message
        .recipients
        .iter()
        .map(|r| {
            json!({
                "address": r.address,
                "kind": format!("{:?}", r.kind).to_lowercase(),
                "status": serde_json::to_value(r.status).unwrap_or_default(),
                "reply": r.smtp_reply.as_ref().map(ToString::to_string),
                "attempts": r.attempts,
                "at": view::when(r.updated_at),
            })
        })
        .collect();
    Ok(view::page(
        "message.html",
        &json!({
            "title": format!("Message {}", message.id),
            "nav": auth.nav("messages"),
            "m": {
                "id": message.id.as_str(),
                "status": message.status.as_str(),
                "stream": message.stream.as_str(),
                "from": message.from,
                "subject": message.subject,
                "header": message.message_id_header,
                "tags": message.tags,
                "metadata": message.metadata,
                "attempts": message.attempts,
                "created": view::when(message.created_at),
                "updated": view::when(message.updated_at),
                "next": message.next_attempt_at.map(view::when),
            },
            "recipients": recipients,
            "events": message.events.iter().map(event_row).collect::<Vec<_>>(),
            "can_cancel": cancellable(&message),
            "may_send": auth.has(Scope::Send),
            "csrf": auth.csrf,
        }),
    )?
    .into_response())
}

/// `POST /console/messages/{id}/cancel`: the API's cancel (scope `send`).
pub async fn cancel(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    post: ConsolePost<NoFields>,
) -> Result<Response, ConsoleError> {
    let tenant = post.auth.require(Scope::Send)?.tenant_id.clone();
    let id = PathId::<MessageId>::from_segment(&segment)?;
    crate::routes::messages::cancel(&state, &tenant, &id).await?;
    Ok(Redirect::to(&format!("/console/messages/{}", *id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_are_told_apart() {
        assert_eq!(parse_search("  "), Search::All);
        assert_eq!(
            parse_search("Jane@Example.com"),
            Search::Recipient("Jane@Example.com".into())
        );
        assert_eq!(parse_search("bounced"), Search::Event(EventType::Bounced));
        assert_eq!(parse_search("queued"), Search::Event(EventType::Accepted));
        assert_eq!(
            parse_search("status:delivered"),
            Search::Event(EventType::Delivered)
        );
        assert_eq!(parse_search("welcome"), Search::Tag("welcome".into()));
        assert_eq!(parse_search("tag:bounced"), Search::Tag("bounced".into()));
        let id = MessageId::generate();
        assert_eq!(parse_search(id.as_str()), Search::Message(id));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("a b&c@d"), "a%20b%26c%40d");
    }
}
