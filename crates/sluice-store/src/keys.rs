//! Key names, and every other name that Rust and the Lua scripts must spell alike
//! (see the crate documentation for the schema). Scripts never type these: they get
//! them in ARGV (names) or KEYS (keys) from here.

use sluice_model::{ApiKeyId, MessageId, MessageStream, SuppressionReason, TemplateId, TenantId};

mod reputation;
pub use reputation::*;

/// The version of the key layout below (see "Schema versions" in the crate
/// documentation). Any change to a key's name or to the layout of its value bumps it.
/// Version 2 moved the quota state and Idempotency-Keys to the tenant's slot;
/// version 3 compresses message bodies and shares their content (`body`): nothing to
/// move, version-2 bodies are still read, but a version-2 process cannot read the new ones.
pub const SCHEMA_VERSION: u32 = 3;

/// The start of every key name since schema version 1 (`sluice:v1`). Later versions
/// move the keys they change in place, under the same root.
macro_rules! root {
    () => {
        "sluice:v1"
    };
}

/// Keys of outbound policy: MTA-STS, TLS-RPT and the blocklist watch.
mod outbound;
pub use outbound::*;
/// Keys of webhook endpoints and the webhook delivery schedule.
mod webhooks;
pub use webhooks::*;
/// Keys of the web console: sessions and the outcome counters its charts draw.
mod console;
pub use console::*;

/// Every key of this version starts with this (see [`SCHEMA_VERSION`]).
pub const ROOT: &str = root!();

/// The schema marker: the version (a number) the keys of this Redis are laid out in.
/// The one key whose name no version changes, so any version can read it.
pub const SCHEMA_MARKER: &str = "sluice:schema";

/// Held (with an expiry) by the process moving keys to a new version, so concurrent
/// starts wait for it instead of upgrading twice. Never renamed, like the marker.
pub const SCHEMA_LOCK: &str = "sluice:schema:upgrading";

/// The prefix of the keys from before schema versions (version 0): the same names
/// without the `v1:`.
pub const UNVERSIONED_ROOT: &str = "sluice:";

/// The most partitions a queue can have.
pub const MAX_PARTITIONS: u16 = 1024;

/// One queue partition (see `partitions`): the number in its hash tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition(pub u16);

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Every key of queue partition `p` starts with this: `sluice:v1:{<partition tag>}`.
fn queue(p: Partition) -> String {
    format!("{ROOT}:{{{}}}", partition_tag(p))
}

/// The hash tag of partition `p`: `sluice:q<p>`, with a suffix (`sluice:q<p>-<k>`)
/// chosen so the partitions' hash slots are spread evenly over the slot space
/// whatever their count: partition `p` lands in the `p`-th point of a van der
/// Corput sequence (p = 1 at slot 8192, 2 at 4096, 3 at 12288, …), so 16 partitions
/// over 3 masters with equal slot ranges are 6, 5 and 5, where plain names would
/// hash anywhere. Partition 0 keeps `sluice:q0`, the queue's tag before partitions.
pub fn partition_tag(p: Partition) -> &'static str {
    static TAGS: [std::sync::OnceLock<String>; MAX_PARTITIONS as usize] =
        [const { std::sync::OnceLock::new() }; MAX_PARTITIONS as usize];
    let index = usize::from(p.0).min(TAGS.len() - 1);
    TAGS[index].get_or_init(|| spread_tag(p.0))
}

/// Slots per window: 16384 slots ÷ 1024 partitions.
const SLOT_WINDOW: u16 = 16;

fn spread_tag(p: u16) -> String {
    let plain = format!("sluice:q{p}");
    if p == 0 {
        return plain;
    }
    // The 10-bit reversal of p, times the window: the van der Corput point.
    let target = (p.reverse_bits() >> 6) * SLOT_WINDOW;
    let fits = |tag: &str| (target..target + SLOT_WINDOW).contains(&slot_of(tag));
    if fits(&plain) {
        return plain;
    }
    // About 1,024 tries on average, once per partition and process.
    (0_u32..)
        .map(|k| format!("sluice:q{p}-{k}"))
        .find(|tag| fits(tag))
        .unwrap_or(plain)
}

/// The Redis Cluster hash slot of a hash tag: CRC16 (XMODEM) modulo 16384.
pub fn slot_of(tag: &str) -> u16 {
    let mut crc: u16 = 0;
    for &byte in tag.as_bytes() {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The partition counts processes have run with (ZSET count → last seen, unix ms):
/// what the workers serve and where a message id may be found (see `partitions`).
pub const PARTITION_COUNTS: &str = concat!(root!(), ":queue:partitions");

/// The consumer group of the queue streams.
pub const GROUP: &str = "workers";

/// The consumer group of the event stream's fan-out.
pub const FANOUT_GROUP: &str = "fanout";

/// Fields of a message hash (`…:msg:<id>`; see the crate documentation).
pub mod msg {
    pub const TENANT: &str = "tenant";
    pub const STREAM: &str = "stream";
    pub const STATUS: &str = "status";
    pub const BODY: &str = "body";
    pub const FROM: &str = "from";
    pub const SUBJECT: &str = "subject";
    pub const RECIPIENTS: &str = "recipients";
    pub const ATTEMPTS: &str = "attempts";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const NEXT_ATTEMPT_AT: &str = "next_attempt_at";
    pub const MESSAGE_ID_HEADER: &str = "message_id_header";
    pub const TAGS: &str = "tags";
    pub const METADATA: &str = "metadata";
    /// `1` on a message sent with a sandbox (test) key: delivery is simulated. Absent
    /// (records from before sandbox keys) or `0` means real mail.
    pub const TEST: &str = "test";
    /// `claim:<stream entry id>`: set while a worker holds the message (see
    /// [`claim_field`](super::claim_field)).
    pub const CLAIM_PREFIX: &str = "claim:";
}

/// The field of a queue stream entry: the message id.
pub const ENTRY_MESSAGE: &str = "m";

/// Fields of an event-stream entry (and of a tenant feed's, which has no tenant).
pub mod event_entry {
    pub const TENANT: &str = "t";
    pub const MESSAGE: &str = "m";
    pub const EVENT: &str = "e";
    pub const TAGS: &str = "g";
    pub const METADATA: &str = "d";
    /// In a tenant's feed only: `<partition>:<event-stream entry id>`, the copy's source.
    pub const SOURCE: &str = "s";
}

/// Between the stream and the message id in a delayed-set member.
pub const MEMBER_SEPARATOR: &str = "|";

/// The names the message scripts take as their first ARGV, in the order
/// `scripts/message_names.lua` binds them.
pub fn message_script_names() -> Vec<&'static str> {
    vec![
        GROUP,
        msg::CLAIM_PREFIX,
        MEMBER_SEPARATOR,
        MessageStream::Bulk.as_str(),
        msg::TENANT,
        msg::STATUS,
        msg::BODY,
        msg::RECIPIENTS,
        msg::ATTEMPTS,
        msg::UPDATED_AT,
        msg::NEXT_ATTEMPT_AT,
        msg::TAGS,
        msg::METADATA,
        ENTRY_MESSAGE,
        event_entry::TENANT,
        event_entry::MESSAGE,
        event_entry::EVENT,
        event_entry::TAGS,
        event_entry::METADATA,
    ]
}

pub fn stream(p: Partition, stream: MessageStream) -> String {
    format!("{}:stream:{}", queue(p), stream.as_str())
}

pub fn delayed(p: Partition) -> String {
    format!("{}:delayed", queue(p))
}

/// A worker process's liveness: `alive` while it runs (refreshed well within its
/// expiry), `gone` once it stopped and handed its unfinished entries back.
pub fn liveness(p: Partition, consumer: &str) -> String {
    format!("{}:alive:{consumer}", queue(p))
}

/// Queue entries whose message record was missing when a worker took them: kept
/// (trimmed to about the last 10,000) so no accepted message vanishes without trace.
pub fn lost_entries(p: Partition) -> String {
    format!("{}:lost", queue(p))
}

/// Messages parked until a connection to a busy destination frees (`name`: the
/// destination's throttle group, e.g. a provider).
pub fn waitlist(p: Partition, name: &str) -> String {
    format!("{}:waiting:{name}", queue(p))
}

/// The generated HMAC key for VERP and unsubscribe tokens (when none is configured).
pub const SECRET: &str = concat!(root!(), ":secret");

/// Every event of every message, until the fan-out has copied it to its tenant's feed.
pub fn event_stream(p: Partition) -> String {
    format!("{}:events", queue(p))
}

/// A tenant's event feed (`GET /v1/events`), ids copied from the event stream.
pub fn tenant_events(tenant: &TenantId) -> String {
    format!("{}:events", tenant_scope(tenant))
}

/// Which partition's events the tenant's feed has copied, up to which entry (HASH
/// partition → event-stream entry id): copying again skips what is below it.
pub fn tenant_events_copied(tenant: &TenantId) -> String {
    format!("{}:events:copied", tenant_scope(tenant))
}

/// The tenant's own quota limits (`<stream>.per_second` etc.), overriding the
/// configured defaults. In the tenant's slot, with its quota state.
pub fn quota_overrides(tenant: &TenantId) -> String {
    format!("{}:quota", tenant_scope(tenant))
}

/// A field of [`quota_overrides`]: `name` (`per_second`, `burst`, `per_day`) of `stream`.
pub fn quota_override_field(stream: MessageStream, name: &str) -> String {
    format!("{}.{name}", stream.as_str())
}

/// The limits a tenant may override, per stream (see [`quota_override_field`]).
pub mod quota_field {
    pub const PER_SECOND: &str = "per_second";
    pub const BURST: &str = "burst";
    pub const PER_DAY: &str = "per_day";
}

/// GCRA state (theoretical arrival time, ms) of the tenant's rate on one stream.
pub fn quota_rate(tenant: &TenantId, stream: MessageStream) -> String {
    format!("{}:quota:{}:rate", tenant_scope(tenant), stream.as_str())
}

/// Per-minute counts of the tenant's rolling 24 hours on one stream.
pub fn quota_day(tenant: &TenantId, stream: MessageStream) -> String {
    format!("{}:quota:{}:day", tenant_scope(tenant), stream.as_str())
}

/// [`quota_rate`] of the tenant's sandbox (test-key) traffic: its own bucket, with the
/// same limits, so test sends never spend the live quota (nor live sends the test one).
pub fn sandbox_quota_rate(tenant: &TenantId, stream: MessageStream) -> String {
    format!(
        "{}:quota:test:{}:rate",
        tenant_scope(tenant),
        stream.as_str()
    )
}

/// [`quota_day`] of the tenant's sandbox (test-key) traffic.
pub fn sandbox_quota_day(tenant: &TenantId, stream: MessageStream) -> String {
    format!(
        "{}:quota:test:{}:day",
        tenant_scope(tenant),
        stream.as_str()
    )
}

/// Bulk mail waiting its fair turn (message id → virtual start time).
pub fn fair_bulk(p: Partition) -> String {
    format!("{}:bulk:fair", queue(p))
}

/// Each tenant's last virtual time in the fair queue; `_` is the last served.
pub fn fair_bulk_times(p: Partition) -> String {
    format!("{}:bulk:fair:times", queue(p))
}

/// Scheduled bulk messages' tenants (id → tenant), so they queue fairly when due.
pub fn scheduled_bulk_owners(p: Partition) -> String {
    format!("{}:bulk:owners", queue(p))
}

pub fn message(p: Partition, id: &MessageId) -> String {
    format!("{}:msg:{id}", queue(p))
}

pub fn message_events(p: Partition, id: &MessageId) -> String {
    format!("{}:msg:{id}:events", queue(p))
}

/// Content shared by the message bodies of partition `p` that were compressed
/// against it (`sha256`: hex of the content; see `body`).
pub fn content(p: Partition, sha256: &str) -> String {
    format!("{}:content:{sha256}", queue(p))
}

/// The first answer to an Idempotency-Key, in the tenant's slot (the message's
/// partition is not known before the key is looked up).
pub fn idempotency(tenant: &TenantId, key_hash: &str) -> String {
    format!("{}:idem:{key_hash}", tenant_scope(tenant))
}

/// [`idempotency`] for sends with a sandbox (test) key: a namespace of its own, so a
/// live request can never be answered with a test message's replay.
pub fn sandbox_idempotency(tenant: &TenantId, key_hash: &str) -> String {
    format!("{}:idem:test:{key_hash}", tenant_scope(tenant))
}

fn tenant_scope(tenant: &TenantId) -> String {
    format!("{ROOT}:{{sluice:t:{tenant}}}")
}

pub fn tenant(tenant: &TenantId) -> String {
    format!("{}:tenant", tenant_scope(tenant))
}

/// Lets `sluice dev` find the tenant it created on an earlier run.
pub fn tenant_label(label: &str) -> String {
    format!("{ROOT}:tenant-label:{label}")
}

pub fn tenant_domains(tenant: &TenantId) -> String {
    format!("{}:domains", tenant_scope(tenant))
}

pub fn domain(tenant: &TenantId, name: &str) -> String {
    format!("{}:domain:{name}", tenant_scope(tenant))
}

/// Every tenant's domain set, for the SCAN that backfills the check schedule.
pub const TENANT_DOMAINS_PATTERN: &str = concat!(root!(), ":{sluice:t:*}:domains");

/// The tenant id in a key matching [`TENANT_DOMAINS_PATTERN`].
pub fn tenant_of_domains_set(key: &str) -> Option<&str> {
    key.strip_prefix(concat!(root!(), ":{sluice:t:"))?
        .strip_suffix("}:domains")
}

/// Every tenant's record, for the operator's listing (a SCAN: not the hot path).
pub const TENANT_RECORDS_PATTERN: &str = concat!(root!(), ":{sluice:t:*}:tenant");

/// The tenant id in a key matching [`TENANT_RECORDS_PATTERN`].
pub fn tenant_of_record(key: &str) -> Option<&str> {
    key.strip_prefix(concat!(root!(), ":{sluice:t:"))?
        .strip_suffix("}:tenant")
}

/// When each domain is next re-verified (ZSET of `<tenant>|<domain>`, unix ms).
pub fn domain_checks() -> String {
    concat!(root!(), ":{sluice:domains}:checks").to_string()
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
    format!("{ROOT}:api-key:{key_hash}")
}

/// The message-hash field a worker sets while it holds the message for an attempt.
pub fn claim_field(entry_id: &str) -> String {
    format!("{}{entry_id}", msg::CLAIM_PREFIX)
}

/// Member of the delayed set: the stream travels with the id so the mover needs no lookup.
pub fn delayed_member(stream: MessageStream, id: &MessageId) -> String {
    format!("{}{MEMBER_SEPARATOR}{id}", stream.as_str())
}

/// Only one process copies events to the feeds at a time (see `webhooks::schedule`).
pub fn fanout_leader(p: Partition) -> String {
    format!("{}:fanout-leader", queue(p))
}

/// Before the hash tag of every shared rate bucket (see [`throttle_bucket`]).
pub const THROTTLE_PREFIX: &str = concat!(root!(), ":throttle:");

/// `…:throttle:{<key>}:<limit>:<period ms>[:<burst>]`: the braces make `<key>` the
/// hash tag, so every rate of one key lives in one Redis Cluster slot. `burst` only
/// when it differs from the limit.
pub fn throttle_bucket(key: &str, limit: u32, period_ms: u128, burst: Option<u32>) -> String {
    match burst {
        Some(burst) => format!("{THROTTLE_PREFIX}{{{key}}}:{limit}:{period_ms}:{burst}"),
        None => format!("{THROTTLE_PREFIX}{{{key}}}:{limit}:{period_ms}"),
    }
}

/// Before the hash tag of every adaptive-rate hash (see [`adaptive`]).
pub const ADAPTIVE_PREFIX: &str = concat!(root!(), ":adaptive:");

/// The learned rate of `target` (`<source ip>|<provider>`).
pub fn adaptive(target: &str) -> String {
    format!("{ADAPTIVE_PREFIX}{{{target}}}")
}

/// Before the hash tag of every warm-up hash (see [`warmup`]).
pub const WARMUP_PREFIX: &str = concat!(root!(), ":warmup:");

/// The warm-up ramp of `target` (`<source ip>|<provider>`).
pub fn warmup(target: &str) -> String {
    format!("{WARMUP_PREFIX}{{{target}}}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_key_lives_under_the_schema_version() {
        assert_eq!(ROOT, "sluice:v1");
        let tenant = TenantId::generate();
        let id = MessageId::generate();
        let keys = [
            stream(Partition(0), MessageStream::Bulk),
            message(Partition(3), &id),
            tenant_events(&tenant),
            api_key("h"),
            tenant_label("dev"),
            SECRET.to_string(),
            TENANT_DOMAINS_PATTERN.to_string(),
            domain_checks(),
            webhook_ready(Partition(0)),
            webhook_ready(Partition(5)),
            throttle_bucket("k", 1, 1000, None),
            adaptive("127.0.0.2|gmail"),
            warmup("127.0.0.2|gmail"),
            dnsbl_lease(),
            console_session("h"),
            outcome_counts(Some(&tenant), 1),
            outcome_counts(None, 1),
            TENANT_RECORDS_PATTERN.to_string(),
        ];
        for key in keys {
            assert!(key.starts_with(&format!("{ROOT}:")), "{key}");
        }
        assert!(!SCHEMA_MARKER.starts_with(ROOT));
        assert_eq!(
            tenant_of_record(&self::tenant(&tenant)),
            Some(tenant.as_str())
        );
        // A tenant's counts share its slot; every tenant's, their own.
        assert!(outcome_counts(Some(&tenant), 7).contains(&format!("{{sluice:t:{tenant}}}")));
        assert!(outcome_counts(None, 7).contains("{sluice:stats}"));
        assert_eq!(
            tenant_of_domains_set(&tenant_domains(&tenant)),
            Some(tenant.as_str())
        );
    }

    #[test]
    fn hash_tags_do_not_change_with_the_version() {
        // An upgrade renames each key within its slot (RENAME needs one slot on a cluster).
        let id = MessageId::generate();
        let tag = |key: &str| key[key.find('{').unwrap()..=key.find('}').unwrap()].to_string();
        assert_eq!(tag(&message(Partition(0), &id)), "{sluice:q0}");
        assert!(tag(&message(Partition(15), &id)).starts_with("{sluice:q15"));
        assert_eq!(
            tag(&quota_overrides(
                &TenantId::parse("ten_01jd4k5q8z6y2x1w0v9t8s7r6p").unwrap()
            )),
            "{sluice:t:ten_01jd4k5q8z6y2x1w0v9t8s7r6p}"
        );
        assert_eq!(tag(&webhook_ready(Partition(0))), "{sluice:wh}");
        // Shard p > 0 of the webhook schedule shares queue partition p's slot.
        assert_eq!(
            tag(&webhook_ready(Partition(9))),
            tag(&message(Partition(9), &id))
        );
        for prefix in webhook_schedule_prefixes(Partition(9)) {
            assert_eq!(tag(&prefix), tag(&webhook_ready(Partition(9))));
        }
        assert_eq!(tag(&adaptive("1.2.3.4|gmail")), "{1.2.3.4|gmail}");
    }

    #[test]
    fn partitions_spread_evenly_over_the_hash_slots() {
        // Our CRC16 is Redis Cluster's.
        for tag in ["sluice:q0", "sluice:q7-12", "a", ""] {
            assert_eq!(
                redis::cluster_routing::Slot::new(slot_of(tag)),
                Some(redis::cluster_routing::Slot::for_key(tag))
            );
        }
        assert_eq!(partition_tag(Partition(0)), "sluice:q0");
        let slots: Vec<u16> = (0..16)
            .map(|p| slot_of(partition_tag(Partition(p))))
            .collect();
        // Three masters with the slot ranges `redis-cli --cluster create` gives them.
        let per_master =
            |from: u16, to: u16| slots.iter().filter(|s| (from..=to).contains(*s)).count();
        let counts = [
            per_master(0, 5460),
            per_master(5461, 10922),
            per_master(10923, 16383),
        ];
        assert!(
            counts.iter().all(|c| (5..=6).contains(c)),
            "{counts:?} {slots:?}"
        );
        // Every partition has its own window, and the tags never change.
        let mut windows: Vec<u16> = (1..1024)
            .map(|p| slot_of(partition_tag(Partition(p))) / SLOT_WINDOW)
            .collect();
        windows.sort_unstable();
        windows.dedup();
        assert_eq!(windows.len(), 1023);
        assert_eq!(partition_tag(Partition(1)), partition_tag(Partition(1)));
    }

    #[test]
    fn throttle_keys_carry_the_rate() {
        assert_eq!(
            throttle_bucket("127.0.0.2|gmail", 600, 60_000, None),
            "sluice:v1:throttle:{127.0.0.2|gmail}:600:60000"
        );
        assert_eq!(
            throttle_bucket("k", 600, 60_000, Some(10)),
            "sluice:v1:throttle:{k}:600:60000:10"
        );
    }
}
