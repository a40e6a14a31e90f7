//! Keys of the tenant reputation guard (see `crate::reputation`): counts, marks and
//! state in the tenant's hash tag, held bulk in each partition's.

use sluice_model::{MessageStream, TenantId};

use super::{queue, tenant_scope};
use crate::Partition;

/// The tenant's reputation counts of one stream over the rolling window (HASH
/// `<bucket>:<kind>` → count; kinds in [`reputation_kind`]; see `reputation`).
pub fn reputation_counts(tenant: &TenantId, stream: MessageStream) -> String {
    format!("{}:reputation:{}", tenant_scope(tenant), stream.as_str())
}

/// Up to which feed entry each partition's events have been counted (HASH partition
/// → feed entry id): counting a redelivered event again is skipped.
pub fn reputation_marks(tenant: &TenantId) -> String {
    format!("{}:reputation:marks", tenant_scope(tenant))
}

/// The reputation guard's state of the tenant (HASH; fields in [`reputation_field`]).
pub fn reputation_state(tenant: &TenantId) -> String {
    format!("{}:reputation:state", tenant_scope(tenant))
}

/// Reputation events decided but not yet on the event stream (HASH id → event JSON):
/// written with the state change, removed once the event is out (see `reputation`).
pub fn reputation_outbox(tenant: &TenantId) -> String {
    format!("{}:reputation:outbox", tenant_scope(tenant))
}

/// Fields of [`reputation_state`].
pub mod reputation_field {
    use sluice_model::MessageStream;

    /// The highest level announced for `stream` since it was last below it.
    pub fn level(stream: MessageStream) -> String {
        format!("{}.level", stream.as_str())
    }

    /// Set (JSON of the pause) while the bulk stream is paused.
    pub const BULK_PAUSED: &str = "bulk.paused";
}

/// The kinds of [`reputation_counts`] fields.
pub mod reputation_kind {
    pub const DELIVERED: &str = "d";
    pub const HARD_BOUNCED: &str = "b";
    pub const COMPLAINED: &str = "c";
}

/// Bulk messages of `tenant` held in partition `p` while its bulk stream is paused
/// (SET of message ids): released to the delayed set when an operator resumes it.
pub fn held_bulk(p: Partition, tenant: &TenantId) -> String {
    format!("{}:held:{tenant}", queue(p))
}
