-- Re-enable an endpoint and forget its failures. (Runs after webhook_names.lua.)
--
-- KEYS: endpoint hash.
-- Returns 1, or 0 when there is no such endpoint.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], F_STATUS, ENABLED)
redis.call('HDEL', KEYS[1], F_DISABLED_REASON, F_DISABLED_AT, F_FAILING_SINCE)
return 1
