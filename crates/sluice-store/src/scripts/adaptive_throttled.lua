#!lua flags=allow-oom
-- A throttling reply: halves the target's rate (not below the floor); past the
-- threshold of strikes in a row, suspends it until now + cooldown (server time).
-- (Runs after adaptive_names.lua.)
--
-- KEYS: the target's hash.
-- ARGV (after the names): ceiling, floor, suspend_after, cooldown ms.
-- Returns the new rate.
local ceiling, floor, suspend_after, cooldown = unpack(ARGV, NAMES + 1, NAMES + 4)
ceiling = tonumber(ceiling)
local rate = tonumber(redis.call('HGET', KEYS[1], F_RATE) or ceiling)
rate = math.max(tonumber(floor), math.floor(rate / 2))
local strikes = tonumber(redis.call('HGET', KEYS[1], F_STRIKES) or '0') + 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if strikes >= tonumber(suspend_after) then
  redis.call('HSET', KEYS[1], F_SUSPENDED_UNTIL, now + tonumber(cooldown), F_SUSPENSION, ADAPTIVE)
  strikes = 0
end
redis.call('HSET', KEYS[1], F_RATE, rate, F_STRIKES, strikes)
redis.call('EXPIRE', KEYS[1], 2592000)
return rate
