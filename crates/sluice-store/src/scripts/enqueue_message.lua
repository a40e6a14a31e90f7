-- Storing and queueing an admitted message, shared by enqueue.lua and accept.lua
-- (after message_names.lua and fair_queue.lua).
--
-- queue_group(keys_at) reads one partition's keys from KEYS[keys_at]: the event
-- stream, the transactional and bulk streams, the delayed set, the fair set, its
-- virtual times and the scheduled bulk owners (7 keys).
local groups = {}
local function queue_group(keys_at)
  local g = groups[keys_at]
  if g then return g end
  g = { events = KEYS[keys_at], transactional = KEYS[keys_at + 1], bulk = KEYS[keys_at + 2],
    delayed = KEYS[keys_at + 3], fair = KEYS[keys_at + 4], times = KEYS[keys_at + 5],
    owners = KEYS[keys_at + 6] }
  groups[keys_at] = g
  return g
end

-- The call's shared contents (see the store's `body` module): contents_setup reads
-- `count` content keys from KEYS[keys_at] and their values from ARGV[args_at]; a
-- message names one by its number (0 = none). Each is written (SET NX) before the
-- first record that uses it, and every such record pushes its expiry out to the
-- record's own plus the margin (PEXPIRE GT: never shortened), so a content outlives
-- every record that needs it.
local contents, content_margin = {}, 0
local function contents_setup(keys_at, args_at, count, margin)
  content_margin = tonumber(margin)
  for j = 1, count do
    contents[j] = { key = KEYS[keys_at + j - 1], value = ARGV[args_at + j - 1] }
  end
end

local function keep_content(number, ttl)
  local c = contents[number]
  if not c then return end
  local until_ms = tonumber(ttl) + content_margin
  if not c.written then
    redis.call('SET', c.key, c.value, 'NX', 'PX', until_ms)
    c.written = true
  end
  redis.call('PEXPIRE', c.key, until_ms, 'GT')
end

local function enqueue_bulk(g, tenant, id, fair_backlog)
  if g.fair_empty == nil then
    g.fair_empty = redis.call('ZCARD', g.fair) == 0
    g.backlog = unread(g.bulk)
  end
  if g.fair_empty and g.backlog < fair_backlog then
    redis.call('XADD', g.bulk, '*', Q_MESSAGE, id)
    g.backlog = g.backlog + 1
  else
    fair_push(g.fair, g.times, tenant, id)
    g.fair_empty = false
  end
end

-- The record (nfields fields from ARGV[fields_at]) with its content (m.content, a
-- number for keep_content), the first event, the event-stream entry and the queue
-- entry (or the delayed member when due is set).
local function enqueue_message(g, m)
  keep_content(m.content, m.ttl)
  local fields = {}
  for j = m.fields_at, m.fields_at + m.nfields - 1 do fields[#fields + 1] = ARGV[j] end
  redis.call('HSET', m.key, unpack(fields))
  redis.call('PEXPIRE', m.key, m.ttl)
  redis.call('RPUSH', m.events, m.event)
  redis.call('PEXPIRE', m.events, m.ttl)
  local t = redis.call('HMGET', m.key, F_TAGS, F_METADATA)
  redis.call('XADD', g.events, '*', E_TENANT, m.tenant, E_MESSAGE, m.id, E_EVENT, m.event,
    E_TAGS, t[1], E_METADATA, t[2])
  if m.due ~= '' then
    redis.call('ZADD', g.delayed, m.due, m.member)
    if m.stream == BULK then redis.call('HSET', g.owners, m.id, m.tenant) end
  elseif m.stream == BULK then
    enqueue_bulk(g, m.tenant, m.id, m.fair_backlog)
  else
    redis.call('XADD', g.transactional, '*', Q_MESSAGE, m.id)
  end
end
