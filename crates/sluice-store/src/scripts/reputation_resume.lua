-- Resume a tenant's paused bulk stream: the pause and the bulk level go, the bulk
-- counts start afresh (the rates that paused it would pause it again at once), and
-- the `tenant.resumed` event goes to the outbox in the same call.
--
-- KEYS: 1 the state, 2 the outbox, 3 the bulk counts.
-- ARGV: 1 the bulk-paused field, 2 the bulk level field, 3 the outbox field,
--       4 the event JSON.
-- Returns the pause JSON it lifted, or nil when the stream was not paused.
local paused = redis.call('HGET', KEYS[1], ARGV[1])
if not paused then return false end
redis.call('HDEL', KEYS[1], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return paused
