-- The tenant's enabled endpoints with their event filters. (Runs after
-- webhook_names.lua.)
--
-- KEYS: the tenant's endpoint set.
-- ARGV (after the names): the endpoint hash prefix.
-- Returns `id, events` pairs, flat.
local prefix = ARGV[NAMES + 1]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local f = redis.call('HMGET', prefix .. id, F_STATUS, F_EVENTS)
  if f[1] == ENABLED then
    out[#out + 1] = id
    out[#out + 1] = f[2] or ''
  end
end
return out
