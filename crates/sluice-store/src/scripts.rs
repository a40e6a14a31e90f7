//! Server-side scripts: each is one atomic step of a message's life. Every key a
//! script touches is passed in KEYS and shares one hash tag (Redis Cluster safe).

use std::sync::LazyLock;

use redis::Script;

mod intake;
pub use intake::{ACCEPT, FEED_BULK, PROMOTE};

// Scripts a worker needs to move mail along carry `allow-oom` (here, and the throttle,
// adaptive-rate and warm-up scripts): when Redis is out of memory (noeviction), the
// API's intake is refused (503), but workers can still claim, take a sending slot,
// settle (which drops message bodies), record late events and move due mail, so the
// queue drains and memory frees instead of everything stopping. They need Redis 7.0
// or newer.

/// See `scripts/take_over.lua`.
pub static TAKE_OVER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/take_over.lua")));

/// See `scripts/own_idle.lua`.
pub static OWN_IDLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/own_idle.lua")));

/// Settle one delivery attempt: record the outcome and events, schedule the retry if
/// any, and only then acknowledge and delete the stream entry. Because recording and
/// acknowledging are one step, a reclaimed entry never repeats a finished delivery.
///
/// A message parked behind busy destinations is also appended to each one's wait
/// list, so a freed connection can release it before its fallback time.
///
/// Every event also goes to the event stream, for the tenant's feed and webhooks.
/// The worker's claim (see [`CLAIM`]) is released in the same step, and only a
/// claimed message is written: settling the same entry again (a retry after a lost
/// reply, or a second worker that took over a slow one) changes nothing but the
/// acknowledgement, so events are never recorded twice.
///
/// KEYS: message hash, events list, stream, delayed set, event stream, then wait
/// lists. ARGV: entry
/// id, status, recipients JSON, updated_at ms, attempts, retry due ms ('' = none),
/// delayed member, ttl_ms, drop_body ('1' once final), then event JSONs.
pub static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"#!lua flags=allow-oom
if redis.call('HEXISTS', KEYS[1], 'claim:' .. ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'recipients', ARGV[3], 'updated_at', ARGV[4],
    'attempts', ARGV[5], 'next_attempt_at', ARGV[6])
  if ARGV[9] == '1' then redis.call('HDEL', KEYS[1], 'body') end
  redis.call('HDEL', KEYS[1], 'claim:' .. ARGV[1])
  local t = redis.call('HMGET', KEYS[1], 'tenant', 'tags', 'metadata')
  local id = string.match(KEYS[1], 'msg:(.*)$')
  for i = 10, #ARGV do
    redis.call('RPUSH', KEYS[2], ARGV[i])
    redis.call('XADD', KEYS[5], '*', 't', t[1], 'm', id, 'e', ARGV[i], 'g', t[2], 'd', t[3])
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
  if ARGV[6] ~= '' then
    redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
    for i = 6, #KEYS do
      redis.call('RPUSH', KEYS[i], ARGV[7])
      redis.call('PEXPIRE', KEYS[i], 3600000)
    end
  end
end
redis.call('XACK', KEYS[3], 'workers', ARGV[1])
redis.call('XDEL', KEYS[3], ARGV[1])
return 1
"#,
    )
});

/// Record an event that arrives after delivery (a DSN bounce, a complaint, an
/// unsubscribe): the recipient's new state, the timeline, and the event stream.
/// Nothing is written when the message record is gone (past retention).
///
/// KEYS: message hash, events list, event stream. ARGV: recipient address (lowercase
/// match), new recipient status ('' = unchanged), event JSON, updated_at ms.
/// Returns 1 when recorded, 0 when the message or recipient is unknown.
pub static RECORD_EVENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"#!lua flags=allow-oom
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local recipients = cjson.decode(redis.call('HGET', KEYS[1], 'recipients') or '[]')
local found = false
for _, r in ipairs(recipients) do
  if string.lower(r['address']) == ARGV[1] then
    found = true
    if ARGV[2] ~= '' then
      r['status'] = ARGV[2]
    end
  end
end
if not found then return 0 end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'recipients', cjson.encode(recipients), 'updated_at', ARGV[4])
end
redis.call('RPUSH', KEYS[2], ARGV[3])
local t = redis.call('HMGET', KEYS[1], 'tenant', 'tags', 'metadata')
local id = string.match(KEYS[1], 'msg:(.*)$')
redis.call('XADD', KEYS[3], '*', 't', t[1], 'm', id, 'e', ARGV[3], 'g', t[2], 'd', t[3])
return 1
"#,
    )
});

/// Release up to ARGV[1] messages waiting for a busy destination: each popped member
/// still parked in the delayed set moves to its stream now. A member whose fallback
/// time already moved it (or that was parked again since) is stale and skipped, so a
/// message is never queued twice. At most ARGV[2] members are popped per call.
///
/// KEYS: wait list, delayed set, transactional stream, bulk stream.
/// Returns {released, still waiting}.
pub static RELEASE_WAITING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"#!lua flags=allow-oom
local wanted, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
local released = 0
while released < wanted and budget > 0 do
  local member = redis.call('LPOP', KEYS[1])
  if not member then break end
  budget = budget - 1
  if redis.call('ZREM', KEYS[2], member) == 1 then
    local sep = string.find(member, '|', 1, true)
    local target = KEYS[3]
    if string.sub(member, 1, sep - 1) == 'bulk' then target = KEYS[4] end
    redis.call('XADD', target, '*', 'm', string.sub(member, sep + 1))
    released = released + 1
  end
end
return {released, redis.call('LLEN', KEYS[1])}
"#,
    )
});

/// Add a domain to a tenant only if it is new. KEYS: domain set, domain hash.
/// ARGV: name, then field/value pairs.
pub static CREATE_DOMAIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
return 1
"#,
    )
});

/// Update a domain if its `version` is still the one read (compare-and-set); records
/// from before versions existed count as version 0.
///
/// KEYS: domain hash. ARGV: expected version, n, then n fields to delete, then
/// field/value pairs to set (including the new `version`).
/// Returns 'ok', 'conflict' or 'gone'.
pub static UPDATE_DOMAIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
local version = redis.call('HGET', KEYS[1], 'version') or '0'
if version ~= ARGV[1] then return 'conflict' end
local n = tonumber(ARGV[2])
if n > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 3, 2 + n)) end
local fields = {}
for i = 3 + n, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
return 'ok'
"#,
    )
});

/// Claim due domain checks: each due member's score moves to the lease's end, so no
/// other process takes it meanwhile.
///
/// KEYS: the check schedule. ARGV: now (ms), lease end (ms), limit. Returns the members.
pub static CLAIM_DOMAIN_CHECKS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
"#,
    )
});

/// A worker takes a message for an attempt: marks it claimed (`claim:<entry id>`) and
/// returns its fields, atomically, so a cancellation either happens before (and the
/// worker sees `cancelled`) or is refused while the attempt runs — a message is never
/// both cancelled and sent. Only a message waiting for delivery (`queued`, `scheduled`,
/// `deferred`, the cancellable states) is claimed; any other is returned unclaimed for
/// the caller to skip. The claim is removed by SETTLE or by discarding the entry.
///
/// KEYS: message hash. ARGV: stream entry id, now ms. Returns HGETALL's flat list
/// (empty when the record is gone).
pub static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"#!lua flags=allow-oom
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {} end
if (status == 'queued' or status == 'scheduled' or status == 'deferred')
    and redis.call('HEXISTS', KEYS[1], 'body') == 1 then
  redis.call('HSET', KEYS[1], 'claim:' .. ARGV[1], ARGV[2])
end
return redis.call('HGETALL', KEYS[1])
"#,
    )
});

/// Cancel a message waiting for delivery: its pending recipients become `cancelled`,
/// it leaves the delayed set (a queued stream entry is skipped by the worker once it
/// sees the status), and `message.cancelled` goes to the timeline and the event
/// stream. Refused while a worker holds a claim (an attempt is running) or once final.
///
/// The message ends `cancelled`, or `delivered` when some recipients already had it
/// in an earlier attempt (the recipients say who).
///
/// A bulk message already waiting its fair turn stays there; the worker skips it.
///
/// KEYS: message hash, events list, delayed set, event stream, scheduled bulk owners.
/// ARGV: tenant id, now ms, now RFC 3339 (recipients' `updated_at`), event JSON, ttl ms,
/// then the message's possible delayed-set members.
/// Returns {'cancelled', status} | {'missing'} | {'final', status} | {'claimed', status}.
pub static CANCEL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local f = redis.call('HMGET', KEYS[1], 'tenant', 'status', 'recipients', 'tags', 'metadata')
if not f[1] or f[1] ~= ARGV[1] then return {'missing'} end
local status = f[2]
if status ~= 'queued' and status ~= 'scheduled' and status ~= 'deferred' then
  return {'final', status or ''}
end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 6) == 'claim:' then return {'claimed', status} end
end
local recipients = cjson.decode(f[3] or '[]')
local outcome = 'cancelled'
for _, r in ipairs(recipients) do
  if r['status'] == 'queued' or r['status'] == 'deferred' then
    r['status'] = 'cancelled'
    r['updated_at'] = ARGV[3]
  elseif r['status'] == 'delivered' then
    outcome = 'delivered'
  end
end
if #recipients > 0 then
  redis.call('HSET', KEYS[1], 'recipients', cjson.encode(recipients))
end
redis.call('HSET', KEYS[1], 'status', outcome, 'updated_at', ARGV[2], 'next_attempt_at', '')
redis.call('HDEL', KEYS[1], 'body')
for i = 6, #ARGV do redis.call('ZREM', KEYS[3], ARGV[i]) end
local id = string.match(KEYS[1], 'msg:(.*)$')
redis.call('HDEL', KEYS[5], id)
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('XADD', KEYS[4], '*', 't', f[1], 'm', id, 'e', ARGV[4], 'g', f[4] or '[]',
  'd', f[5] or '{}')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {'cancelled', outcome}
"#,
    )
});
