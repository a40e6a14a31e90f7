-- Shared by the intake scripts (after message_names.lua): server time, the unread
-- count of a stream, and the fair-queue insert.
local function server_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function unread(stream)
  local pending = 0
  local p = redis.pcall('XPENDING', stream, GROUP)
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
