-- Accept one or more messages of one tenant on a single Redis server, in one call:
-- per message the idempotency check, the quota check, the record, the first event
-- and the enqueue; each message all or nothing, in request order. (Runs after
-- message_names.lua, fair_queue.lua, quota.lua and enqueue_message.lua.) A Redis
-- Cluster does the same in two calls, admit.lua in the tenant's slot and
-- enqueue.lua in the partition's.
--
-- KEYS: 1-5 the tenant's quota overrides, transactional rate and day, bulk rate and
--       day; then for each partition used its 7 queue keys (see enqueue_message.lua);
--       then the shared contents' keys; then per message: idempotency key, message
--       hash, events list.
--
-- ARGV (after the names): 1 tenant; 2-8 and 9-15 the transactional then the bulk
--       stream's quota (see quota.lua); 16 the unread bulk backlog under which bulk
--       skips the fair set; 17 the message count; 18 the partitions used; 19 the
--       shared contents' count, 20 their expiry margin (ms), then each content; then
--       per message: use_idempotency, fingerprint, id, status, due_ms ('' = now),
--       delayed member, ttl_ms, event JSON, stream, its partition's number among
--       those used (1-based), its content's number (0 = none), field count, fields.
--
-- Returns per message {outcome, id, status or retry-after ms}, outcome one of
-- created, replayed, conflict, rate, daily; then the quota state of each stream used
-- (see quota_finish).
quota_setup(NAMES + 2, 1)
local tenant = ARGV[NAMES + 1]
local fair_backlog = tonumber(ARGV[NAMES + 16])
local used = tonumber(ARGV[NAMES + 18])
local ncontents = tonumber(ARGV[NAMES + 19])
contents_setup(6 + used * 7, NAMES + 21, ncontents, ARGV[NAMES + 20])
local out = {}
local a = NAMES + 21 + ncontents
for i = 1, tonumber(ARGV[NAMES + 17]) do
  local k = 5 + used * 7 + ncontents + (i - 1) * 3
  local use_idem, fp, id, status, due = ARGV[a] == '1', ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local m = { key = KEYS[k + 2], events = KEYS[k + 3], tenant = tenant, id = id, due = due,
    member = ARGV[a + 5], ttl = ARGV[a + 6], event = ARGV[a + 7], stream = ARGV[a + 8],
    content = tonumber(ARGV[a + 10]), nfields = tonumber(ARGV[a + 11]), fields_at = a + 12,
    fair_backlog = fair_backlog }
  local g = queue_group(6 + (tonumber(ARGV[a + 9]) - 1) * 7)
  a = m.fields_at + m.nfields
  local seen, eid, estatus = nil, nil, nil
  if use_idem then seen, eid, estatus = idempotency_seen(KEYS[k + 1], fp) end
  if seen then
    out[#out + 1] = seen; out[#out + 1] = eid; out[#out + 1] = estatus
  else
    local refused, wait = quota_take(m.stream)
    if refused then
      out[#out + 1] = refused; out[#out + 1] = id; out[#out + 1] = tostring(wait)
    else
      enqueue_message(g, m)
      if use_idem then idempotency_keep(KEYS[k + 1], fp, id, status) end
      out[#out + 1] = 'created'; out[#out + 1] = id; out[#out + 1] = status
    end
  end
end
quota_finish(out)
return out
