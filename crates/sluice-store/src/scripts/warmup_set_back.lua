#!lua flags=allow-oom
-- The provider pushed back today: the ramp loses a day, at most once a day however
-- many throttling replies the day brings. (Runs after warmup_names.lua.)
--
-- KEYS: the target's hash.
-- Returns 1 when the ramp was set back, 0 when it already was today.
local t = redis.call('TIME')
local today = math.floor(tonumber(t[1]) / 86400)
if tonumber(redis.call('HGET', KEYS[1], F_SETBACK_DAY) or '-1') == today then return 0 end
redis.call('HINCRBY', KEYS[1], F_SETBACKS, 1)
redis.call('HSET', KEYS[1], F_SETBACK_DAY, today)
redis.call('EXPIRE', KEYS[1], 86400 * 400)
return 1
