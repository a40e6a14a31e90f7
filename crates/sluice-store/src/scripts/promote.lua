#!lua flags=allow-oom
-- Move due members of the delayed set back to their stream. Scheduled bulk mail
-- (its owner recorded at accept) goes through the fair queue, so a campaign
-- scheduled for 9:00 does not starve other tenants at 9:00; retries go straight
-- back. (Runs after message_names.lua and fair_queue.lua.)
--
-- KEYS: delayed set, transactional stream, bulk stream, fair set, fair virtual
--       times, scheduled bulk owners.
-- ARGV (after the names): now ms, max count, unread bulk backlog under which bulk
--       skips the fair set.
-- Returns how many moved.
local now, limit, fair_backlog = ARGV[NAMES + 1], ARGV[NAMES + 2], tonumber(ARGV[NAMES + 3])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local fair_empty = redis.call('ZCARD', KEYS[4]) == 0
local backlog = nil
for _, member in ipairs(due) do
  local sep = string.find(member, SEP, 1, true)
  local id = string.sub(member, sep + #SEP)
  if string.sub(member, 1, sep - 1) == BULK then
    local owner = redis.call('HGET', KEYS[6], id)
    if owner then redis.call('HDEL', KEYS[6], id) end
    if backlog == nil then backlog = unread(KEYS[3]) end
    if owner and not (fair_empty and backlog < fair_backlog) then
      fair_push(KEYS[4], KEYS[5], owner, id)
      fair_empty = false
    else
      redis.call('XADD', KEYS[3], '*', Q_MESSAGE, id)
      backlog = backlog + 1
    end
  else
    redis.call('XADD', KEYS[2], '*', Q_MESSAGE, id)
  end
  redis.call('ZREM', KEYS[1], member)
end
return #due
