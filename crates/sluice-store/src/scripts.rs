//! Server-side scripts: each is one atomic step of a message's life. Every key a
//! script touches is passed in KEYS and shares one hash tag (Redis Cluster safe).

use std::sync::LazyLock;

use redis::Script;

/// Accept a message: idempotency check, record, first event, enqueue — all or nothing.
///
/// KEYS: idempotency key, message hash, events list, stream (or delayed set when
/// scheduled), event stream. ARGV: use_idempotency, fingerprint, message id, status, due_ms ('' = now),
/// delayed member, ttl_ms, event JSON, then field/value pairs for the message hash.
/// Returns {'created'|'replayed'|'conflict', id, status}.
pub static ACCEPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local use_idem = ARGV[1] == '1'
if use_idem then
  local existing = redis.call('GET', KEYS[1])
  if existing then
    local fp, id, status = string.match(existing, '^([^\n]*)\n([^\n]*)\n([^\n]*)$')
    if fp == ARGV[2] then return {'replayed', id, status} end
    return {'conflict', id, status}
  end
end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('RPUSH', KEYS[3], ARGV[8])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
local t = redis.call('HMGET', KEYS[2], 'tenant', 'tags', 'metadata')
redis.call('XADD', KEYS[5], '*', 't', t[1], 'm', ARGV[3], 'e', ARGV[8], 'g', t[2], 'd', t[3])
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
else
  redis.call('XADD', KEYS[4], '*', 'm', ARGV[3])
end
if use_idem then
  redis.call('SET', KEYS[1], ARGV[2] .. '\n' .. ARGV[3] .. '\n' .. ARGV[4], 'EX', 86400)
end
return {'created', ARGV[3], ARGV[4]}
"#,
    )
});

/// Settle one delivery attempt: record the outcome and events, schedule the retry if
/// any, and only then acknowledge and delete the stream entry. Because recording and
/// acknowledging are one step, a reclaimed entry never repeats a finished delivery.
///
/// A message parked behind busy destinations is also appended to each one's wait
/// list, so a freed connection can release it before its fallback time.
///
/// Every event also goes to the event stream, for the tenant's feed and webhooks.
///
/// KEYS: message hash, events list, stream, delayed set, event stream, then wait
/// lists. ARGV: entry
/// id, status, recipients JSON, updated_at ms, attempts, retry due ms ('' = none),
/// delayed member, ttl_ms, drop_body ('1' once final), then event JSONs.
pub static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'recipients', ARGV[3], 'updated_at', ARGV[4],
    'attempts', ARGV[5], 'next_attempt_at', ARGV[6])
  if ARGV[9] == '1' then redis.call('HDEL', KEYS[1], 'body') end
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

/// Move due members of the delayed set back to their stream.
///
/// KEYS: delayed set, transactional stream, bulk stream. ARGV: now ms, max count.
pub static PROMOTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  local sep = string.find(member, '|', 1, true)
  local target = KEYS[2]
  if string.sub(member, 1, sep - 1) == 'bulk' then target = KEYS[3] end
  redis.call('XADD', target, '*', 'm', string.sub(member, sep + 1))
  redis.call('ZREM', KEYS[1], member)
end
return #due
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
        r#"
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
        r#"
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
