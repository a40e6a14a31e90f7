-- End a claimed delivery: schedule its retry or remove it, and optionally claim the
-- endpoint's next due delivery in the same call, so the sender goes on with it at
-- once instead of a round through the claim loop. (Runs after webhook_rescore.lua.)
--
-- KEYS: ready set.
-- ARGV: the delivery hash, pending set and lease set prefixes, endpoint, event id,
--       token, 'retry' or 'done', due ms (for a retry), cap, next token ('' = no
--       chaining), now ms, lease ms.
-- Returns {'0'} when the token no longer holds the lease; else {'1'}, followed, when
-- a next token was given and the endpoint has a due delivery and a free slot, by
-- that delivery claimed (event id, attempt, token, event JSON).
local ready = KEYS[1]
local d_prefix, pending_prefix, leases_prefix = ARGV[1], ARGV[2], ARGV[3]
local ep, id, token, outcome, due = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local cap, next_token, now, lease = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12])
local d = d_prefix .. ep .. '|' .. id
local pending, leases = pending_prefix .. ep, leases_prefix .. ep
if redis.call('HGET', d, 'token') ~= token then return {'0'} end
redis.call('ZREM', leases, id)
if outcome == 'retry' then
  redis.call('HDEL', d, 'token')
  redis.call('ZADD', pending, due, id)
else
  redis.call('DEL', d)
end
local out = {'1'}
if next_token ~= '' and redis.call('ZCARD', leases) < cap then
  for _, next_id in ipairs(redis.call('ZRANGEBYSCORE', pending, '-inf', now, 'LIMIT', 0, 1)) do
    local nd = d_prefix .. ep .. '|' .. next_id
    redis.call('ZREM', pending, next_id)
    local event = redis.call('HGET', nd, 'event')
    if event then
      local attempt = redis.call('HINCRBY', nd, 'attempts', 1)
      redis.call('HSET', nd, 'token', next_token)
      redis.call('ZADD', leases, now + lease, next_id)
      out = {'1', next_id, tostring(attempt), next_token, event}
    end
  end
end
rescore(pending_prefix, leases_prefix, ready, ep, cap)
return out
