-- The tenant's quotas, shared by admit.lua and accept.lua (after message_names.lua
-- and fair_queue.lua): per stream a GCRA rate (the theoretical arrival time in the
-- rate key) and a rolling 24-hour count (per-minute buckets `m<minute>`, their sum
-- `s` and the oldest minute that may still count `f`, in the day key).
--
-- quota_setup(args_at, keys_at) reads, from ARGV[args_at], the transactional then the
-- bulk stream: its name, default per_second/burst/per_day and the names of the
-- override fields for the same three (7 each); from KEYS[keys_at], the overrides
-- hash, then the rate and day keys of each stream (5 keys).
local now = server_now_ms()
local minute = math.floor(now / 60000)
local quota_streams, quota_order, quota_overrides = {}, {}, nil
local quotas = {}

local function quota_setup(args_at, keys_at)
  quota_overrides = KEYS[keys_at]
  for s = 0, 1 do
    local b = args_at + s * 7
    local name = ARGV[b]
    quota_order[#quota_order + 1] = name
    quota_streams[name] = {
      rate = ARGV[b + 1], burst = ARGV[b + 2], day = ARGV[b + 3],
      fields = {ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]},
      rate_key = KEYS[keys_at + 1 + s * 2], day_key = KEYS[keys_at + 2 + s * 2],
    }
  end
end

local function quota(stream)
  local q = quotas[stream]
  if q then return q end
  local cfg = quota_streams[stream]
  local rate_key, day_key = cfg.rate_key, cfg.day_key
  local o = redis.call('HMGET', quota_overrides, cfg.fields[1], cfg.fields[2], cfg.fields[3])
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

-- Takes one message of `stream` from the quota: nil when it fits, else 'rate' or
-- 'daily' and the milliseconds to wait.
local function quota_take(stream)
  local q = quota(stream)
  local new_tat = q.tat + q.interval
  local allow_at = new_tat - q.burst * q.interval
  if allow_at > now then return 'rate', math.ceil(allow_at - now) end
  if q.s + 1 > q.day then return 'daily', math.ceil(day_retry(q, 1)) end
  q.tat = new_tat
  q.s = q.s + 1
  q.added = (q.added or 0) + 1
  return nil
end

-- Writes the quota state back and appends, per stream used, {name, per_second,
-- burst, per_day, rate remaining, rate reset ms, day remaining, day reset ms} to out.
local function quota_finish(out)
  for _, stream in ipairs(quota_order) do
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
end

-- The first answer to an Idempotency-Key: 'replayed' or 'conflict', its message id
-- and status; nil when the key is new.
local function idempotency_seen(key, fp)
  local existing = redis.call('GET', key)
  if not existing then return nil end
  local efp, eid, estatus = string.match(existing, '^([^\n]*)\n([^\n]*)\n([^\n]*)')
  if efp == fp then return 'replayed', eid, estatus end
  return 'conflict', eid, estatus
end

local function idempotency_keep(key, fp, id, status)
  redis.call('SET', key, fp .. '\n' .. id .. '\n' .. status .. '\n' .. now, 'EX', 86400)
end
