-- Save the next version of a template and drop the one `kept` behind it. (Runs
-- after template_names.lua.)
--
-- KEYS: summaries hash, the template's versions.
-- ARGV (after the names): id, name, updated_at ms, version JSON, versions kept.
-- Returns the new summary JSON, or nil when the template does not exist.
local id, name, updated_at, content, kept = unpack(ARGV, NAMES + 1, NAMES + 5)
local current = redis.call('HGET', KEYS[1], id)
if not current then return false end
local summary = cjson.decode(current)
local version = summary[J_LATEST] + 1
summary[J_LATEST] = version
summary[J_NAME] = name
summary[J_UPDATED_AT] = tonumber(updated_at)
local encoded = cjson.encode(summary)
redis.call('HSET', KEYS[1], id, encoded)
redis.call('HSET', KEYS[2], tostring(version), content)
local dropped = version - tonumber(kept)
if dropped >= 1 then redis.call('HDEL', KEYS[2], tostring(dropped)) end
return encoded
