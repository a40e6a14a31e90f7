#!lua flags=allow-oom
-- Settle one delivery attempt: record the outcome and events, schedule the retry if
-- any, and only then acknowledge and delete the stream entry. Because recording and
-- acknowledging are one step, a reclaimed entry never repeats a finished delivery.
--
-- A message parked behind busy destinations is also appended to each one's wait
-- list, so a freed connection can release it before its fallback time.
--
-- Every event also goes to the event stream, for the tenant's feed and webhooks.
-- The worker's claim (see claim.lua) is released in the same step, and only a
-- claimed message is written: settling the same entry again (a retry after a lost
-- reply, or a second worker that took over a slow one) changes nothing but the
-- acknowledgement, so events are never recorded twice.
--
-- KEYS: 1 message hash, 2 events list, 3 stream, 4 delayed set, 5 event stream,
--       6.. wait lists.
-- ARGV (after the names, see message_names.lua): entry id, claim field, message id,
--       status, recipients JSON, updated_at ms, attempts, retry due ms ('' = none),
--       delayed member, ttl ms, drop body ('1' once final), then event JSONs.
-- Returns 1.
local entry, claim, id, status, recipients, updated_at, attempts, due, member, ttl, drop_body =
  unpack(ARGV, NAMES + 1, NAMES + 11)
if redis.call('HEXISTS', KEYS[1], claim) == 1 then
  redis.call('HSET', KEYS[1], F_STATUS, status, F_RECIPIENTS, recipients,
    F_UPDATED_AT, updated_at, F_ATTEMPTS, attempts, F_NEXT_ATTEMPT_AT, due)
  if drop_body == '1' then redis.call('HDEL', KEYS[1], F_BODY) end
  redis.call('HDEL', KEYS[1], claim)
  local t = redis.call('HMGET', KEYS[1], F_TENANT, F_TAGS, F_METADATA)
  for i = NAMES + 12, #ARGV do
    redis.call('RPUSH', KEYS[2], ARGV[i])
    redis.call('XADD', KEYS[5], '*', E_TENANT, t[1], E_MESSAGE, id, E_EVENT, ARGV[i],
      E_TAGS, t[2], E_METADATA, t[3])
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  if due ~= '' then
    redis.call('ZADD', KEYS[4], due, member)
    for i = 6, #KEYS do
      redis.call('RPUSH', KEYS[i], member)
      redis.call('PEXPIRE', KEYS[i], 3600000)
    end
  end
end
redis.call('XACK', KEYS[3], GROUP, entry)
redis.call('XDEL', KEYS[3], entry)
return 1
