//! Key names (see the crate documentation for the schema).

use sluice_model::{MessageId, MessageStream, SuppressionReason, TenantId, WebhookId};

const QUEUE: &str = "sluice:{sluice:q0}";

pub const GROUP: &str = "workers";

pub fn stream(stream: MessageStream) -> String {
    format!("{QUEUE}:stream:{}", stream.as_str())
}

pub fn delayed() -> String {
    format!("{QUEUE}:delayed")
}

/// Messages parked until a connection to a busy destination frees (`name`: the
/// destination's throttle group, e.g. a provider).
pub fn waitlist(name: &str) -> String {
    format!("{QUEUE}:waiting:{name}")
}

/// The generated HMAC key for VERP and unsubscribe tokens (when none is configured).
pub const SECRET: &str = "sluice:secret";

/// Every event of every message, until the fan-out has copied it to its tenant's feed.
pub fn event_stream() -> String {
    format!("{QUEUE}:events")
}

/// The consumer group of the event stream's fan-out.
pub const FANOUT_GROUP: &str = "fanout";

/// A tenant's event feed (`GET /v1/events`), ids copied from the event stream.
pub fn tenant_events(tenant: &TenantId) -> String {
    format!("{}:events", tenant_scope(tenant))
}

pub fn message(id: &MessageId) -> String {
    format!("{QUEUE}:msg:{id}")
}

pub fn message_events(id: &MessageId) -> String {
    format!("{QUEUE}:msg:{id}:events")
}

pub fn idempotency(tenant: &TenantId, key_hash: &str) -> String {
    format!("{QUEUE}:idem:{tenant}:{key_hash}")
}

fn tenant_scope(tenant: &TenantId) -> String {
    format!("sluice:{{sluice:t:{tenant}}}")
}

pub fn tenant(tenant: &TenantId) -> String {
    format!("{}:tenant", tenant_scope(tenant))
}

pub fn tenant_domains(tenant: &TenantId) -> String {
    format!("{}:domains", tenant_scope(tenant))
}

pub fn domain(tenant: &TenantId, name: &str) -> String {
    format!("{}:domain:{name}", tenant_scope(tenant))
}

pub fn tenant_api_keys(tenant: &TenantId) -> String {
    format!("{}:api-keys", tenant_scope(tenant))
}

/// The tenant's suppression list: lower-cased address → entry JSON.
pub fn suppressions(tenant: &TenantId) -> String {
    format!("{}:suppressions", tenant_scope(tenant))
}

/// The suppression list's order (every entry, or one reason's), for cursor pages.
pub fn suppression_order(tenant: &TenantId, reason: Option<SuppressionReason>) -> String {
    match reason {
        None => format!("{}:suppressions:order", tenant_scope(tenant)),
        Some(reason) => format!("{}:suppressions:order:{reason}", tenant_scope(tenant)),
    }
}

pub fn api_key(key_hash: &str) -> String {
    format!("sluice:api-key:{key_hash}")
}

/// Member of the delayed set: the stream travels with the id so the mover needs no lookup.
pub fn delayed_member(stream: MessageStream, id: &MessageId) -> String {
    format!("{}|{id}", stream.as_str())
}

/// The tenant's webhook endpoints (SET of ids).
pub fn webhooks(tenant: &TenantId) -> String {
    format!("{}:webhooks", tenant_scope(tenant))
}

/// Prefix of the tenant's endpoint hashes (`<prefix><webhook id>`), for scripts.
pub fn webhook_prefix(tenant: &TenantId) -> String {
    format!("{}:webhook:", tenant_scope(tenant))
}

pub fn webhook(tenant: &TenantId, id: &WebhookId) -> String {
    format!("{}{id}", webhook_prefix(tenant))
}

pub fn webhook_attempts(tenant: &TenantId, id: &WebhookId) -> String {
    format!("{}:attempts", webhook(tenant, id))
}

/// Every key of the webhook delivery schedule starts with this (one hash slot).
pub const WEBHOOK_SCHEDULE: &str = "sluice:{sluice:wh}";

pub fn webhook_ready() -> String {
    format!("{WEBHOOK_SCHEDULE}:ready")
}

/// Only one process copies events to the feeds at a time (see `webhooks::schedule`).
pub fn fanout_leader() -> String {
    format!("{QUEUE}:fanout-leader")
}
