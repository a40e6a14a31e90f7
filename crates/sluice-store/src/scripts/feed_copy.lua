-- Copy events of one queue partition's event stream to a tenant's feed, in order,
-- each at most once. The feed gives each event its id (increasing across every
-- partition, so a reader following the feed never misses one); the copy records,
-- per partition, the last source entry copied. An event at or below that mark was
-- copied before (a fan-out that crashed before acknowledging): it is not copied
-- again, and its feed id is looked up among the feed's latest entries.
--
-- KEYS: the tenant's feed, the tenant's copy marks (HASH partition → entry id).
-- ARGV: 1-5 the feed entry's field names (message, event, tags, metadata, source =
--       `<partition>:<source entry id>`), 6 partition, 7 the feed's MINID (trimmed
--       below it, approximately), then per event: source entry id, message id, event
--       JSON, tags JSON, metadata JSON.
-- Returns per event its feed entry id ('' when copied before and no longer found).
local F_M, F_E, F_G, F_D, F_S = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local partition, minid = ARGV[6], ARGV[7]

local function after(a, b)
  -- Whether stream id a is above b ('<ms>-<seq>').
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end

local mark = redis.call('HGET', KEYS[2], partition) or '0-0'
local recent = nil
local out = {}
for i = 8, #ARGV, 5 do
  local source = ARGV[i]
  if after(source, mark) then
    out[#out + 1] = redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*',
      F_M, ARGV[i + 1], F_E, ARGV[i + 2], F_G, ARGV[i + 3], F_D, ARGV[i + 4],
      F_S, partition .. ':' .. source)
    mark = source
  else
    if recent == nil then
      recent = {}
      for _, entry in ipairs(redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 2000)) do
        local fields = entry[2]
        for f = 1, #fields, 2 do
          if fields[f] == F_S then recent[fields[f + 1]] = entry[1] end
        end
      end
    end
    out[#out + 1] = recent[partition .. ':' .. source] or ''
  end
end
redis.call('HSET', KEYS[2], partition, mark)
return out
