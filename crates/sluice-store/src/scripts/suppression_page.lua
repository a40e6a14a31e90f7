-- A page of a suppression list, newest first. (Runs after suppression_names.lua.)
--
-- KEYS: entries hash, the order to read.
-- ARGV (after the names): upper bound (`+` or `(<member>`), count.
-- Returns {member, entry JSON or ''} newest first.
local upper, count = ARGV[NAMES + 1], tonumber(ARGV[NAMES + 2])
local members = redis.call('ZREVRANGEBYLEX', KEYS[2], upper, '-', 'LIMIT', 0, count)
local out = {}
for _, member in ipairs(members) do
  local address = string.sub(member, DIGITS + #SEP + 1)
  out[#out + 1] = {member, redis.call('HGET', KEYS[1], address) or ''}
end
return out
