//! Accepting messages and reading them back.

use std::collections::{BTreeMap, HashMap, HashSet};

use sluice_model::{
    EventType, MessageEvent, MessageId, MessageStatus, MessageStream, MessageView, OutboundMessage,
    RecipientKind, RecipientState, RecipientStatus, TenantId,
};
use time::OffsetDateTime;

use crate::tenants::hash_secret;
use crate::{Store, StoreError, from_ms, keys, scripts, to_ms};

pub struct NewMessage<'a> {
    pub tenant: &'a TenantId,
    pub id: &'a MessageId,
    pub message: &'a OutboundMessage,
    /// The `Message-ID` header value, angle brackets included.
    pub message_id_header: &'a str,
    /// `(Idempotency-Key, fingerprint of the request body)`.
    pub idempotency: Option<(&'a str, &'a str)>,
    pub now: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptOutcome {
    Created {
        id: MessageId,
        status: MessageStatus,
    },
    /// Same Idempotency-Key and same body: the first response, again.
    Replayed {
        id: MessageId,
        status: MessageStatus,
    },
    /// Same Idempotency-Key, different body.
    Conflict { id: MessageId },
}

/// The recipients' starting state: to, cc, then bcc, each address once.
pub fn initial_recipients(message: &OutboundMessage, now: OffsetDateTime) -> Vec<RecipientState> {
    let mut seen = HashSet::new();
    let kinds = [
        (RecipientKind::To, &message.to),
        (RecipientKind::Cc, &message.cc),
        (RecipientKind::Bcc, &message.bcc),
    ];
    kinds
        .into_iter()
        .flat_map(|(kind, list)| list.iter().map(move |m| (kind, m)))
        .filter(|(_, m)| seen.insert(m.address.to_string().to_lowercase()))
        .map(|(kind, m)| RecipientState {
            address: m.address.to_string(),
            kind,
            status: RecipientStatus::Queued,
            smtp_reply: None,
            attempts: 0,
            updated_at: now,
        })
        .collect()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // Serialising these plain data types cannot fail (string keys, no custom impls that error).
    serde_json::to_string(value).unwrap_or_default()
}

impl Store {
    pub async fn accept_message(&self, new: NewMessage<'_>) -> Result<AcceptOutcome, StoreError> {
        let message = new.message;
        let status = if message.send_at.is_some() {
            MessageStatus::Scheduled
        } else {
            MessageStatus::Queued
        };
        let now_ms = to_ms(new.now);
        let due = message
            .send_at
            .map(|at| to_ms(at).to_string())
            .unwrap_or_default();
        let queue_key = if message.send_at.is_some() {
            keys::delayed()
        } else {
            keys::stream(message.stream)
        };
        let (idem_key, fingerprint) = match new.idempotency {
            Some((key, fingerprint)) => (
                keys::idempotency(new.tenant, &hash_secret(key)),
                fingerprint,
            ),
            None => (keys::idempotency(new.tenant, "-"), ""),
        };
        let mut event = MessageEvent::new(EventType::Accepted, new.now);
        if message.send_at.is_some() {
            event = MessageEvent::new(EventType::Scheduled, new.now)
                .detail(format!("send at {due} (unix ms)"));
        }
        let recipients = initial_recipients(message, new.now);
        // Retention counts from the last change; until then, keep the record long
        // enough to outlive the retry horizon of any schedule.
        let ttl_ms =
            self.retention.as_millis() as i64 + message.send_at.map_or(0, |at| to_ms(at) - now_ms);
        let fields: Vec<(&str, String)> = vec![
            ("tenant", new.tenant.to_string()),
            ("stream", message.stream.as_str().to_string()),
            ("status", status.as_str().to_string()),
            ("body", json(message)),
            ("from", message.from.to_string()),
            ("subject", message.subject.clone()),
            ("recipients", json(&recipients)),
            ("attempts", "0".into()),
            ("created_at", now_ms.to_string()),
            ("updated_at", now_ms.to_string()),
            ("next_attempt_at", due.clone()),
            ("message_id_header", new.message_id_header.to_string()),
            ("tags", json(&message.tags)),
            ("metadata", json(&message.metadata)),
        ];
        let reply: Vec<String> = scripts::ACCEPT
            .key(idem_key)
            .key(keys::message(new.id))
            .key(keys::message_events(new.id))
            .key(queue_key)
            .key(keys::event_stream())
            .arg(if new.idempotency.is_some() { "1" } else { "0" })
            .arg(fingerprint)
            .arg(new.id.as_str())
            .arg(status.as_str())
            .arg(&due)
            .arg(keys::delayed_member(message.stream, new.id))
            .arg(ttl_ms)
            .arg(json(&event))
            .arg(&fields)
            .invoke_async(&mut self.conn())
            .await?;
        let corrupt = |why: &str| StoreError::corrupt("accept reply", why);
        let [outcome, id, status] = reply.as_slice() else {
            return Err(corrupt("shape"));
        };
        let id = MessageId::parse(id).map_err(|_| corrupt("id"))?;
        let status = parse_status(status).ok_or_else(|| corrupt("status"))?;
        Ok(match outcome.as_str() {
            "created" => AcceptOutcome::Created { id, status },
            "replayed" => AcceptOutcome::Replayed { id, status },
            _ => AcceptOutcome::Conflict { id },
        })
    }

    /// The message as its tenant sees it; `None` when it does not exist, has expired,
    /// or belongs to another tenant (indistinguishable on purpose).
    pub async fn get_message(
        &self,
        tenant: &TenantId,
        id: &MessageId,
    ) -> Result<Option<MessageView>, StoreError> {
        let key = keys::message(id);
        let (fields, events): (HashMap<String, String>, Vec<String>) = redis::pipe()
            .hgetall(&key)
            .lrange(keys::message_events(id), 0, -1)
            .query_async(&mut self.conn())
            .await?;
        if fields.get("tenant").map(String::as_str) != Some(tenant.as_str()) {
            return Ok(None);
        }
        let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok());
        let recipients: Vec<RecipientState> = parse_json(&key, &text("recipients"))?;
        let tags: Vec<String> = parse_json(&key, &text("tags"))?;
        let metadata: BTreeMap<String, String> = parse_json(&key, &text("metadata"))?;
        let events = events
            .iter()
            .filter_map(|e| serde_json::from_str::<MessageEvent>(e).ok())
            .collect();
        Ok(Some(MessageView {
            id: id.clone(),
            status: parse_status(&text("status"))
                .ok_or_else(|| StoreError::corrupt(&key, "status"))?,
            stream: MessageStream::parse(&text("stream")).unwrap_or_default(),
            from: text("from"),
            subject: text("subject"),
            message_id_header: text("message_id_header"),
            recipients,
            tags,
            metadata,
            attempts: number("attempts").unwrap_or_default() as u32,
            created_at: from_ms(number("created_at").unwrap_or_default()),
            updated_at: from_ms(number("updated_at").unwrap_or_default()),
            next_attempt_at: number("next_attempt_at").map(from_ms),
            events,
        }))
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(key, e))
}

pub(crate) fn parse_status(value: &str) -> Option<MessageStatus> {
    Some(match value {
        "queued" => MessageStatus::Queued,
        "scheduled" => MessageStatus::Scheduled,
        "deferred" => MessageStatus::Deferred,
        "delivered" => MessageStatus::Delivered,
        "bounced" => MessageStatus::Bounced,
        "failed" => MessageStatus::Failed,
        "suppressed" => MessageStatus::Suppressed,
        _ => return None,
    })
}
