-- Claim due domain checks: each due member's score moves to the lease's end, so no
-- other process takes it meanwhile.
--
-- KEYS: the check schedule. ARGV: now (ms), lease end (ms), limit.
-- Returns the members.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
