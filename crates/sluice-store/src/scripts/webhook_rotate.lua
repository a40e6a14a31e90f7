-- Replace an endpoint's signing secret, keeping the old one (which signs too until
-- its expiry). (Runs after webhook_names.lua.)
--
-- KEYS: endpoint hash.
-- ARGV (after the names): new secret, the previous secret's expiry (ms).
-- Returns 1, or 0 when there is no such endpoint.
local secret, expires_at = ARGV[NAMES + 1], ARGV[NAMES + 2]
local current = redis.call('HGET', KEYS[1], F_SECRET)
if not current then return 0 end
redis.call('HSET', KEYS[1], F_SECRET, secret, F_PREVIOUS_SECRET, current,
  F_PREVIOUS_SECRET_EXPIRES_AT, expires_at)
return 1
