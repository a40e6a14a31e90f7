//! Keys of webhook endpoints (in the tenant's hash tag) and of the webhook delivery
//! schedule (one hash tag of its own, `{sluice:wh}`).

use sluice_model::{TenantId, WebhookId};

use super::tenant_scope;

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
const WEBHOOK_SCHEDULE: &str = concat!(root!(), ":{sluice:wh}");

pub fn webhook_ready() -> String {
    format!("{WEBHOOK_SCHEDULE}:ready")
}

/// Prefixes of the schedule's per-endpoint keys, for the scripts that build them:
/// the delivery hashes (`<prefix><ep>|<event id>`), the pending and the lease sets
/// (`<prefix><ep>`), in that order.
pub fn webhook_schedule_prefixes() -> [String; 3] {
    [
        format!("{WEBHOOK_SCHEDULE}:d:"),
        format!("{WEBHOOK_SCHEDULE}:pending:"),
        format!("{WEBHOOK_SCHEDULE}:leases:"),
    ]
}
