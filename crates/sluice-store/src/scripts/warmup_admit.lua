#!lua flags=allow-oom
-- Count one message against today's warm-up cap, if it allows. Days are UTC days of
-- Redis server time. (Runs after warmup_names.lua.)
--
-- KEYS: the target's hash.
-- ARGV (after the names): start day (days since 1970-01-01), then the daily caps.
-- Returns {allowed (1/0, -1 = warm), ramp day, cap, sent today}.
local t = redis.call('TIME')
local today = math.floor(tonumber(t[1]) / 86400)
local setbacks = tonumber(redis.call('HGET', KEYS[1], F_SETBACKS) or '0')
local day = today - tonumber(ARGV[NAMES + 1]) - setbacks
if day < 0 then day = 0 end
local caps = #ARGV - NAMES - 1
if day >= caps then return {-1, day, 0, 0} end
local cap = tonumber(ARGV[NAMES + 2 + day])
local sent = 0
if tonumber(redis.call('HGET', KEYS[1], F_SENT_DAY) or '-1') == today then
  sent = tonumber(redis.call('HGET', KEYS[1], F_SENT) or '0')
end
if sent >= cap then return {0, day, cap, sent} end
redis.call('HSET', KEYS[1], F_SENT_DAY, today, F_SENT, sent + 1)
redis.call('EXPIRE', KEYS[1], 86400 * 400)
return {1, day, cap, sent + 1}
