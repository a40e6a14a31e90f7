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
//! All keys share the tag `{sluice:wh}` (one hash slot); scripts build the
//! per-endpoint names from the prefix they are given.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use sluice_model::{EventRecord, TenantId, WebhookId};

use crate::{StoreError, keys};

/// Lua shared by the scripts: puts `ep` in the ready set at the time a claim could
/// next do something for it (its first due delivery while it has a free slot; the
/// first lease expiry otherwise, so a crashed sender's leases are recovered), or
/// removes it when it has nothing at all.
macro_rules! rescore_lua {
    () => {
        r#"
local function rescore(prefix, ready, ep, cap)
  local leases = prefix .. ':leases:' .. ep
  local inflight = redis.call('ZCARD', leases)
  local score = nil
  if inflight < cap then
    local first = redis.call('ZRANGE', prefix .. ':pending:' .. ep, 0, 0, 'WITHSCORES')
    if first[2] then score = tonumber(first[2]) end
  end
  if inflight > 0 then
    local lease = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
    local expiry = tonumber(lease[2])
    if score == nil or expiry < score then score = expiry end
  end
  if score then
    redis.call('ZADD', ready, score, ep)
  else
    redis.call('ZREM', ready, ep)
  end
end
"#
    };
}

/// KEYS: ready set. ARGV: prefix, now ms, ttl ms, replay ('1' = make it due now with
/// a fresh attempt count even if it exists), then (endpoint, event id, event JSON)
/// triples. A delivery that already exists is left alone (a repeated fan-out);
/// one in flight is never touched. Returns how many were scheduled.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local ready, prefix = KEYS[1], ARGV[1]
local now, ttl, replay = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local added = 0
for i = 5, #ARGV, 3 do
  local ep, id, event = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local d = prefix .. ':d:' .. ep .. '|' .. id
  local fresh = redis.call('EXISTS', d) == 0
  if replay then
    fresh = not redis.call('ZSCORE', prefix .. ':leases:' .. ep, id)
  end
  if fresh then
    redis.call('HSET', d, 'attempts', 0, 'event', event, 'created_at', now)
    redis.call('HDEL', d, 'token')
    redis.call('PEXPIRE', d, ttl)
    redis.call('ZADD', prefix .. ':pending:' .. ep, now, id)
    redis.call('ZADD', ready, 'LT', now, ep)
    added = added + 1
  end
end
return added
"#,
    )
});

/// KEYS: ready set. ARGV: prefix, now ms, how many to claim, per-endpoint cap, lease
/// ms, token prefix, endpoints to visit at most. Returns the ready set's next score
/// ('' when empty), then (endpoint, event id, attempt number, token, event JSON) per
/// claimed delivery.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        rescore_lua!(),
        r#"
local ready, prefix = KEYS[1], ARGV[1]
local now, want, cap, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local token_prefix, budget = ARGV[6], tonumber(ARGV[7])
local out = {''}
local n, visited = 0, 0
while n < want and visited < budget do
  local eps = redis.call('ZRANGEBYSCORE', ready, '-inf', now, 'LIMIT', 0, math.min(64, budget - visited))
  if #eps == 0 then break end
  for _, ep in ipairs(eps) do
    visited = visited + 1
    local pending, leases = prefix .. ':pending:' .. ep, prefix .. ':leases:' .. ep
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
      redis.call('ZREM', leases, id)
      if redis.call('EXISTS', prefix .. ':d:' .. ep .. '|' .. id) == 1 then
        redis.call('ZADD', pending, now, id)
      end
    end
    local free = cap - redis.call('ZCARD', leases)
    if free > 0 and n < want then
      local ids = redis.call('ZRANGEBYSCORE', pending, '-inf', now, 'LIMIT', 0, math.min(free, want - n))
      for _, id in ipairs(ids) do
        local d = prefix .. ':d:' .. ep .. '|' .. id
        redis.call('ZREM', pending, id)
        local event = redis.call('HGET', d, 'event')
        if event then
          n = n + 1
          local token = token_prefix .. '.' .. n
          local attempt = redis.call('HINCRBY', d, 'attempts', 1)
          redis.call('HSET', d, 'token', token)
          redis.call('ZADD', leases, now + lease, id)
          out[#out + 1] = ep
          out[#out + 1] = id
          out[#out + 1] = tostring(attempt)
          out[#out + 1] = token
          out[#out + 1] = event
        end
      end
    end
    rescore(prefix, ready, ep, cap)
    if n >= want then break end
  end
end
local head = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
if head[2] then out[1] = head[2] end
return out
"#
    ))
});

/// KEYS: ready set. ARGV: prefix, endpoint, event id, token, 'retry' or 'done', due
/// ms (for a retry), cap, next token ('' = no chaining), now ms, lease ms.
/// Returns {'0'} when the token no longer holds the lease; else {'1'}, followed, when
/// a next token was given and the endpoint has a due delivery and a free slot, by
/// that delivery claimed (event id, attempt, token, event JSON): the sender goes on
/// with it at once instead of a round through the claim loop.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        rescore_lua!(),
        r#"
local ready, prefix, ep, id = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local d = prefix .. ':d:' .. ep .. '|' .. id
local pending, leases = prefix .. ':pending:' .. ep, prefix .. ':leases:' .. ep
if redis.call('HGET', d, 'token') ~= ARGV[4] then return {'0'} end
redis.call('ZREM', leases, id)
if ARGV[5] == 'retry' then
  redis.call('HDEL', d, 'token')
  redis.call('ZADD', pending, tonumber(ARGV[6]), id)
else
  redis.call('DEL', d)
end
local cap = tonumber(ARGV[7])
local out = {'1'}
if ARGV[8] ~= '' and redis.call('ZCARD', leases) < cap then
  local now = tonumber(ARGV[9])
  for _, next_id in ipairs(redis.call('ZRANGEBYSCORE', pending, '-inf', now, 'LIMIT', 0, 1)) do
    local nd = prefix .. ':d:' .. ep .. '|' .. next_id
    redis.call('ZREM', pending, next_id)
    local event = redis.call('HGET', nd, 'event')
    if event then
      local attempt = redis.call('HINCRBY', nd, 'attempts', 1)
      redis.call('HSET', nd, 'token', ARGV[8])
      redis.call('ZADD', leases, now + tonumber(ARGV[10]), next_id)
      out = {'1', next_id, tostring(attempt), ARGV[8], event}
    end
  end
end
rescore(prefix, ready, ep, cap)
return out
"#
    ))
});

/// KEYS: the leader key. ARGV: this process's name, lease ms. Takes or keeps it.
static LEAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#,
    )
});

static RESIGN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"#,
    )
});

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

#[derive(Clone)]
pub struct WebhookQueue {
    conn: ConnectionManager,
}

fn member(tenant: &TenantId, endpoint: &WebhookId) -> String {
    format!("{tenant}|{endpoint}")
}

impl WebhookQueue {
    pub(crate) fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    /// Schedules deliveries, due now. `replay` re-delivers even an event that is
    /// already scheduled (with a fresh attempt count) unless it is in flight.
    /// `ttl` bounds how long a delivery's record may live (longer than the whole
    /// retry schedule). Returns how many were scheduled.
    pub async fn enqueue(
        &self,
        deliveries: &[NewDelivery<'_>],
        now_ms: i64,
        ttl: Duration,
        replay: bool,
    ) -> Result<usize, StoreError> {
        let mut scheduled = 0;
        for chunk in deliveries.chunks(200) {
            let mut call = ENQUEUE.key(keys::webhook_ready());
            call.arg(keys::WEBHOOK_SCHEDULE)
                .arg(now_ms)
                .arg(ttl.as_millis() as u64)
                .arg(if replay { "1" } else { "0" });
            for delivery in chunk {
                let json = serde_json::to_string(delivery.record)
                    .map_err(|e| StoreError::corrupt("event", e))?;
                call.arg(member(delivery.tenant, delivery.endpoint))
                    .arg(&delivery.record.id)
                    .arg(json);
            }
            let added: usize = call.invoke_async(&mut self.conn.clone()).await?;
            scheduled += added;
        }
        Ok(scheduled)
    }

    /// Leases up to `max` due deliveries, at most `cap` in flight per endpoint
    /// (counting every sender's), each for `lease`.
    pub async fn claim(
        &self,
        now_ms: i64,
        max: usize,
        cap: usize,
        lease: Duration,
    ) -> Result<Claims, StoreError> {
        let token_prefix = format!("{:016x}", rand::random::<u64>());
        let flat: Vec<String> = CLAIM
            .key(keys::webhook_ready())
            .arg(keys::WEBHOOK_SCHEDULE)
            .arg(now_ms)
            .arg(max)
            .arg(cap.max(1))
            .arg(lease.as_millis() as u64)
            .arg(&token_prefix)
            .arg((max * 4).max(64))
            .invoke_async(&mut self.conn.clone())
            .await?;
        let mut claims = Claims {
            next_due_ms: flat
                .first()
                .and_then(|s| s.parse::<f64>().ok())
                .map(|f| f as i64),
            deliveries: Vec::new(),
        };
        for item in flat.get(1..).unwrap_or_default().chunks_exact(5) {
            let [ep, id, attempt, token, event] = item else {
                continue;
            };
            if let Some(delivery) = self.parse_claim(ep, id, attempt, token, event, cap).await? {
                claims.deliveries.push(delivery);
            }
        }
        Ok(claims)
    }

    /// Ends a claimed delivery: `Some(due)` schedules the next attempt at that unix
    /// ms, `None` removes it (delivered, given up, or its endpoint is gone). `false`
    /// when the lease had already been lost (another sender owns the delivery now).
    pub async fn settle(
        &self,
        delivery: &ClaimedDelivery,
        retry_at_ms: Option<i64>,
        cap: usize,
    ) -> Result<bool, StoreError> {
        let settled = self
            .settle_raw(
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

    /// [`settle`](Self::settle), and in the same call claim the endpoint's next due
    /// delivery if it has a free slot (leased for `lease`), so a sender can go on with
    /// the same endpoint without a round through [`claim`](Self::claim).
    pub async fn settle_and_claim_next(
        &self,
        delivery: &ClaimedDelivery,
        retry_at_ms: Option<i64>,
        cap: usize,
        now_ms: i64,
        lease: Duration,
    ) -> Result<Settled, StoreError> {
        self.settle_raw(
            &delivery.member,
            &delivery.record.id,
            &delivery.token,
            retry_at_ms,
            cap,
            Some((now_ms, lease)),
        )
        .await
    }

    async fn settle_raw(
        &self,
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
        let reply: Vec<String> = SETTLE
            .key(keys::webhook_ready())
            .arg(keys::WEBHOOK_SCHEDULE)
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
            .invoke_async(&mut self.conn.clone())
            .await?;
        let held = reply.first().is_some_and(|h| h == "1");
        let next = match reply.get(1..) {
            Some([id, attempt, token, event]) => {
                self.parse_claim(member, id, attempt, token, event, cap)
                    .await?
            }
            _ => None,
        };
        Ok(Settled { held, next })
    }

    async fn drop_unreadable(
        &self,
        member: &str,
        event_id: &str,
        token: &str,
        cap: usize,
    ) -> Result<(), StoreError> {
        let _: Vec<String> = SETTLE
            .key(keys::webhook_ready())
            .arg(keys::WEBHOOK_SCHEDULE)
            .arg(member)
            .arg(event_id)
            .arg(token)
            .arg("done")
            .arg(0)
            .arg(cap.max(1))
            .arg("")
            .arg(0)
            .arg(0)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// A claimed delivery from a script's reply; an unreadable one is dropped.
    async fn parse_claim(
        &self,
        member: &str,
        id: &str,
        attempt: &str,
        token: &str,
        event: &str,
        cap: usize,
    ) -> Result<Option<ClaimedDelivery>, StoreError> {
        let parsed = member
            .split_once('|')
            .and_then(|(t, e)| Some((TenantId::parse(t).ok()?, WebhookId::parse(e).ok()?)));
        match (parsed, serde_json::from_str::<EventRecord>(event)) {
            (Some((tenant, endpoint)), Ok(record)) => Ok(Some(ClaimedDelivery {
                tenant,
                endpoint,
                attempt: attempt.parse().unwrap_or(1),
                record,
                token: token.to_string(),
                member: member.to_string(),
            })),
            _ => {
                tracing::error!(endpoint = %member, event = %id, "unreadable webhook delivery dropped");
                self.drop_unreadable(member, id, token, cap).await?;
                Ok(None)
            }
        }
    }

    /// Endpoints with scheduled deliveries (for metrics).
    pub async fn endpoints_with_work(&self) -> Result<u64, StoreError> {
        let n: u64 = redis::cmd("ZCARD")
            .arg(keys::webhook_ready())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(n)
    }

    /// Takes or renews the fan-out lease for `holder`: `true` while it holds it.
    /// The tenant feeds take events in id order only (see `events`), so one process
    /// at a time copies them.
    pub async fn lead_fanout(&self, holder: &str, lease: Duration) -> Result<bool, StoreError> {
        let held: i64 = LEAD
            .key(keys::fanout_leader())
            .arg(holder)
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(held == 1)
    }

    pub async fn resign_fanout(&self, holder: &str) -> Result<(), StoreError> {
        let _: i64 = RESIGN
            .key(keys::fanout_leader())
            .arg(holder)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
