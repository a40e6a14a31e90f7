-- Accept one or more messages of one tenant: per message, the idempotency check,
-- the quota check, the record, the first event and the enqueue; each message all
-- or nothing, in request order. (Runs after message_names.lua and fair_queue.lua.)
--
-- KEYS: 1 event stream, 2 transactional stream, 3 bulk stream, 4 delayed set,
--       5 the tenant's quota overrides, 6 transactional rate, 7 transactional day,
--       8 bulk rate, 9 bulk day, 10 fair set, 11 fair virtual times, 12 scheduled
--       bulk owners; then per message: idempotency key, message hash, events list.
--
-- ARGV (after the names): 1 tenant; 2-8 and 9-15, the transactional then the bulk
--       stream: its name, default per_second/burst/per_day, and the names of the
--       override fields for the same three; 16 the unread bulk backlog under which
--       bulk skips the fair set; 17 the message count; then per message:
--       use_idempotency, fingerprint, id, status, due_ms ('' = now), delayed member,
--       ttl_ms, event JSON, stream, field count, fields.
--
-- Returns per message {outcome, id, status or retry-after ms}, outcome one of
-- created, replayed, conflict, rate, daily; then per stream used {name, per_second,
-- burst, per_day, rate remaining, rate reset ms, day remaining, day reset ms}.
local now = server_now_ms()
local minute = math.floor(now / 60000)
local tenant = ARGV[NAMES + 1]
local streams, order = {}, {}
for s = 0, 1 do
  local b = NAMES + 2 + s * 7
  local name = ARGV[b]
  order[#order + 1] = name
  streams[name] = {
    rate = ARGV[b + 1], burst = ARGV[b + 2], day = ARGV[b + 3],
    fields = {ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]},
    rate_key = KEYS[6 + s * 2], day_key = KEYS[7 + s * 2],
  }
end
local fair_backlog = tonumber(ARGV[NAMES + 16])
local quotas = {}

local function quota(stream)
  local q = quotas[stream]
  if q then return q end
  local cfg = streams[stream]
  local rate_key, day_key = cfg.rate_key, cfg.day_key
  local o = redis.call('HMGET', KEYS[5], cfg.fields[1], cfg.fields[2], cfg.fields[3])
  q = { rate = tonumber(o[1] or cfg.rate), burst = tonumber(o[2] or cfg.burst),
        day = tonumber(o[3] or cfg.day), rate_key = rate_key, day_key = day_key }
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
  if fair_empty and backlog < fair_backlog then
    redis.call('XADD', KEYS[3], '*', Q_MESSAGE, id)
    backlog = backlog + 1
  else
    fair_push(KEYS[10], KEYS[11], tenant, id)
    fair_empty = false
  end
end

local out = {}
local a = NAMES + 18
for i = 1, tonumber(ARGV[NAMES + 17]) do
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
      local t = redis.call('HMGET', KEYS[k + 2], F_TAGS, F_METADATA)
      redis.call('XADD', KEYS[1], '*', E_TENANT, tenant, E_MESSAGE, id, E_EVENT, event,
        E_TAGS, t[1], E_METADATA, t[2])
      if due ~= '' then
        redis.call('ZADD', KEYS[4], due, member)
        if stream == BULK then redis.call('HSET', KEYS[12], id, tenant) end
      elseif stream == BULK then
        enqueue_bulk(id)
      else
        redis.call('XADD', KEYS[2], '*', Q_MESSAGE, id)
      end
      if use_idem then
        redis.call('SET', KEYS[k + 1], fp .. '\n' .. id .. '\n' .. status, 'EX', 86400)
      end
      out[#out + 1] = 'created'; out[#out + 1] = id; out[#out + 1] = status
    end
  end
end

for _, stream in ipairs(order) do
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
