#!lua flags=allow-oom
-- This consumer's own entries idle for at least ARGV[3] ms, claimed again by it (which
-- resets their idle time). The caller keeps those it is not working on: entries it
-- read and then lost track of (a load or settle that failed while Redis restarted, a
-- task that ended), so they are retried at once instead of waiting for a takeover
-- that never comes (the process is alive).
--
-- KEYS: stream. ARGV: group, consumer, min idle ms, max entries.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', tonumber(ARGV[3]), '-', '+',
  tonumber(ARGV[4]), ARGV[2])
if #pending == 0 then return {} end
local ids = {}
for i, entry in ipairs(pending) do ids[i] = entry[1] end
return redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), unpack(ids))
