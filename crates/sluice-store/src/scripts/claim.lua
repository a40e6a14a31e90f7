#!lua flags=allow-oom
-- A worker takes a message for an attempt: marks it claimed (the claim field) and
-- returns its fields, atomically, so a cancellation either happens before (and the
-- worker sees `cancelled`) or is refused while the attempt runs: a message is never
-- both cancelled and sent. Only a message waiting for delivery (`queued`,
-- `scheduled`, `deferred`, the cancellable states) is claimed; any other is returned
-- unclaimed for the caller to skip. The claim is removed by settle.lua or by
-- discarding the entry.
--
-- KEYS: message hash.
-- ARGV (after the names, see message_names.lua): claim field, now ms.
-- Returns HGETALL's flat list (empty when the record is gone).
local claim, now = unpack(ARGV, NAMES + 1, NAMES + 2)
local status = redis.call('HGET', KEYS[1], F_STATUS)
if not status then return {} end
if (status == 'queued' or status == 'scheduled' or status == 'deferred')
    and redis.call('HEXISTS', KEYS[1], F_BODY) == 1 then
  redis.call('HSET', KEYS[1], claim, now)
end
return redis.call('HGETALL', KEYS[1])
