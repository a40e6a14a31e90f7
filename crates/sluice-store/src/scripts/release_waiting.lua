#!lua flags=allow-oom
-- Release messages waiting for a busy destination: each popped member still parked
-- in the delayed set moves to its stream now. A member whose fallback time already
-- moved it (or that was parked again since) is stale and skipped, so a message is
-- never queued twice.
--
-- KEYS: wait list, delayed set, transactional stream, bulk stream.
-- ARGV (after the names, see message_names.lua): how many to release, how many
--       members to pop at most.
-- Returns {released, still waiting}.
local wanted, budget = tonumber(ARGV[NAMES + 1]), tonumber(ARGV[NAMES + 2])
local released = 0
while released < wanted and budget > 0 do
  local member = redis.call('LPOP', KEYS[1])
  if not member then break end
  budget = budget - 1
  if redis.call('ZREM', KEYS[2], member) == 1 then
    local sep = string.find(member, SEP, 1, true)
    local target = KEYS[3]
    if string.sub(member, 1, sep - 1) == BULK then target = KEYS[4] end
    redis.call('XADD', target, '*', Q_MESSAGE, string.sub(member, sep + #SEP))
    released = released + 1
  end
end
return {released, redis.call('LLEN', KEYS[1])}
