-- Lease due deliveries, at most `cap` in flight per endpoint across all senders.
-- (Runs after webhook_rescore.lua.)
--
-- KEYS: ready set.
-- ARGV: the delivery hash, pending set and lease set prefixes, now ms, how many to
--       claim, per-endpoint cap, lease ms, token prefix, endpoints to visit at most.
-- Returns the ready set's next score ('' when empty), then (endpoint, event id,
-- attempt number, token, event JSON) per claimed delivery.
local ready = KEYS[1]
local d_prefix, pending_prefix, leases_prefix = ARGV[1], ARGV[2], ARGV[3]
local now, want, cap, lease = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local token_prefix, budget = ARGV[8], tonumber(ARGV[9])
local out = {''}
local n, visited = 0, 0
while n < want and visited < budget do
  local eps = redis.call('ZRANGEBYSCORE', ready, '-inf', now, 'LIMIT', 0, math.min(64, budget - visited))
  if #eps == 0 then break end
  for _, ep in ipairs(eps) do
    visited = visited + 1
    local pending, leases = pending_prefix .. ep, leases_prefix .. ep
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
      redis.call('ZREM', leases, id)
      if redis.call('EXISTS', d_prefix .. ep .. '|' .. id) == 1 then
        redis.call('ZADD', pending, now, id)
      end
    end
    local free = cap - redis.call('ZCARD', leases)
    if free > 0 and n < want then
      local ids = redis.call('ZRANGEBYSCORE', pending, '-inf', now, 'LIMIT', 0, math.min(free, want - n))
      for _, id in ipairs(ids) do
        local d = d_prefix .. ep .. '|' .. id
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
    rescore(pending_prefix, leases_prefix, ready, ep, cap)
    if n >= want then break end
  end
end
local head = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
if head[2] then out[1] = head[2] end
return out
