#!lua flags=allow-oom
-- Take over the pending entries of a worker process that is no longer alive.
--
-- A process is dead when its liveness key says `gone` (it stopped and handed its
-- entries back), or when the key has expired and the consumer has not talked to
-- Redis for a whole liveness period (a process from before liveness keys existed
-- keeps reading every few seconds, so it is never mistaken for dead). Checking and
-- claiming in one step means two takers never claim the same entry, and a process
-- that comes back between them keeps what it has.
--
-- A dead consumer with nothing pending is removed from the group.
--
-- KEYS: stream, the victim's liveness key.
-- ARGV: group, victim, taker, max entries, the victim's idle ms (XINFO CONSUMERS),
--       liveness ttl ms, '1' when an expired key may count as dead ('0' right after
--       a Redis restart, when live processes may not have announced themselves yet),
--       the liveness key's value while its process lives.
-- Returns XCLAIM's reply: the claimed entries with their fields.
local state = redis.call('GET', KEYS[2])
if state == ARGV[8] then return {} end
if not state and (ARGV[7] ~= '1' or tonumber(ARGV[5]) < tonumber(ARGV[6])) then return {} end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[4]), ARGV[2])
if #pending == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return {}
end
local ids = {}
for i, entry in ipairs(pending) do ids[i] = entry[1] end
return redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, unpack(ids))
