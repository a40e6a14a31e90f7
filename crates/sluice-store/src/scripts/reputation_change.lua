-- Move one stream of a tenant to a new reputation level, only if it is still at the
-- level the caller judged from (two fan-outs may judge the same tenant at once), and
-- put the event that announces it in the outbox in the same call.
--
-- KEYS: 1 the state, 2 the outbox.
-- ARGV: 1 the level field, 2 the level read ('' = none yet), 3 the new level,
--       4 the bulk-paused field, 5 the pause JSON ('' = no pause), 6 the outbox
--       field, 7 the event JSON ('' = no event).
-- Returns 1 when changed, 0 when the state had moved on.
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return 0 end
if ARGV[5] ~= '' then
  if redis.call('HEXISTS', KEYS[1], ARGV[4]) == 1 then return 0 end
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], ARGV[6], ARGV[7]) end
return 1
