-- Add addresses to a suppression list; an existing entry is kept (the first reason
-- wins). (Runs after suppression_names.lua.)
--
-- KEYS: entries hash, order, then each reason's order (in `SuppressionReason::ALL`
--       order).
-- ARGV (after the names): groups of (address, entry JSON, order member, reason
--       index 1..4).
-- Returns one {added (0|1), entry JSON} per group.
local out = {}
for i = NAMES + 1, #ARGV, 4 do
  local existing = redis.call('HGET', KEYS[1], ARGV[i])
  if existing then
    out[#out + 1] = {0, existing}
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[2], 0, ARGV[i + 2])
    redis.call('ZADD', KEYS[2 + tonumber(ARGV[i + 3])], 0, ARGV[i + 2])
    out[#out + 1] = {1, ARGV[i + 1]}
  end
end
return out
