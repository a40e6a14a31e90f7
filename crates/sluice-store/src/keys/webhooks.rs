//! Keys of webhook endpoints (in the tenant's hash tag) and of the webhook delivery
//! schedule, split into shards like the queue into partitions: shard 0 keeps the
//! schedule's tag from before shards, `{sluice:wh}`; shard `p` above 0 lives in queue
//! partition `p`'s slot, so a cluster spreads the shards as evenly as the partitions.

use sluice_model::{TenantId, WebhookId};

use super::{Partition, queue, tenant_scope};

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

/// Every key of schedule shard `shard` starts with this (one hash slot per shard).
fn webhook_schedule(shard: Partition) -> String {
    match shard.0 {
        0 => concat!(root!(), ":{sluice:wh}").to_string(),
        _ => format!("{}:wh", queue(shard)),
    }
}

/// Shard `shard`'s ready set: endpoints scored by when a claim can next do something.
pub fn webhook_ready(shard: Partition) -> String {
    format!("{}:ready", webhook_schedule(shard))
}

/// Prefixes of shard `shard`'s per-endpoint keys, for the scripts that build them:
/// the delivery hashes (`<prefix><ep>|<event id>`), the pending and the lease sets
/// (`<prefix><ep>`), in that order.
pub fn webhook_schedule_prefixes(shard: Partition) -> [String; 3] {
    let root = webhook_schedule(shard);
    [
        format!("{root}:d:"),
        format!("{root}:pending:"),
        format!("{root}:leases:"),
    ]
}
