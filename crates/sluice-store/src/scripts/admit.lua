-- The first of a Redis Cluster's two accept calls, in the tenant's slot: per
-- message the idempotency check and the quota check; an admitted message's
-- Idempotency-Key is recorded at once (with the time, so a replay can tell a
-- message still being stored from one whose enqueue never happened). enqueue.lua
-- then stores the admitted messages in their partition. (Runs after
-- message_names.lua, fair_queue.lua and quota.lua.)
--
-- KEYS: 1-5 the tenant's quota overrides, transactional rate and day, bulk rate and
--       day; then per message its idempotency key.
-- ARGV (after the names): 1 tenant; 2-8 and 9-15 the two streams' quota (see
--       quota.lua); 16 the message count; then per message: use_idempotency,
--       fingerprint, id, status, stream.
--
-- Returns per message {outcome, id, status or retry-after ms} (created = admitted;
-- replayed and conflict add a fourth value, the record's age in ms, '' when unknown),
-- then the quota state of each stream used.
quota_setup(NAMES + 2, 1)
local out = {}
local a = NAMES + 17
for i = 1, tonumber(ARGV[NAMES + 16]) do
  local key = KEYS[5 + i]
  local use_idem, fp, id, status, stream = ARGV[a] == '1', ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  a = a + 5
  local seen, eid, estatus = nil, nil, nil
  if use_idem then seen, eid, estatus = idempotency_seen(key, fp) end
  if seen then
    local created = string.match(redis.call('GET', key), '\n[^\n]*\n[^\n]*\n([0-9]+)$')
    out[#out + 1] = seen; out[#out + 1] = eid; out[#out + 1] = estatus
    out[#out + 1] = created and tostring(now - tonumber(created)) or ''
  else
    local refused, wait = quota_take(stream)
    if refused then
      out[#out + 1] = refused; out[#out + 1] = id; out[#out + 1] = tostring(wait)
    else
      if use_idem then idempotency_keep(key, fp, id, status) end
      out[#out + 1] = 'created'; out[#out + 1] = id; out[#out + 1] = status
    end
    out[#out + 1] = ''
  end
end
quota_finish(out)
return out
