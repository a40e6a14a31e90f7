-- Record one blocklist round: every (address × zone) checked, the listings that
-- begin or end, and an operator event for each change, in one call.
--
-- KEYS: listings (HASH `<ip>|<zone>` -> `<since ms>|<answer>`), last checks (HASH
-- `<ip>|<zone>` -> check JSON), operator events (STREAM), last round (STRING).
-- ARGV: now (unix ms), the last round's value, the event stream's approximate
-- length cap, then per pair: `<ip>|<zone>`, verdict (1 listed, 0 not listed, -1
-- unknown: a refused query or a failed lookup changes nothing), the answer, the
-- check JSON.
--
-- Pairs listed before but absent from this round (an address or zone no longer
-- watched) are delisted. Returns the changes, each as
-- {type, `<ip>|<zone>`, answer, since ms, event id}.
local now = ARGV[1]
local cap = ARGV[3]
local watched = {}
local changes = {}

local function event(kind, pair, answer, since)
  local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', cap, '*',
    'type', kind, 'target', pair, 'answer', answer, 'since', since, 'at', now)
  changes[#changes + 1] = {kind, pair, answer, since, id}
end

local function split(value)
  local bar = string.find(value, '|', 1, true)
  if not bar then return value, '' end
  return string.sub(value, 1, bar - 1), string.sub(value, bar + 1)
end

for i = 4, #ARGV, 4 do
  local pair, verdict, answer, check = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  watched[pair] = true
  redis.call('HSET', KEYS[2], pair, check)
  local was = redis.call('HGET', KEYS[1], pair)
  if verdict == '1' and not was then
    redis.call('HSET', KEYS[1], pair, now .. '|' .. answer)
    event('ip.listed', pair, answer, now)
  elseif verdict == '0' and was then
    redis.call('HDEL', KEYS[1], pair)
    local since, old = split(was)
    event('ip.delisted', pair, old, since)
  end
end

for _, pair in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not watched[pair] then
    local since, old = split(redis.call('HGET', KEYS[1], pair))
    redis.call('HDEL', KEYS[1], pair)
    event('ip.delisted', pair, old, since)
  end
end
for _, pair in ipairs(redis.call('HKEYS', KEYS[2])) do
  if not watched[pair] then redis.call('HDEL', KEYS[2], pair) end
end
redis.call('SET', KEYS[4], ARGV[2])
return changes
