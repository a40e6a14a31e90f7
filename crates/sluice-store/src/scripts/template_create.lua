-- Save a new template as version 1. (Runs after template_names.lua.)
--
-- KEYS: summaries hash, order, the template's versions.
-- ARGV (after the names): id, summary JSON, version 1 JSON.
-- Returns 1.
local id, summary, version = unpack(ARGV, NAMES + 1, NAMES + 3)
redis.call('HSET', KEYS[1], id, summary)
redis.call('ZADD', KEYS[2], 0, id)
redis.call('HSET', KEYS[3], '1', version)
return 1
