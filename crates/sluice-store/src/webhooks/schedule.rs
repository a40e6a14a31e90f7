//! The webhook delivery schedule, shared by every sender process.
//!
//! One delivery is one event for one endpoint. Deliveries wait per endpoint, and a
//! set of endpoints says which have work: a sender claims from the endpoints that are
//! due, never more than `cap` in flight per endpoint across all processes, so a slow
//! endpoint's backlog costs only its own slots and never stands in front of another
//! endpoint's deliveries (no head-of-line blocking, no polling of parked entries).
//!
//! A claim is a lease with a token: the delivery moves to the endpoint's lease set
//! scored by when the lease expires, and its hash remembers the token. Settling checks
//! the token, so a sender whose lease expired (it stalled or crashed; the next claim
//! of that endpoint put the delivery back and another sender took it) cannot settle
//! someone else's attempt. Leases outlast the request timeout several times over, so
//! two senders never send the same attempt at once unless one stalls for that long.
//!
//! **Shards.** The schedule is split like the queue: an endpoint's deliveries live in
//! the shard its `<tenant>|<webhook>` hashes to among `queue.partitions`, each shard
//! one hash slot (`keys::webhook_ready`), so on a Redis Cluster every master carries
//! a share of the webhook traffic instead of one carrying all of it. An endpoint is
//! in one shard, so its in-flight cap and its leases stay exact. A claim first reads
//! every served shard's earliest score at once, then claims from the due shards only,
//! starting at a random one. After the partition count changes, senders keep serving
//! every shard of every count seen (as workers serve old partitions), so deliveries
//! scheduled under the old count drain; while both hold deliveries of one endpoint,
//! each shard applies the cap on its own. On a single Redis with one partition there
//! is one shard, `{sluice:wh}`, as before shards. Scripts build the per-endpoint names
//! from the prefixes they are given (`keys::webhook_schedule_prefixes`).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use sluice_model::{EventRecord, TenantId, WebhookId};

use crate::partitions::partition_of_text;
use crate::reply::{self, Reply};
use crate::scripts::compose;
use crate::{Partition, Store, StoreError, keys};

/// The `rescore` function the claim and settle scripts share.
const RESCORE: &str = include_str!("../scripts/webhook_rescore.lua");

/// Schedules deliveries (see `scripts/webhook_enqueue.lua`).
static ENQUEUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/webhook_enqueue.lua")));

/// Leases due deliveries (see `scripts/webhook_claim.lua`).
static CLAIM: LazyLock<Script> =
    LazyLock::new(|| compose(&[RESCORE], include_str!("../scripts/webhook_claim.lua")));

/// Ends a claimed delivery, maybe claiming the next (see `scripts/webhook_settle.lua`).
static SETTLE: LazyLock<Script> =
    LazyLock::new(|| compose(&[RESCORE], include_str!("../scripts/webhook_settle.lua")));

/// Takes or keeps the fan-out lease (see `scripts/fanout_lead.lua`).
static LEAD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fanout_lead.lua")));

/// See `scripts/fanout_resign.lua`.
static RESIGN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fanout_resign.lua")));

/// One event to deliver to one endpoint.
#[derive(Clone, Debug)]
pub struct NewDelivery<'a> {
    pub tenant: &'a TenantId,
    pub endpoint: &'a WebhookId,
    pub record: &'a EventRecord,
}

/// A delivery this sender holds the lease of.
#[derive(Clone, Debug)]
pub struct ClaimedDelivery {
    pub tenant: TenantId,
    pub endpoint: WebhookId,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub record: EventRecord,
    token: String,
    member: String,
    /// The schedule shard it was claimed from.
    shard: Partition,
}

/// What settling did.
#[derive(Clone, Debug)]
pub struct Settled {
    /// `false`: the lease was lost before; another sender owns the delivery now.
    pub held: bool,
    /// The endpoint's next delivery, claimed in the same call (when asked for).
    pub next: Option<ClaimedDelivery>,
}

/// What a claim returned, and when the schedule next has something due.
#[derive(Clone, Debug, Default)]
pub struct Claims {
    pub deliveries: Vec<ClaimedDelivery>,
    /// Unix ms of the earliest due endpoint left (`None`: nothing scheduled).
    pub next_due_ms: Option<i64>,
}

/// One claimed delivery as a script returns it: (endpoint member, event id, attempt,
/// token, event JSON); the member is left out when the caller already knows it.
struct RawClaim {
    member: String,
    event_id: String,
    attempt: u32,
    token: String,
    event: String,
}

impl RawClaim {
    fn read(reply: &mut Reply, member: Option<&str>) -> Result<Self, StoreError> {
        let member = match member {
            Some(member) => member.to_string(),
            None => reply.text("endpoint")?,
        };
        Ok(Self {
            member,
            event_id: reply.text("event id")?,
            attempt: reply.int("attempt")?.clamp(1, i64::from(u32::MAX)) as u32,
            token: reply.text("token")?,
            event: reply.text("event")?,
        })
    }
}

fn member(tenant: &TenantId, endpoint: &WebhookId) -> String {
    format!("{tenant}|{endpoint}")
}

/// The earlier of two optional times.
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The delivery schedule.
impl Store {
    /// The shard endpoint `member` schedules into (see the module doc).
    fn webhook_shard(&self, member: &str) -> Partition {
        partition_of_text(member, self.partitions.count())
    }

    /// Schedules deliveries, due now. `replay` re-delivers even an event that is
    /// already scheduled (with a fresh attempt count) unless it is in flight.
    /// `ttl` bounds how long a delivery's record may live (longer than the whole
    /// retry schedule). Returns how many were scheduled.
    pub async fn enqueue_webhook_deliveries(
        &self,
        deliveries: &[NewDelivery<'_>],
        now_ms: i64,
        ttl: Duration,
        replay: bool,
    ) -> Result<usize, StoreError> {
        let mut by_shard: BTreeMap<Partition, Vec<(String, &EventRecord)>> = BTreeMap::new();
        for delivery in deliveries {
            let member = member(delivery.tenant, delivery.endpoint);
            by_shard
                .entry(self.webhook_shard(&member))
                .or_default()
                .push((member, delivery.record));
        }
        let mut scheduled = 0;
        for (shard, deliveries) in by_shard {
            for chunk in deliveries.chunks(200) {
                let mut call = ENQUEUE.key(keys::webhook_ready(shard));
                call.arg(&keys::webhook_schedule_prefixes(shard)[..])
                    .arg(now_ms)
                    .arg(ttl.as_millis() as u64)
                    .arg(if replay { "1" } else { "0" });
                for (member, record) in chunk {
                    let json = serde_json::to_string(record)
                        .map_err(|e| StoreError::corrupt("event", e))?;
                    call.arg(member).arg(&record.id).arg(json);
                }
                let added = call.invoke_async(&mut self.conn()).await?;
                scheduled += reply::int("webhook_enqueue", added)?.max(0) as usize;
            }
        }
        Ok(scheduled)
    }

    /// Leases up to `max` due deliveries, at most `cap` in flight per endpoint
    /// (counting every sender's), each for `lease`. A shard that cannot be reached
    /// is skipped while others answer (its deliveries wait for the next claim).
    pub async fn claim_webhook_deliveries(
        &self,
        now_ms: i64,
        max: usize,
        cap: usize,
        lease: Duration,
    ) -> Result<Claims, StoreError> {
        let (due, mut next_due_ms, mut failed) = self.due_webhook_shards(now_ms).await;
        let mut claims = Claims::default();
        for shard in due {
            let wanted = max.saturating_sub(claims.deliveries.len());
            if wanted == 0 {
                break;
            }
            match self
                .claim_webhook_shard(shard, now_ms, wanted, cap, lease)
                .await
            {
                Ok(claimed) => {
                    claims.deliveries.extend(claimed.deliveries);
                    next_due_ms = earliest(next_due_ms, claimed.next_due_ms);
                }
                Err(e) => failed = Some(e),
            }
        }
        claims.next_due_ms = next_due_ms;
        match failed {
            Some(e) if claims.deliveries.is_empty() => Err(e),
            _ => Ok(claims),
        }
    }

    /// The served shards with something due by `now_ms` (read at once, in a random
    /// rotation so no shard is always served first), the earliest score of the others,
    /// and an error if some shard could not be read. A lone shard is simply claimed
    /// from (a single Redis: one call per claim, as before shards).
    async fn due_webhook_shards(
        &self,
        now_ms: i64,
    ) -> (Vec<Partition>, Option<i64>, Option<StoreError>) {
        let mut shards = self.partitions.served();
        if let [only] = shards[..] {
            // One shard: its claim says when it is next due; no need to look first.
            return (vec![only], None, None);
        }
        let start = rand::random::<u32>() as usize % shards.len().max(1);
        shards.rotate_left(start);
        let heads = futures_util::future::join_all(shards.iter().map(|shard| async move {
            let head: Result<Vec<(String, f64)>, _> = redis::cmd("ZRANGE")
                .arg(keys::webhook_ready(*shard))
                .arg(0)
                .arg(0)
                .arg("WITHSCORES")
                .query_async(&mut self.conn())
                .await;
            head.map(|head| head.first().map(|(_, score)| *score as i64))
        }))
        .await;
        let (mut due, mut next_due, mut failed) = (Vec::new(), None, None);
        for (shard, head) in shards.into_iter().zip(heads) {
            match head {
                Ok(Some(score)) if score <= now_ms => due.push(shard),
                Ok(later) => next_due = earliest(next_due, later),
                Err(e) => failed = Some(e.into()),
            }
        }
        (due, next_due, failed)
    }

    async fn claim_webhook_shard(
        &self,
        shard: Partition,
        now_ms: i64,
        max: usize,
        cap: usize,
        lease: Duration,
    ) -> Result<Claims, StoreError> {
        let token_prefix = format!("{:016x}", rand::random::<u64>());
        let reply = CLAIM
            .key(keys::webhook_ready(shard))
            .arg(&keys::webhook_schedule_prefixes(shard)[..])
            .arg(now_ms)
            .arg(max)
            .arg(cap.max(1))
            .arg(lease.as_millis() as u64)
            .arg(&token_prefix)
            .arg((max * 4).max(64))
            .invoke_async(&mut self.conn())
            .await?;
        let mut reply = Reply::new("webhook_claim", reply)?;
        let next_due = reply.text("next due")?;
        let mut claims = Claims {
            next_due_ms: match next_due.as_str() {
                "" => None,
                due => Some(
                    due.parse::<f64>()
                        .map_err(|_| reply.error(format!("next due {due}")))?
                        as i64,
                ),
            },
            deliveries: Vec::new(),
        };
        if !reply.len().is_multiple_of(5) {
            return Err(reply.error("claimed deliveries come in fives"));
        }
        while !reply.is_empty() {
            let raw = RawClaim::read(&mut reply, None)?;
            if let Some(delivery) = self.parse_webhook_claim(raw, shard, cap).await? {
                claims.deliveries.push(delivery);
            }
        }
        Ok(claims)
    }

    /// Ends a claimed delivery: `Some(due)` schedules the next attempt at that unix
    /// ms, `None` removes it (delivered, given up, or its endpoint is gone). `false`
    /// when the lease had already been lost (another sender owns the delivery now).
    pub async fn settle_webhook_delivery(
        &self,
        delivery: &ClaimedDelivery,
        retry_at_ms: Option<i64>,
        cap: usize,
    ) -> Result<bool, StoreError> {
        let settled = self
            .settle_webhook_raw(
                delivery.shard,
                &delivery.member,
                &delivery.record.id,
                &delivery.token,
                retry_at_ms,
                cap,
                None,
            )
            .await?;
        Ok(settled.held)
    }

    /// [`settle_webhook_delivery`](Self::settle_webhook_delivery), and in the same call
    /// claim the endpoint's next due delivery if it has a free slot (leased for
    /// `lease`), so a sender can go on with the same endpoint without a round through
    /// [`claim_webhook_deliveries`](Self::claim_webhook_deliveries).
    pub async fn settle_webhook_delivery_and_claim_next(
        &self,
        delivery: &ClaimedDelivery,
        retry_at_ms: Option<i64>,
        cap: usize,
        now_ms: i64,
        lease: Duration,
    ) -> Result<Settled, StoreError> {
        self.settle_webhook_raw(
            delivery.shard,
            &delivery.member,
            &delivery.record.id,
            &delivery.token,
            retry_at_ms,
            cap,
            Some((now_ms, lease)),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn settle_webhook_raw(
        &self,
        shard: Partition,
        member: &str,
        event_id: &str,
        token: &str,
        retry_at_ms: Option<i64>,
        cap: usize,
        next: Option<(i64, Duration)>,
    ) -> Result<Settled, StoreError> {
        let next_token = next
            .map(|_| format!("{:016x}.n", rand::random::<u64>()))
            .unwrap_or_default();
        let (now_ms, lease) = next.unwrap_or((0, Duration::ZERO));
        let reply = SETTLE
            .key(keys::webhook_ready(shard))
            .arg(&keys::webhook_schedule_prefixes(shard)[..])
            .arg(member)
            .arg(event_id)
            .arg(token)
            .arg(if retry_at_ms.is_some() {
                "retry"
            } else {
                "done"
            })
            .arg(retry_at_ms.unwrap_or(0))
            .arg(cap.max(1))
            .arg(&next_token)
            .arg(now_ms)
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut self.conn())
            .await?;
        let mut reply = Reply::new("webhook_settle", reply)?;
        let held = match reply.text("held")?.as_str() {
            "1" => true,
            "0" => false,
            other => return Err(reply.error(format!("held {other}"))),
        };
        let next = match reply.len() {
            0 => None,
            4 => {
                let raw = RawClaim::read(&mut reply, Some(member))?;
                self.parse_webhook_claim(raw, shard, cap).await?
            }
            n => return Err(reply.error(format!("{n} items after `held`"))),
        };
        Ok(Settled { held, next })
    }

    /// A claimed delivery from a script's reply; an unreadable one is dropped.
    async fn parse_webhook_claim(
        &self,
        raw: RawClaim,
        shard: Partition,
        cap: usize,
    ) -> Result<Option<ClaimedDelivery>, StoreError> {
        let parsed = raw
            .member
            .split_once('|')
            .and_then(|(t, e)| Some((TenantId::parse(t).ok()?, WebhookId::parse(e).ok()?)));
        match (parsed, serde_json::from_str::<EventRecord>(&raw.event)) {
            (Some((tenant, endpoint)), Ok(record)) => Ok(Some(ClaimedDelivery {
                tenant,
                endpoint,
                attempt: raw.attempt,
                record,
                token: raw.token,
                member: raw.member,
                shard,
            })),
            _ => {
                tracing::error!(endpoint = %raw.member, event = %raw.event_id, "unreadable webhook delivery dropped");
                // Settling with no next token only removes it.
                Box::pin(self.settle_webhook_raw(
                    shard,
                    &raw.member,
                    &raw.event_id,
                    &raw.token,
                    None,
                    cap,
                    None,
                ))
                .await?;
                Ok(None)
            }
        }
    }

    /// Endpoints with scheduled deliveries, over every served shard (for metrics).
    pub async fn webhook_endpoints_with_work(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for shard in self.partitions.served() {
            let n: u64 = redis::cmd("ZCARD")
                .arg(keys::webhook_ready(shard))
                .query_async(&mut self.conn())
                .await?;
            total += n;
        }
        Ok(total)
    }

    /// Takes or renews partition `p`'s fan-out lease for `holder`: `true` while it
    /// holds it. A partition's events are copied in order (see `events`), so one
    /// process at a time copies them.
    pub async fn lead_fanout(
        &self,
        p: crate::Partition,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let held = LEAD
            .key(keys::fanout_leader(p))
            .arg(holder)
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("fanout_lead", held)? == 1)
    }

    pub async fn resign_fanout(&self, p: crate::Partition, holder: &str) -> Result<(), StoreError> {
        let resigned = RESIGN
            .key(keys::fanout_leader(p))
            .arg(holder)
            .invoke_async(&mut self.conn())
            .await?;
        reply::int("fanout_resign", resigned)?;
        Ok(())
    }
}
