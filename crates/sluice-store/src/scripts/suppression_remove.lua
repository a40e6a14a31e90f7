-- Remove an address from a suppression list and from every order. (Runs after
-- suppression_names.lua.)
--
-- KEYS: as for suppression_add.lua.
-- ARGV (after the names): address.
-- Returns the removed entry JSON, or nil.
local address = ARGV[NAMES + 1]
local entry = redis.call('HGET', KEYS[1], address)
if not entry then return false end
local member = string.format('%0' .. DIGITS .. 'd', cjson.decode(entry)[J_CREATED_AT]) .. SEP .. address
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], member) end
redis.call('HDEL', KEYS[1], address)
return entry
