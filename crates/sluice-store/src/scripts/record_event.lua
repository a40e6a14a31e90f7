#!lua flags=allow-oom
-- Record an event that arrives after delivery (a DSN bounce, a complaint, an
-- unsubscribe): the recipient's new state, the timeline, and the event stream.
-- Nothing is written when the message record is gone (past retention).
--
-- KEYS: message hash, events list, event stream.
-- ARGV (after the names, see message_names.lua): message id, recipient address
--       (lower-case match), new recipient status ('' = unchanged), event JSON,
--       updated_at ms.
-- Returns 1 when recorded, 0 when the message or recipient is unknown.
local id, address, status, event, updated_at = unpack(ARGV, NAMES + 1, NAMES + 5)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local recipients = cjson.decode(redis.call('HGET', KEYS[1], F_RECIPIENTS) or '[]')
local found = false
for _, r in ipairs(recipients) do
  if string.lower(r['address']) == address then
    found = true
    if status ~= '' then
      r['status'] = status
    end
  end
end
if not found then return 0 end
if status ~= '' then
  redis.call('HSET', KEYS[1], F_RECIPIENTS, cjson.encode(recipients), F_UPDATED_AT, updated_at)
end
redis.call('RPUSH', KEYS[2], event)
local t = redis.call('HMGET', KEYS[1], F_TENANT, F_TAGS, F_METADATA)
redis.call('XADD', KEYS[3], '*', E_TENANT, t[1], E_MESSAGE, id, E_EVENT, event,
  E_TAGS, t[2], E_METADATA, t[3])
return 1
