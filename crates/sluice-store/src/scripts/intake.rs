//! The scripts that let messages in: accepting (with the tenant's quotas checked in
//! the same atomic step), and the fair queue that keeps one tenant's campaign from
//! starving another's bulk mail.
//!
//! **Quotas.** Each (tenant, stream) has a GCRA rate limiter (one key holding the
//! theoretical arrival time, as in KumoMTA's throttle) and a rolling 24-hour volume
//! kept as per-minute buckets in one hash (`m<minute>` → count, `s` → their sum,
//! `f` → the oldest minute that may still count). Time comes from the Redis server,
//! so every API node agrees. Limits are the tenant's overrides (a hash written by
//! `PATCH /v1/admin/tenants/{id}`) falling back to the configured defaults.
//!
//! **Fair bulk.** Bulk mail enters the bulk stream directly while the stream has
//! little unread work; otherwise it waits in a sorted set scored by start-time fair
//! queueing: each tenant's next message gets `max(its last score, the score last
//! served) + 1`. A tenant with a million queued messages has scores far ahead; a
//! tenant arriving with ten gets scores right after the one being served, so its
//! mail goes next. Workers top the stream up from the set (`FEED_BULK`) before
//! reading bulk. Transactional mail never waits here.

use std::sync::LazyLock;

use super::{Lua, MESSAGE_NAMES};

/// Server time, the unread count of a stream and the fair-queue insert.
const FAIR_QUEUE: &str = include_str!("fair_queue.lua");

/// The tenant's quotas and Idempotency-Keys (see `quota.lua`).
const QUOTA: &str = include_str!("quota.lua");

/// Storing and queueing one admitted message (see `enqueue_message.lua`).
const ENQUEUE_MESSAGE: &str = include_str!("enqueue_message.lua");

/// Accepts a chunk of one tenant's messages on a single server, quotas checked, in
/// one call (see `accept.lua`).
pub static ACCEPT: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        &MESSAGE_NAMES,
        &[FAIR_QUEUE, QUOTA, ENQUEUE_MESSAGE],
        include_str!("accept.lua"),
    )
});

/// A cluster's first accept call, in the tenant's slot (see `admit.lua`).
pub static ADMIT: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        &MESSAGE_NAMES,
        &[FAIR_QUEUE, QUOTA],
        include_str!("admit.lua"),
    )
});

/// A cluster's second accept call, in the partition's slot (see `enqueue.lua`).
pub static ENQUEUE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        &MESSAGE_NAMES,
        &[FAIR_QUEUE, ENQUEUE_MESSAGE],
        include_str!("enqueue.lua"),
    )
});

/// Moves due delayed members back to their stream (see `promote.lua`).
pub static PROMOTE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&MESSAGE_NAMES, &[FAIR_QUEUE], include_str!("promote.lua")));

/// Tops the bulk stream up from the fair set (see `feed_bulk.lua`).
pub static FEED_BULK: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&MESSAGE_NAMES, &[FAIR_QUEUE], include_str!("feed_bulk.lua")));
