-- Update a domain if its version is still the one read (compare-and-set); records
-- from before versions existed count as version 0.
--
-- KEYS: domain hash.
-- ARGV: the version field's name, expected version, n, then n fields to delete, then
--       field/value pairs to set (including the new version).
-- Returns 'ok', 'conflict' or 'gone'.
local version_field = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
local version = redis.call('HGET', KEYS[1], version_field) or '0'
if version ~= ARGV[2] then return 'conflict' end
local n = tonumber(ARGV[3])
if n > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 4, 3 + n)) end
local fields = {}
for i = 4 + n, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
return 'ok'
