-- Delete a template and every version.
--
-- KEYS: summaries hash, order, the template's versions. ARGV: id.
-- Returns 1 when the template existed.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
