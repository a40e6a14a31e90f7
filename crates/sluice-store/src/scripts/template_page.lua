-- A page of a tenant's templates, newest first.
--
-- KEYS: summaries hash, order. ARGV: upper bound (`+` or `(<id>`), count.
-- Returns {id, summary JSON or ''} newest first.
local ids = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[1], '-', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = {id, redis.call('HGET', KEYS[1], id) or ''}
end
return out
