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

use redis::Script;

/// Shared Lua: server time, the fair-queue insert and the unread count of a stream.
const COMMON: &str = r#"
local function server_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function unread(stream)
  local pending = 0
  local p = redis.pcall('XPENDING', stream, 'workers')
  if type(p) == 'table' and not p.err then pending = tonumber(p[1]) end
  return redis.call('XLEN', stream) - pending
end
-- Queue a bulk message fairly. fair: sorted set, vt: hash of virtual times
-- ('_' = the score last served). Returns nothing.
local function fair_push(fair, vt, tenant, id)
  local served = tonumber(redis.call('HGET', vt, '_') or '0')
  local last = tonumber(redis.call('HGET', vt, tenant) or '0')
  if last < served then last = served end
  last = last + 1
  redis.call('HSET', vt, tenant, last)
  redis.call('ZADD', fair, last, id)
end
"#;

/// Accept one or more messages of one tenant: per message, the idempotency check,
/// the quota check, the record, the first event and the enqueue — each message all
/// or nothing, in request order.
///
/// KEYS: 1 event stream, 2 transactional stream, 3 bulk stream, 4 delayed set,
/// 5 the tenant's quota overrides, 6 transactional rate, 7 transactional day,
/// 8 bulk rate, 9 bulk day, 10 fair set, 11 fair virtual times, 12 scheduled bulk
/// owners; then per message: idempotency key, message hash, events list.
///
/// ARGV: 1 tenant, 2-4 default transactional per_second/burst/per_day, 5-7 the same
/// for bulk, 8 the unread bulk backlog under which bulk skips the fair set, 9 the
/// message count; then per message: use_idempotency, fingerprint, id, status, due_ms
/// ('' = now), delayed member, ttl_ms, event JSON, stream, field count, fields.
///
/// Returns per message {outcome, id, status or retry-after ms}, outcome one of
/// created, replayed, conflict, rate, daily; then per stream used {name, per_second,
/// burst, per_day, rate remaining, rate reset ms, day remaining, day reset ms}.
pub static ACCEPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{COMMON}{}",
        r#"
local now = server_now_ms()
local minute = math.floor(now / 60000)
local tenant = ARGV[1]
local quotas = {}

local function quota(stream)
  local q = quotas[stream]
  if q then return q end
  local base, rate_key, day_key = 2, KEYS[6], KEYS[7]
  if stream == 'bulk' then base, rate_key, day_key = 5, KEYS[8], KEYS[9] end
  local o = redis.call('HMGET', KEYS[5], stream .. '.per_second', stream .. '.burst',
    stream .. '.per_day')
  q = { rate = tonumber(o[1] or ARGV[base]), burst = tonumber(o[2] or ARGV[base + 1]),
        day = tonumber(o[3] or ARGV[base + 2]), rate_key = rate_key, day_key = day_key }
  q.interval = 1000 / q.rate
  q.tat = tonumber(redis.call('GET', rate_key) or '0')
  if q.tat < now then q.tat = now end
  -- Drop the buckets that left the window and find the oldest that still counts.
  local f = tonumber(redis.call('HGET', day_key, 'f') or minute)
  local s = tonumber(redis.call('HGET', day_key, 's') or '0')
  local cutoff = minute - 1439
  if f < cutoff - 1440 then
    redis.call('DEL', day_key)
    f, s = minute, 0
  else
    while f < cutoff do
      local c = redis.call('HGET', day_key, 'm' .. f)
      if c then
        s = s - tonumber(c)
        redis.call('HDEL', day_key, 'm' .. f)
      end
      f = f + 1
    end
    if s <= 0 then
      s, f = 0, minute
    else
      while f < minute and not redis.call('HGET', day_key, 'm' .. f) do f = f + 1 end
    end
  end
  q.f, q.s = f, s
  quotas[stream] = q
  return q
end

-- Milliseconds until `need` more messages fit in the rolling day.
local function day_retry(q, need)
  local freed, m = 0, q.f
  while m <= minute do
    freed = freed + tonumber(redis.call('HGET', q.day_key, 'm' .. m) or '0')
    if q.s - freed + need <= q.day then return (m + 1440) * 60000 - now end
    m = m + 1
  end
  return 86400000
end

local fair_empty, backlog = nil, nil
local function enqueue_bulk(id)
  if fair_empty == nil then
    fair_empty = redis.call('ZCARD', KEYS[10]) == 0
    backlog = unread(KEYS[3])
  end
  if fair_empty and backlog < tonumber(ARGV[8]) then
    redis.call('XADD', KEYS[3], '*', 'm', id)
    backlog = backlog + 1
  else
    fair_push(KEYS[10], KEYS[11], tenant, id)
    fair_empty = false
  end
end

local out = {}
local a = 10
for i = 1, tonumber(ARGV[9]) do
  local k = 12 + (i - 1) * 3
  local use_idem, fp, id, status, due = ARGV[a] == '1', ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local member, ttl, event, stream, nfields = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], tonumber(ARGV[a + 9])
  local fields_at = a + 10
  a = fields_at + nfields
  local done = false
  if use_idem then
    local existing = redis.call('GET', KEYS[k + 1])
    if existing then
      local efp, eid, estatus = string.match(existing, '^([^\n]*)\n([^\n]*)\n([^\n]*)$')
      if efp == fp then
        out[#out + 1] = 'replayed'
      else
        out[#out + 1] = 'conflict'
      end
      out[#out + 1] = eid
      out[#out + 1] = estatus
      done = true
    end
  end
  if not done then
    local q = quota(stream)
    local new_tat = q.tat + q.interval
    local allow_at = new_tat - q.burst * q.interval
    if allow_at > now then
      out[#out + 1] = 'rate'; out[#out + 1] = id
      out[#out + 1] = tostring(math.ceil(allow_at - now))
    elseif q.s + 1 > q.day then
      out[#out + 1] = 'daily'; out[#out + 1] = id
      out[#out + 1] = tostring(math.ceil(day_retry(q, 1)))
    else
      q.tat = new_tat
      q.s = q.s + 1
      q.added = (q.added or 0) + 1
      local fields = {}
      for j = fields_at, fields_at + nfields - 1 do fields[#fields + 1] = ARGV[j] end
      redis.call('HSET', KEYS[k + 2], unpack(fields))
      redis.call('PEXPIRE', KEYS[k + 2], ttl)
      redis.call('RPUSH', KEYS[k + 3], event)
      redis.call('PEXPIRE', KEYS[k + 3], ttl)
      local t = redis.call('HMGET', KEYS[k + 2], 'tags', 'metadata')
      redis.call('XADD', KEYS[1], '*', 't', tenant, 'm', id, 'e', event, 'g', t[1], 'd', t[2])
      if due ~= '' then
        redis.call('ZADD', KEYS[4], due, member)
        if stream == 'bulk' then redis.call('HSET', KEYS[12], id, tenant) end
      elseif stream == 'bulk' then
        enqueue_bulk(id)
      else
        redis.call('XADD', KEYS[2], '*', 'm', id)
      end
      if use_idem then
        redis.call('SET', KEYS[k + 1], fp .. '\n' .. id .. '\n' .. status, 'EX', 86400)
      end
      out[#out + 1] = 'created'; out[#out + 1] = id; out[#out + 1] = status
    end
  end
end

for _, stream in ipairs({'transactional', 'bulk'}) do
  local q = quotas[stream]
  if q then
    if q.added then
      redis.call('SET', q.rate_key, tostring(q.tat), 'PX', math.ceil(q.tat - now) + 1000)
      redis.call('HINCRBY', q.day_key, 'm' .. minute, q.added)
    end
    if q.s > 0 then
      redis.call('HSET', q.day_key, 's', q.s, 'f', q.f)
      redis.call('PEXPIRE', q.day_key, 86460000)
    else
      redis.call('DEL', q.day_key)
    end
    local remaining = math.floor((now - (q.tat - q.burst * q.interval)) / q.interval)
    if remaining > q.burst then remaining = q.burst end
    if remaining < 0 then remaining = 0 end
    local day_left = q.day - q.s
    if day_left < 0 then day_left = 0 end
    local day_reset = 0
    if q.s > 0 then day_reset = (q.f + 1440) * 60000 - now end
    out[#out + 1] = stream
    out[#out + 1] = tostring(q.rate)
    out[#out + 1] = tostring(q.burst)
    out[#out + 1] = tostring(q.day)
    out[#out + 1] = tostring(remaining)
    out[#out + 1] = tostring(math.ceil(q.tat - now))
    out[#out + 1] = tostring(day_left)
    out[#out + 1] = tostring(day_reset)
  end
end
return out
"#
    ))
});

/// Move due members of the delayed set back to their stream. Scheduled bulk mail
/// (its owner recorded at accept) goes through the fair queue, so a campaign
/// scheduled for 9:00 does not starve other tenants at 9:00; retries go straight
/// back.
///
/// KEYS: delayed set, transactional stream, bulk stream, fair set, fair virtual
/// times, scheduled bulk owners. ARGV: now ms, max count, unread bulk backlog under
/// which bulk skips the fair set.
pub static PROMOTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "#!lua flags=allow-oom\n{COMMON}{}",
        r#"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local fair_empty = redis.call('ZCARD', KEYS[4]) == 0
local backlog = nil
for _, member in ipairs(due) do
  local sep = string.find(member, '|', 1, true)
  local id = string.sub(member, sep + 1)
  if string.sub(member, 1, sep - 1) == 'bulk' then
    local owner = redis.call('HGET', KEYS[6], id)
    if owner then redis.call('HDEL', KEYS[6], id) end
    if backlog == nil then backlog = unread(KEYS[3]) end
    if owner and not (fair_empty and backlog < tonumber(ARGV[3])) then
      fair_push(KEYS[4], KEYS[5], owner, id)
      fair_empty = false
    else
      redis.call('XADD', KEYS[3], '*', 'm', id)
      backlog = backlog + 1
    end
  else
    redis.call('XADD', KEYS[2], '*', 'm', id)
  end
  redis.call('ZREM', KEYS[1], member)
end
return #due
"#
    ))
});

/// Top the bulk stream up from the fair set: up to ARGV[2] messages, lowest scores
/// first, while the stream has fewer than ARGV[1] unread entries. Forgets the
/// virtual times once the set is empty (everyone starts equal again).
///
/// KEYS: fair set, fair virtual times, bulk stream. Returns the count moved.
pub static FEED_BULK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "#!lua flags=allow-oom\n{COMMON}{}",
        r#"
local room = tonumber(ARGV[1]) - unread(KEYS[3])
if room > tonumber(ARGV[2]) then room = tonumber(ARGV[2]) end
if room <= 0 then return 0 end
local popped = redis.call('ZPOPMIN', KEYS[1], room)
for i = 1, #popped, 2 do
  redis.call('XADD', KEYS[3], '*', 'm', popped[i])
end
if #popped > 0 then redis.call('HSET', KEYS[2], '_', popped[#popped]) end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return #popped / 2
"#
    ))
});
