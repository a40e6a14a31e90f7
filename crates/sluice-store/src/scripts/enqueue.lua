-- The second of a Redis Cluster's two accept calls, in one partition's slot: stores
-- and queues messages admit.lua admitted. (Runs after message_names.lua,
-- fair_queue.lua and enqueue_message.lua.)
--
-- KEYS: 1-7 the partition's event stream, transactional and bulk streams, delayed
--       set, fair set, fair virtual times, scheduled bulk owners; then the shared
--       contents' keys; then per message: message hash, events list.
-- ARGV (after the names): 1 tenant, 2 the unread bulk backlog under which bulk
--       skips the fair set, 3 the message count, 4 the shared contents' count, 5
--       their expiry margin (ms), then each content; then per message: id, due_ms
--       ('' = now), delayed member, ttl_ms, event JSON, stream, its content's number
--       (0 = none), field count, fields.
--
-- Returns the count stored.
local g = queue_group(1)
local tenant, fair_backlog = ARGV[NAMES + 1], tonumber(ARGV[NAMES + 2])
local count = tonumber(ARGV[NAMES + 3])
local ncontents = tonumber(ARGV[NAMES + 4])
contents_setup(8, NAMES + 6, ncontents, ARGV[NAMES + 5])
local a = NAMES + 6 + ncontents
for i = 1, count do
  local k = 7 + ncontents + (i - 1) * 2
  local m = { key = KEYS[k + 1], events = KEYS[k + 2], tenant = tenant, id = ARGV[a],
    due = ARGV[a + 1], member = ARGV[a + 2], ttl = ARGV[a + 3], event = ARGV[a + 4],
    stream = ARGV[a + 5], content = tonumber(ARGV[a + 6]), nfields = tonumber(ARGV[a + 7]),
    fields_at = a + 8,
    fair_backlog = fair_backlog }
  a = m.fields_at + m.nfields
  enqueue_message(g, m)
end
return count
