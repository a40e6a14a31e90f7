//! Key names (see the crate documentation for the schema).

use sluice_model::{ApiKeyId, MessageId, MessageStream, SuppressionReason, TenantId, WebhookId};

use sluice_model::TemplateId;

const QUEUE: &str = "sluice:{sluice:q0}";

pub const GROUP: &str = "workers";

pub fn stream(stream: MessageStream) -> String {
    format!("{QUEUE}:stream:{}", stream.as_str())
}

pub fn delayed() -> String {
    format!("{QUEUE}:delayed")
}

/// A worker process's liveness: `alive` while it runs (refreshed well within its
/// expiry), `gone` once it stopped and handed its unfinished entries back.
pub fn liveness(consumer: &str) -> String {
    format!("{QUEUE}:alive:{consumer}")
}

/// Queue entries whose message record was missing when a worker took them: kept
/// (trimmed to about the last 10,000) so no accepted message vanishes without trace.
pub fn lost_entries() -> String {
    format!("{QUEUE}:lost")
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

/// The tenant's own quota limits (`<stream>.per_second` etc.), overriding the
/// configured defaults. In the queue's slot so the accept script can read it.
pub fn quota_overrides(tenant: &TenantId) -> String {
    format!("{QUEUE}:quota:{tenant}")
}

/// GCRA state (theoretical arrival time, ms) of the tenant's rate on one stream.
pub fn quota_rate(tenant: &TenantId, stream: MessageStream) -> String {
    format!("{QUEUE}:quota:{tenant}:{}:rate", stream.as_str())
}

/// Per-minute counts of the tenant's rolling 24 hours on one stream.
pub fn quota_day(tenant: &TenantId, stream: MessageStream) -> String {
    format!("{QUEUE}:quota:{tenant}:{}:day", stream.as_str())
}

/// Bulk mail waiting its fair turn (message id → virtual start time).
pub fn fair_bulk() -> String {
    format!("{QUEUE}:bulk:fair")
}

/// Each tenant's last virtual time in the fair queue; `_` is the last served.
pub fn fair_bulk_times() -> String {
    format!("{QUEUE}:bulk:fair:times")
}

/// Scheduled bulk messages' tenants (id → tenant), so they queue fairly when due.
pub fn scheduled_bulk_owners() -> String {
    format!("{QUEUE}:bulk:owners")
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

/// Every tenant's domain set, for the SCAN that backfills the check schedule.
pub const TENANT_DOMAINS_PATTERN: &str = "sluice:{sluice:t:*}:domains";

/// The tenant id in a key matching [`TENANT_DOMAINS_PATTERN`].
pub fn tenant_of_domains_set(key: &str) -> Option<&str> {
    key.strip_prefix("sluice:{sluice:t:")?
        .strip_suffix("}:domains")
}

/// When each domain is next re-verified (ZSET of `<tenant>|<domain>`, unix ms).
pub fn domain_checks() -> String {
    "sluice:{sluice:domains}:checks".to_string()
}

pub fn tenant_api_keys(tenant: &TenantId) -> String {
    format!("{}:api-keys", tenant_scope(tenant))
}

/// One API key as its tenant lists it (name, scopes, hint, life cycle) and the hash
/// that leads to its lookup record, so revocation can find it.
pub fn tenant_api_key(tenant: &TenantId, id: &ApiKeyId) -> String {
    format!("{}:api-key:{id}", tenant_scope(tenant))
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

/// The tenant's templates: template id → summary JSON (name, latest version, times).
pub fn templates(tenant: &TenantId) -> String {
    format!("{}:templates", tenant_scope(tenant))
}

/// Every template id of the tenant, all scored 0: ids are ULIDs, so lexical order is
/// creation order, for cursor pages.
pub fn template_order(tenant: &TenantId) -> String {
    format!("{}:templates:order", tenant_scope(tenant))
}

/// One template's kept versions: version number → content JSON.
pub fn template_versions(tenant: &TenantId, id: &TemplateId) -> String {
    format!("{}:template:{id}:versions", tenant_scope(tenant))
}

pub fn api_key(key_hash: &str) -> String {
    format!("sluice:api-key:{key_hash}")
}

/// The message-hash field a worker sets while it holds the message for an attempt
/// (the scripts CLAIM, SETTLE and CANCEL spell the same `claim:` prefix).
pub fn claim_field(entry_id: &str) -> String {
    format!("claim:{entry_id}")
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
