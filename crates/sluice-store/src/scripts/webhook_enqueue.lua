-- Schedule deliveries, due now. A delivery that already exists is left alone (a
-- repeated fan-out); one in flight is never touched.
--
-- KEYS: ready set.
-- ARGV: the delivery hash, pending set and lease set prefixes
--       (`keys::webhook_schedule_prefixes`), now ms, ttl ms, replay ('1' = make it
--       due now with a fresh attempt count even if it exists), then (endpoint,
--       event id, event JSON) triples.
-- Returns how many were scheduled.
local ready = KEYS[1]
local d_prefix, pending_prefix, leases_prefix = ARGV[1], ARGV[2], ARGV[3]
local now, ttl, replay = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
local added = 0
for i = 7, #ARGV, 3 do
  local ep, id, event = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local d = d_prefix .. ep .. '|' .. id
  local fresh = redis.call('EXISTS', d) == 0
  if replay then
    fresh = not redis.call('ZSCORE', leases_prefix .. ep, id)
  end
  if fresh then
    redis.call('HSET', d, 'attempts', 0, 'event', event, 'created_at', now)
    redis.call('HDEL', d, 'token')
    redis.call('PEXPIRE', d, ttl)
    redis.call('ZADD', pending_prefix .. ep, now, id)
    redis.call('ZADD', ready, 'LT', now, ep)
    added = added + 1
  end
end
return added
