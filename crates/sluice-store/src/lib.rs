//! Everything that touches Redis. This is the only crate that knows key names: they
//! are made in one module (`keys`), and the Lua scripts (`.lua` files, see `scripts`)
//! get every name they share with Rust from there, in KEYS and ARGV.
//!
//! One API style: every operation is a method of [`Store`], named for its resource
//! (`create_webhook`, `list_suppressions`, `throttle_admit`, …), on the store's shared
//! connection. Only [`Queue`] and [`EventStream`] are types of their own: each holds a
//! second connection for blocking reads, so a worker waiting for work never stalls
//! the commands of the process.
//!
//! # Key schema
//!
//! Every key lives under `sluice:v1:` (`keys::ROOT`); the layout's version is
//! `keys::SCHEMA_VERSION` (3). Keys that a single atomic call touches together share a
//! hash tag, so the layout works unchanged on Redis Cluster (see [`connection`]); the
//! tags carry no version (`{sluice:q0}`, not `{sluice:v1:q0}`), so an upgrade renames
//! each key within its slot.
//!
//! ## Schema versions
//!
//! - `sluice:schema` — STRING: the version the keys are laid out in (`1`). The one key
//!   whose name never changes (with `sluice:schema:upgrading`, the upgrade lock).
//!
//! [`Store::connect`] reads the marker before anything else:
//! - the version of this build: go on;
//! - a newer one: refuse to start ([`StoreError::SchemaTooNew`]): a newer Sluice wrote
//!   keys this one does not understand;
//! - an older one, or none (version 0: an empty Redis, or data from before versions,
//!   laid out as below without the `v1:`): the first process to start takes the
//!   upgrade lock, moves every key (version 0 → 1 is a `RENAMENX` of `sluice:<rest>` to
//!   `sluice:v1:<rest>`, TTLs and consumer groups kept; a taken new name leaves the old
//!   key as it is, with a warning); version 1 → 2 moves each tenant's quota keys and
//!   Idempotency-Keys from `{sluice:q0}` to the tenant's tag (DUMP/RESTORE: another
//!   slot); version 2 → 3 moves nothing (new message bodies are compressed, see
//!   `body`; the plain-JSON bodies of records already queued are still read, so they
//!   are delivered). Each step sets the marker; then the process lets go; processes starting
//!   meanwhile wait for the marker. The SCANs run on every master of a cluster.
//!
//! Upgrading an installation: stop every Sluice process of the old version (a running
//! one does not look at the marker again, and would go on writing the old names),
//! then start the new version; the first process upgrades, and the others wait for
//! it. Nothing to run by hand. Going back means a Redis restored from before the
//! upgrade: an older Sluice refuses the newer marker.
//!
//! A version that changes a key's name or the layout of its value bumps
//! `keys::SCHEMA_VERSION` and adds the step from the previous version to
//! `schema::upgrade`, so each start moves the keys one version at a time.
//!
//! Queue partition `p` (tag `{sluice:q<p>}`, `p` below `queue.partitions`; a message
//! is in the partition its id hashes to, see [`partitions`]):
//! - `sluice:v1:{sluice:q0}:stream:transactional`, `…:stream:bulk` — Streams with the
//!   consumer group `workers`; each entry is `m = <message id>`. Transactional is read
//!   first; bulk only when transactional is empty. Entries are XACK+XDEL'd once settled.
//! - `…:delayed` — ZSET of `<stream>|<message id>` scored by due time (unix ms):
//!   scheduled sends and deferred retries. The mover returns due members to their stream.
//! - `…:waiting:<destination>` — LIST of delayed members parked because every connection
//!   to the destination (a provider) was busy; a freed connection moves the first still
//!   parked one to its stream (stale members are skipped). Expires an hour after the
//!   last push; the delayed set's fallback time covers anything never released.
//! - `…:msg:<message id>` — HASH: `tenant`, `stream`, `status`, `body` (the validated
//!   message, zstd-compressed, possibly against a shared content: the format is in
//!   `body`; plain JSON in records of schema version 2; dropped once final), `from`, `subject`, `recipients` (JSON per-recipient
//!   state), `attempts`, `created_at`, `updated_at`, `next_attempt_at` (unix ms or empty),
//!   `message_id_header`, `tags`, `metadata`, `test` (`1` for a sandbox-key message,
//!   whose delivery is simulated; absent in older records = `0`), and `claim:<stream entry id>` while a
//!   worker holds the message (set by the worker's load, removed by its settle or
//!   discard; a claimed message cannot be cancelled; a settle without its claim only
//!   acknowledges). Expires after the retention period.
//! - `…:alive:<consumer>` — STRING `alive`, expiring a liveness period (default 8 s)
//!   after the worker process's last refresh, or `gone` (10 min) once it stopped. The
//!   pending entries of a consumer whose key is gone or expired are taken over by
//!   another worker (see `takeover`).
//! - `…:lost` — Stream of queue entries whose message record was missing (`m`,
//!   `stream`, `entry`, `reason`), about the last 10,000: nothing vanishes unseen.
//! - `…:msg:<message id>:events` — LIST of event JSON, oldest first; same expiry.
//! - `…:content:<sha256 hex>` — STRING, zstd: content that message bodies of this
//!   partition were compressed against (a campaign's body or first message), written
//!   (SET NX) in the script call that stores the first record using it; each record
//!   using it pushes its expiry (PEXPIRE GT) to its own plus a day, at accept and at
//!   each claim, so it outlives them. Never deleted otherwise (shared).
//! - `…:alive:<consumer>` is kept in every partition (each partition's takeover checks
//!   it in the same script as its claim).
//!
//! Tenant scope (tag `{sluice:t:<tenant id>}`):
//! - `sluice:v1:{sluice:t:<id>}:tenant` — HASH `id`, `name`, `created_at`.
//! - `…:quota` — HASH of the tenant's own limits (`<stream>.per_second`, `.burst`,
//!   `.per_day`) over the configured ones; `…:quota:<stream>:rate` — STRING, the GCRA
//!   theoretical arrival time (ms); `…:quota:<stream>:day` — HASH of per-minute counts
//!   of the rolling 24 hours (`m<minute>`, their sum `s`, the oldest counted `f`).
//!   Sandbox (test-key) sends count in `…:quota:test:<stream>:rate` and
//!   `…:quota:test:<stream>:day` (same layout, same limits), never in the live ones.
//! - `…:idem:<sha256(Idempotency-Key)>` — STRING
//!   `<fingerprint>\n<id>\n<status>\n<created ms>`, 24 h: the first response to replay,
//!   or a 409 when the body differs (on a cluster written before the message is
//!   stored: a replay finding no record yet is told to retry). Sandbox-key sends use
//!   `…:idem:test:<sha256>`, so live and test requests never replay each other.
//! - `…:domains` — SET of domain names; `…:domain:<name>` — HASH `name`, `created_at`,
//!   `version` (compare-and-set token of every update), `status` (`verified` /
//!   `unverified`), `verified_at`, `last_checked_at` (unix ms or empty), `checks` (JSON:
//!   each DNS record as last found), and per DKIM key `key:<selector>` = JSON with the
//!   algorithm, public key, state (`pending`/`active`/`retiring`), times and the private
//!   key sealed with AES-256-GCM (`v1:…`, see `domains::seal`). Records written before
//!   that hold one key as `selector`, `algorithm`, `public_key`, `private_key` (plain
//!   PKCS#8, base64): still read, rewritten sealed on their next update.
//! - `…:api-keys` — SET of API key ids (ids whose record is gone are dropped when listed).
//! - `…:api-key:<key id>` — HASH `id`, `name`, `scopes`, `created_at`, `expires_at` (unix
//!   ms or empty), `last4` (of the secret, for people), `hash` (the lookup record's, so
//!   revocation can delete it), `mode` (`live`/`test`; absent = `live`), `revoked_at` once revoked. Expires a retention period
//!   after revocation or expiry.
//! - `…:suppressions` — HASH lower-cased address → entry JSON (`reason`: `hard-bounce`,
//!   `complaint`, `unsubscribe` or `manual`; `created_at` unix ms; optional `message_id`,
//!   `event_id`, `note`). The worker checks an attempt's recipients with one HMGET.
//! - `…:suppressions:order`, `…:suppressions:order:<reason>` — ZSETs of
//!   `<created_at ms, 15 digits>|<address>`, all scored 0, read newest first by lexical
//!   range for cursor pages (the cursor is the last member). Written with the hash in
//!   one script; never expire.
//! - `…:templates` — HASH template id (`tpl_…`) → summary JSON (`name`, `latest`
//!   version, `created_at`, `updated_at` unix ms); `…:templates:order` — ZSET of the
//!   ids, all scored 0, read newest first by lexical range (ULIDs sort by creation).
//! - `…:template:<id>:versions` — HASH version number → JSON `subject`, `text`, `html`,
//!   `created_at`; the last 50 versions are kept (an update drops the 50th behind it).
//!   Written with the summary in one script; never expire.
//!
//! Throttles (tag `{<throttle key>}`; the key names an (IP × provider), e.g. `127.0.0.2|gmail`):
//! - `sluice:v1:throttle:{<key>}:<limit>:<period ms>` — STRING: the GCRA theoretical arrival
//!   time (unix µs on the Redis server's clock). The rate is in the name, so a changed
//!   limit starts a fresh bucket; a burst other than the limit adds `:<burst>`. Every rate
//!   of one key shares the tag, so admitting against all of them is one script call.
//!   Expires once the bucket is full again (with the default burst, at most one period).
//!
//! Reputation guard, tenant scope (see [`reputation`]):
//! - `…:reputation:<stream>` — HASH `<bucket>:<kind>` → count (`d` delivered, `b` hard
//!   bounced, `c` complained; bucket = unix ms ÷ a 24th of the window); buckets older
//!   than the window are dropped as counts arrive; expires after two windows idle.
//! - `…:reputation:marks` — HASH partition → the newest feed entry id counted from it.
//! - `…:reputation:state` — HASH `<stream>.level` (`review`/`pause`: the level last
//!   announced), `bulk.paused` (JSON: since when and the figures) while bulk is paused.
//! - `…:reputation:outbox` — HASH `<ms>:<event type>:<random>` → event JSON, decided but
//!   not yet on the event stream.
//! - `sluice:v1:{sluice:q<p>}:held:<tenant id>` — SET of the tenant's bulk message ids
//!   held in partition `p` while its bulk is paused (they wait in the delayed set too).
//!
//! Adaptive rates (tag `{<target>}`, target = `<source ip>|<provider>`):
//! - `sluice:v1:adaptive:{<target>}` — HASH `rate` (learned messages per minute), `strikes`
//!   (throttling replies in a row), `suspended_until` (unix ms), `suspension`
//!   (`adaptive` or `manual`). Expires 30 days after its last update.
//! - `sluice:v1:warmup:{<target>}` — HASH `sent_day`, `sent` (today's count against the
//!   warm-up cap), `setbacks`, `setback_day` (days the ramp lost to throttling).
//!
//! Blocklist watch (tag `{sluice:dnsbl}`; see [`dnsbl`]):
//! - `sluice:v1:{sluice:dnsbl}:listed` — HASH `<source ip>|<zone>` → `<since ms>|<answer>`:
//!   the addresses listed now. Kept apart from the adaptive hashes: neither an operator's
//!   resume nor clean deliveries clear a listing.
//! - `…:checks` — HASH `<source ip>|<zone>` → JSON of the last check (`result`:
//!   `listed`, `not_listed`, `refused`, `error`; `answer`, `error`, `checked_at`).
//! - `…:events` — STREAM of operator events (`type` `ip.listed`/`ip.delisted`,
//!   `target` `<ip>|<zone>`, `answer`, `since`, `at`), about the last 1000.
//! - `…:round` — STRING JSON `at`, `by`: the last round and the process that ran it.
//! - `…:lease` — STRING, the process running this interval's lookups (`SET NX PX`
//!   for one interval, never released early).
//!   A round's checks, listings and events are written in one script call.
//!
//! Events (written with the message changes; see [`events`]):
//! - `sluice:v1:{sluice:q<p>}:events` — Stream per partition, consumer group `fanout`:
//!   every event, with `t` tenant, `m` message id, `e` event JSON, `g` tags, `d`
//!   metadata; XACK+XDEL'd once copied to the tenant's feed and handed to suppression
//!   and webhooks. Tenant-level events go to the partition the tenant id hashes to.
//! - `sluice:v1:{sluice:t:<id>}:events` — Stream: the tenant's feed (`GET /v1/events`);
//!   the copy gives each event its feed entry id (`evt_<entry id>`, increasing across
//!   partitions) and records its source in `s` (`<partition>:<entry id>`), trimmed to
//!   retention.
//! - `sluice:v1:{sluice:t:<id>}:events:copied` — HASH partition → the last event-stream
//!   entry id copied to the feed: a copy repeated after a crash is skipped.
//!
//! Webhooks, tenant scope (same tag as the tenant):
//! - `…:webhooks` — SET of the tenant's endpoint ids (`wh_…`).
//! - `…:webhook:<id>` — HASH `id`, `url`, `events` (comma-separated types; empty = all),
//!   `secret` (`whsec_…`, kept as is: signing needs the key), `previous_secret` and
//!   `previous_secret_expires_at` (unix ms; the old secret signs too until then),
//!   `created_at`, `status` (`enabled`/`disabled`), `disabled_reason`, `disabled_at`,
//!   `failing_since` (unix ms of the first failure since the last success).
//! - `…:webhook:<id>:attempts` — STREAM, one entry per attempt (`a` = attempt JSON:
//!   time, event id, attempt number, HTTP status or error, duration, next retry), about
//!   the last 1000 kept (`MAXLEN ~`), read newest first with the entry id as cursor;
//!   expires a retention period after the last attempt.
//!
//! Webhook delivery schedule (one delivery = one event for one endpoint, `<ep>` =
//! `<tenant id>|<webhook id>`; see `webhooks::schedule`), in shards like the queue's
//! partitions: an endpoint is in the shard `<ep>` hashes to among `queue.partitions`.
//! Shard 0's keys start `sluice:v1:{sluice:wh}`, shard `p` > 0's
//! `sluice:v1:{sluice:q<p>}:wh` (queue partition `p`'s slot); below, shard 0's names:
//! - `sluice:v1:{sluice:wh}:ready` — ZSET of `<ep>` scored by when a claim can next do
//!   something for it (unix ms): its first due delivery while it has a free slot, else
//!   its first lease expiry. Absent when it has nothing scheduled or in flight.
//! - `…:pending:<ep>` — ZSET of event ids scored by due time (unix ms).
//! - `…:leases:<ep>` — ZSET of event ids in flight, scored by lease expiry; its size is
//!   the endpoint's in-flight count across all senders (capped per claim).
//! - `…:d:<ep>|<event id>` — HASH `attempts` (made so far), `event` (the event record
//!   JSON, the payload's source), `token` (the current lease's), `created_at`. Expires
//!   a day after the whole retry schedule would have ended.
//! - `sluice:v1:{sluice:q<p>}:fanout-leader` — STRING: the process copying partition
//!   `p`'s event stream to the tenant feeds (in order), with a lease of a few seconds.
//!
//! Domain checks (tag `{sluice:domains}`):
//! - `sluice:v1:{sluice:domains}:checks` — ZSET of `<tenant id>|<domain>` scored by when
//!   its DNS is next re-verified (unix ms); a claim pushes the score a lease ahead.
//!
//! Outbound TLS policy (see [`tls_policy`]; one key per call, no script):
//! - `sluice:v1:mta-sts:{<domain>}` — STRING: the recipient domain's MTA-STS policy as
//!   the delivery worker caches it (JSON: TXT id, policy text, fetch time); expires
//!   with the policy's `max_age`.
//! - `sluice:v1:tls-rpt:{<day>}` — HASH of one UTC day's TLS-RPT counters, fields
//!   `<domain>|<counter>` (the counter names belong to `sluice-delivery`); expires
//!   three days after its last write.
//! - `sluice:v1:tls-rpt-sent:{<day>}` — HASH `<domain>` → send time: that day's report
//!   for the domain went out (HSETNX, so two processes never both send it).
//! - `sluice:v1:tls-rpt-lease:{<day>}` — STRING: the process sending `day`'s reports.
//!
//! Global:
//! - `sluice:v1:queue:partitions` — ZSET of the partition counts processes run with,
//!   scored by when last seen (unix ms), pruned after the retention period: which
//!   partitions workers serve and where a message may be (see [`partitions`]).
//! - `sluice:v1:secret` — STRING: the generated HMAC key for VERP and unsubscribe tokens
//!   when `secret_key` is not configured.
//! - `sluice:v1:tenant-label:<label>` — STRING tenant id (lets `sluice dev` find its tenant).
//! - `sluice:v1:api-key:<sha256(key)>` — HASH `id`, `tenant`, `scopes`, `created_at`,
//!   `expires_at` (unix ms or empty; checked on every request), `mode` (`live`/`test`;
//!   absent = `live`). Keys are stored only as
//!   hashes; lookup is one HGETALL per request, never cached, so a revocation (which
//!   deletes this record) holds at once on every node. No hash tag: a request knows only
//!   the secret. Created and revoked in one MULTI with the tenant's record (see
//!   `Store::revoke_api_key` for Redis Cluster). Expires a week after `expires_at`.
//! - `sluice:v1:console-session:<sha256(cookie secret)>` — HASH `kind` (`tenant` or
//!   `operator`), `tenant` and `key_id` (the API key it logged in with: re-checked on
//!   every request, so revoking the key ends the session), or `credential` (the
//!   operator's, as the API layer fingerprints it), `csrf` (the forms' token),
//!   `created_at`. Expires with the session (12 hours); logout deletes it.
//! - `sluice:v1:{sluice:t:<id>}:outcomes:<unix hour>` and, for every tenant,
//!   `sluice:v1:{sluice:stats}:outcomes:<unix hour>` — HASH `<minute>:<kind>` → count of
//!   `delivered`, `deferred` and `bounced` events in that minute (the console's charts,
//!   see `outcome_counts`); expire after 25 hours.

pub mod adaptive;
mod body;
mod cancel;
mod connection;
pub mod console;
pub mod consumer;
pub mod dnsbl;
pub mod domains;
pub mod embedded;
mod error;
pub mod events;
mod intake;
mod keys;
mod messages;
pub mod outcome_counts;
mod partitions;
pub mod permits;
mod queue;
mod queue_depth;
mod queue_idle;
mod queue_priority;
mod queue_read;
mod quotas;
mod recent;
pub use recent::RECENT_TTL;
mod replication;
mod reply;
pub mod reputation;
mod schema;
mod scripts;
pub mod server_check;
pub mod suppressions;
mod takeover;
pub mod templates;
mod tenants;
pub mod throttle;
pub mod tls_policy;
pub mod warmup;
pub mod webhooks;

use std::time::Duration;

use connection::{Backend, Conn};

/// The one millisecond conversion (see `sluice_model::time`), used by every module here.
pub(crate) use sluice_model::time::{from_ms, now_ms, to_ms};

pub use cancel::CancelOutcome;
pub use connection::{NodeAddress, RedisTls};
pub use console::{ConsoleLogin, ConsoleSession};
pub use domains::seal::KeySealer;
pub use domains::{DkimKey, DomainRecord, DomainUpdate, SendingDomain, SigningKey};
pub use error::StoreError;
pub use events::{EventFilter, EventPage, EventStream, PendingEvent};
pub use intake::{AcceptOutcome, Accepted, FAIR_BACKLOG, NewMessage, QuotaLimit, QuotaState};
pub use partitions::{MAX_PARTITIONS, Partition, partition_of};
pub use queue::{DeliveryJob, Loaded, Queue, QueueEntry, Settlement};
pub use queue_depth::QueueDepth;
pub use queue_priority::TransactionalReader;
pub use reputation::{BucketWindow, CountKind, Countable, ReputationChange, ReputationSnapshot};
pub use suppressions::{
    AttemptChecks, NewSuppression, SuppressionAdded, SuppressionCursor, SuppressionPage,
};
pub use templates::{TemplateLookup, TemplatePage};
pub use tenants::{ApiKeyRecord, KeyLookup, NewApiKey};
pub use throttle::{Admission, Rate, ThrottleError};
pub use webhooks::{
    AttemptPage, AttemptRecorded, ClaimedDelivery, Claims, NewDelivery, Settled, WebhookEndpoint,
};

/// How long settled message records and their events are kept.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long an ordinary command's reply may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the store connects: the retention of settled messages and the queue's
/// partition count (see [`partitions`]).
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub retention: Duration,
    /// `queue.partitions`: 1 on a single server by default, e.g. 16 on a cluster.
    pub partitions: u16,
    /// For `rediss://` URLs: a CA and a client certificate (default: the system's
    /// roots, no client certificate).
    pub tls: Option<RedisTls>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            retention: DEFAULT_RETENTION,
            partitions: 1,
            tls: None,
        }
    }
}

/// `len` random letters and digits from the thread's CSPRNG: API key secrets,
/// console session cookies and CSRF tokens, generated admin tokens.
pub fn random_token(len: usize) -> String {
    use rand::Rng as _;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    conn: Conn,
    retention: Duration,
    partitions: std::sync::Arc<partitions::Partitions>,
    /// Seals and opens DKIM private keys (see [`Store::with_key_sealer`]).
    key_sealer: Option<std::sync::Arc<KeySealer>>,
    /// Set in `durability.mode = replicas` (see [`Store::with_replica_ack`]).
    replica_waiter: Option<std::sync::Arc<replication::ReplicaWaiter>>,
    /// Sending domains read moments ago (see [`recent`]).
    recent: std::sync::Arc<recent::RecentLookups>,
}

impl Store {
    /// Connects, checks the server answers and that its keys are laid out in this
    /// version's schema (upgrading an older layout, refusing a newer one: see "Schema
    /// versions" above). The connection manager reconnects by itself, so a Redis
    /// restart costs failed requests, not a restart of Sluice.
    pub async fn connect(url: &str, retention: Duration) -> Result<Self, StoreError> {
        Self::connect_with(
            url,
            StoreOptions {
                retention,
                ..StoreOptions::default()
            },
        )
        .await
    }

    /// [`connect`](Self::connect) with every option. `url` names one server or a
    /// cluster (see [`connection`]).
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let backend = Backend::open(url, options.tls.clone())?
            .detect_cluster()
            .await?;
        let conn = backend.connect(RESPONSE_TIMEOUT).await?;
        let store = Self {
            backend,
            conn,
            retention: options.retention,
            partitions: partitions::Partitions::new(options.partitions, options.retention),
            key_sealer: None,
            replica_waiter: None,
            recent: Default::default(),
        };
        store.ping().await?;
        schema::ensure(&mut store.conn()).await?;
        store.partitions.refresh(&mut store.conn()).await?;
        partitions::spawn_refresh(&store.partitions, store.conn());
        Ok(store)
    }

    /// Whether the store runs on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.backend.is_cluster()
    }

    /// This process's partition count (`queue.partitions`).
    pub fn partition_count(&self) -> u16 {
        self.partitions.count()
    }

    /// Every partition that may hold queued mail (see [`partitions`]).
    pub fn served_partitions(&self) -> Vec<Partition> {
        self.partitions.served()
    }

    /// Records this process's partition count as in use and learns the others'
    /// (workers call it with their liveness refresh).
    pub async fn refresh_partitions(&self) -> Result<(), StoreError> {
        self.partitions.refresh(&mut self.conn()).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Every accept from now on waits for `ack` before it succeeds (`WAIT`/`WAITAOF`),
    /// failing with [`StoreError::NotReplicated`] when too few replicas answer in time.
    pub async fn with_replica_ack(
        mut self,
        ack: server_check::ReplicaAck,
    ) -> Result<Self, StoreError> {
        let waiter = replication::ReplicaWaiter::connect(&self.backend, ack).await?;
        self.replica_waiter = Some(std::sync::Arc::new(waiter));
        Ok(self)
    }

    /// The queue side: its own connection for blocking reads, so a worker waiting
    /// for mail never stalls the API's commands.
    pub async fn queue(&self) -> Result<Queue, StoreError> {
        Queue::new(self).await
    }

    /// Queue lengths (for metrics and operators).
    pub async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        queue_depth::queue_depth(&mut self.conn(), &self.served_partitions()).await
    }

    fn conn(&self) -> Conn {
        self.conn.clone()
    }
}

/// The hash tags of every key `<prefix>{<tag>}`, sorted and unique. A SCAN (of every
/// master on a cluster): for operators' listings, not the hot path.
pub(crate) async fn scan_tags(conn: &mut Conn, prefix: &str) -> Result<Vec<String>, StoreError> {
    let keys = conn.scan_keys(&format!("{prefix}{{*}}")).await?;
    let mut tags: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            k.strip_prefix(prefix)?
                .strip_prefix('{')?
                .strip_suffix('}')
                .map(str::to_string)
        })
        .collect();
    tags.sort();
    tags.dedup();
    Ok(tags)
}
