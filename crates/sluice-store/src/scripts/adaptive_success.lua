#!lua flags=allow-oom
-- A clean delivery: raises the target's rate (up to the ceiling) and clears its
-- strikes. (Runs after adaptive_names.lua.)
--
-- KEYS: the target's hash (one key: one hash slot).
-- ARGV (after the names): ceiling, increase.
-- Returns the new rate.
local ceiling = tonumber(ARGV[NAMES + 1])
local rate = tonumber(redis.call('HGET', KEYS[1], F_RATE) or ceiling)
rate = math.min(ceiling, rate + tonumber(ARGV[NAMES + 2]))
redis.call('HSET', KEYS[1], F_RATE, rate, F_STRIKES, 0)
redis.call('EXPIRE', KEYS[1], 2592000)
return rate
