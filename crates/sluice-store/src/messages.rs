//! Reading messages back (accepting them is in `intake`).

use std::collections::{BTreeMap, HashMap, HashSet};

use sluice_model::{
    MessageEvent, MessageId, MessageStatus, MessageStream, MessageView, OutboundMessage,
    RecipientKind, RecipientState, RecipientStatus, TenantId,
};
use time::OffsetDateTime;

use crate::keys::{self, msg};
use crate::{Store, StoreError, from_ms};

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
        // Every field but the body (binary, and not part of the view).
        let (values, events): (Vec<Option<String>>, Vec<String>) = redis::pipe()
            .cmd("HMGET")
            .arg(&key)
            .arg(&VIEW_FIELDS[..])
            .lrange(keys::message_events(p, id), 0, -1)
            .query_async(&mut self.conn())
            .await?;
        let fields: HashMap<&str, String> = VIEW_FIELDS
            .iter()
            .zip(values)
            .filter_map(|(name, value)| Some((*name, value?)))
            .collect();
        if fields.get(msg::TENANT).map(String::as_str) != Some(tenant.as_str()) {
            return Ok(None);
        }
        let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok());
        let recipients: Vec<RecipientState> = parse_json(&key, &text(msg::RECIPIENTS))?;
        let tags: Vec<String> = parse_json(&key, &text(msg::TAGS))?;
        let metadata: BTreeMap<String, String> = parse_json(&key, &text(msg::METADATA))?;
        let events = events
            .iter()
            .filter_map(|e| serde_json::from_str::<MessageEvent>(e).ok())
            .collect();
        Ok(Some(MessageView {
            id: id.clone(),
            status: parse_status(&text(msg::STATUS))
                .ok_or_else(|| StoreError::corrupt(&key, "status"))?,
            stream: MessageStream::parse(&text(msg::STREAM)).unwrap_or_default(),
            from: text(msg::FROM),
            subject: text(msg::SUBJECT),
            message_id_header: text(msg::MESSAGE_ID_HEADER),
            recipients,
            tags,
            metadata,
            attempts: number(msg::ATTEMPTS).unwrap_or_default() as u32,
            created_at: from_ms(number(msg::CREATED_AT).unwrap_or_default()),
            updated_at: from_ms(number(msg::UPDATED_AT).unwrap_or_default()),
            next_attempt_at: number(msg::NEXT_ATTEMPT_AT).map(from_ms),
            events,
            test: fields.get(msg::TEST).is_some_and(|v| v == "1"),
        }))
    }
}

/// The record's fields that [`Store::get_message`] shows.
const VIEW_FIELDS: [&str; 14] = [
    msg::TENANT,
    msg::STATUS,
    msg::STREAM,
    msg::FROM,
    msg::SUBJECT,
    msg::MESSAGE_ID_HEADER,
    msg::RECIPIENTS,
    msg::TAGS,
    msg::METADATA,
    msg::ATTEMPTS,
    msg::CREATED_AT,
    msg::UPDATED_AT,
    msg::NEXT_ATTEMPT_AT,
    msg::TEST,
];

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
