-- Append an attempt to the endpoint's log and track how long it has been failing: a
-- success clears that, a failure past the allowed time of continuous failing
-- disables the endpoint. (Runs after webhook_names.lua.)
--
-- KEYS: endpoint hash, attempt log.
-- ARGV (after the names): attempt JSON, success ('1'/'0'), now ms, disable_after ms,
--       log length, log ttl ms, disabled reason.
-- Returns '0' (endpoint gone), '1' (recorded) or '2' (recorded, and the endpoint
-- disabled now), then the endpoint's fields as they are now (for the next attempt).
local attempt, success, now, disable_after, kept, ttl, reason = unpack(ARGV, NAMES + 1, NAMES + 7)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'0'} end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', kept, '*', A_ATTEMPT, attempt)
redis.call('PEXPIRE', KEYS[2], ttl)
local result = '1'
if success == '1' then
  redis.call('HDEL', KEYS[1], F_FAILING_SINCE)
else
  redis.call('HSETNX', KEYS[1], F_FAILING_SINCE, now)
  local since = tonumber(redis.call('HGET', KEYS[1], F_FAILING_SINCE))
  if redis.call('HGET', KEYS[1], F_STATUS) == ENABLED
      and tonumber(now) - since >= tonumber(disable_after) then
    redis.call('HSET', KEYS[1], F_STATUS, DISABLED, F_DISABLED_REASON, reason, F_DISABLED_AT, now)
    result = '2'
  end
end
local out = {result}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
