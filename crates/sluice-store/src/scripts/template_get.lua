-- One version of a template with its summary. (Runs after template_names.lua.)
--
-- KEYS: summaries hash, the template's versions.
-- ARGV (after the names): id, version ('' = latest).
-- Returns {} for no template, else {summary JSON, version JSON or ''}.
local id, version = ARGV[NAMES + 1], ARGV[NAMES + 2]
local summary = redis.call('HGET', KEYS[1], id)
if not summary then return {} end
if version == '' then version = tostring(cjson.decode(summary)[J_LATEST]) end
return {summary, redis.call('HGET', KEYS[2], version) or ''}
