-- Cancel a message waiting for delivery: its pending recipients become `cancelled`,
-- it leaves the delayed set (a queued stream entry is skipped by the worker once it
-- sees the status), and `message.cancelled` goes to the timeline and the event
-- stream. Refused while a worker holds a claim (an attempt is running) or once final.
--
-- The message ends `cancelled`, or `delivered` when some recipients already had it
-- in an earlier attempt (the recipients say who).
--
-- A bulk message already waiting its fair turn stays there; the worker skips it.
--
-- KEYS: 1 message hash, 2 events list, 3 delayed set, 4 event stream, 5 scheduled
--       bulk owners.
-- ARGV (after the names, see message_names.lua): tenant id, message id, now ms, now
--       RFC 3339 (recipients' `updated_at`), event JSON, ttl ms, the record's sandbox
--       field name and the event JSON for a sandbox (test-key) message, then the
--       message's possible delayed-set members.
-- Returns {'cancelled', status} | {'missing'} | {'final', status} | {'claimed', status}.
local tenant, id, now, now_text, event, ttl, f_test, test_event = unpack(ARGV, NAMES + 1, NAMES + 8)
local f = redis.call('HMGET', KEYS[1], F_TENANT, F_STATUS, F_RECIPIENTS, F_TAGS, F_METADATA, f_test)
if not f[1] or f[1] ~= tenant then return {'missing'} end
local status = f[2]
if status ~= 'queued' and status ~= 'scheduled' and status ~= 'deferred' then
  return {'final', status or ''}
end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, #CLAIM_PREFIX) == CLAIM_PREFIX then return {'claimed', status} end
end
local recipients = cjson.decode(f[3] or '[]')
local outcome = 'cancelled'
for _, r in ipairs(recipients) do
  if r['status'] == 'queued' or r['status'] == 'deferred' then
    r['status'] = 'cancelled'
    r['updated_at'] = now_text
  elseif r['status'] == 'delivered' then
    outcome = 'delivered'
  end
end
if #recipients > 0 then
  redis.call('HSET', KEYS[1], F_RECIPIENTS, cjson.encode(recipients))
end
redis.call('HSET', KEYS[1], F_STATUS, outcome, F_UPDATED_AT, now, F_NEXT_ATTEMPT_AT, '')
redis.call('HDEL', KEYS[1], F_BODY)
if f[6] == '1' then event = test_event end
for i = NAMES + 9, #ARGV do redis.call('ZREM', KEYS[3], ARGV[i]) end
redis.call('HDEL', KEYS[5], id)
redis.call('RPUSH', KEYS[2], event)
redis.call('XADD', KEYS[4], '*', E_TENANT, f[1], E_MESSAGE, id, E_EVENT, event,
  E_TAGS, f[4] or '[]', E_METADATA, f[5] or '{}')
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {'cancelled', outcome}
