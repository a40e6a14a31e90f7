#!lua flags=allow-oom
-- GCRA over several buckets at once, all or nothing.
--
-- KEYS: one bucket per rate.
-- ARGV: cost, then per bucket: period (µs), limit, burst.
-- Each bucket holds its TAT in µs of Redis time. Returns 0 when admitted (every TAT
-- advanced), else the longest wait in µs (≥ 1) with nothing written. Times are in µs
-- as doubles: exact up to 2^53 µs, far beyond any real clock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local tats = {}
local wait = 0
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 3
  local interval = tonumber(ARGV[base]) / tonumber(ARGV[base + 1])
  local burst = tonumber(ARGV[base + 2])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now) or now
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local over = new_tat - interval * burst - now
  if over > wait then wait = over end
  tats[i] = new_tat
end
if wait > 0 then return math.ceil(wait) end
for i = 1, #KEYS do
  local ttl_ms = math.max(1, math.ceil((tats[i] - now) / 1000))
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', ttl_ms)
end
return 0
