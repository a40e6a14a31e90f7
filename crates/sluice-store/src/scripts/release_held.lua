#!lua flags=allow-oom
-- Release up to ARGV[3] bulk messages held for a paused tenant in one partition: each
-- one still waiting in the delayed set becomes due now (a message no longer there was
-- cancelled or is being worked on, and needs nothing).
--
-- KEYS: 1 the held set, 2 the delayed set.
-- ARGV: 1 now (ms), 2 the delayed-set member prefix (`bulk|`), 3 how many at most.
-- Returns {taken from the held set, made due}.
local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[3]))
local due = 0
for _, id in ipairs(ids) do
  due = due + redis.call('ZADD', KEYS[2], 'XX', 'CH', ARGV[1], ARGV[2] .. id)
end
return {#ids, due}
