//! Reading messages back (accepting them is in `intake`).

use std::collections::{BTreeMap, HashMap, HashSet};

use sluice_model::{
    MessageEvent, MessageId, MessageStatus, MessageStream, MessageView, OutboundMessage,
    RecipientKind, RecipientState, RecipientStatus, TenantId,
};
use time::OffsetDateTime;

use crate::{Store, StoreError, from_ms, keys};

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

pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    // Serialising these plain data types cannot fail (string keys, no custom impls that error).
    serde_json::to_string(value).unwrap_or_default()
}

impl Store {
    /// The message as its tenant sees it; `None` when it does not exist, has expired,
    /// or belongs to another tenant (indistinguishable on purpose).
    pub async fn get_message(
        &self,
        tenant: &TenantId,
        id: &MessageId,
    ) -> Result<Option<MessageView>, StoreError> {
        let Some(p) = self.locate(id).await? else {
            return Ok(None);
        };
        let key = keys::message(p, id);
        let (fields, events): (HashMap<String, String>, Vec<String>) = redis::pipe()
            .hgetall(&key)
            .lrange(keys::message_events(p, id), 0, -1)
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
        "cancelled" => MessageStatus::Cancelled,
        _ => return None,
    })
}
