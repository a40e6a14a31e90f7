-- Count one tenant's events from one partition's fan-out into its reputation buckets,
-- each event at most once, and read the window.
--
-- At most once: the fan-out gives each event its feed id, increasing in the order a
-- partition's events are copied, and the same id again when a batch is read again
-- after a crash. The marks hold the newest id counted per partition; an id at or
-- below it was counted already and is skipped.
--
-- KEYS: 1 the transactional counts, 2 the bulk counts (HASH `<bucket>:<kind>` → n),
--       3 the marks (HASH partition → feed entry id), 4 the state, 5 the outbox.
-- ARGV: 1 partition ('' when only reading), 2 the current bucket, 3 the oldest bucket
--       kept, 4 the counts' expiry (ms), 5 and 6 the state's transactional and bulk
--       level fields, 7 its bulk-paused field, 8 9 10 the kinds delivered, hard
--       bounced, complained; then triples: feed entry id, stream (1 transactional,
--       2 bulk), kind.
-- Returns {t delivered, t bounced, t complained, b delivered, b bounced, b complained,
--          t level, b level, b paused, outbox size, counted}.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local function after(a, b)
  if not b then return true end
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am > bm end
  return as > bs
end

local mark = nil
if ARGV[1] ~= '' then
  mark = redis.call('HGET', KEYS[3], ARGV[1]) or nil
end
local newest = mark
local counted = 0
local i = 11
while i + 2 <= #ARGV do
  local id, s, kind = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  if after(id, mark) and (s == 1 or s == 2) then
    redis.call('HINCRBY', KEYS[s], ARGV[2] .. ':' .. kind, 1)
    counted = counted + 1
    if after(id, newest) then newest = id end
  end
  i = i + 3
end
if counted > 0 then
  redis.call('HSET', KEYS[3], ARGV[1], newest)
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end

local kinds = {ARGV[8], ARGV[9], ARGV[10]}
local oldest = tonumber(ARGV[3])
local sums = {0, 0, 0, 0, 0, 0}
for s = 1, 2 do
  local all = redis.call('HGETALL', KEYS[s])
  local stale = {}
  for j = 1, #all, 2 do
    local bucket, kind = string.match(all[j], '^(-?%d+):(.+)$')
    bucket = tonumber(bucket)
    if bucket == nil or bucket < oldest then
      stale[#stale + 1] = all[j]
    else
      for k = 1, 3 do
        if kind == kinds[k] then
          sums[(s - 1) * 3 + k] = sums[(s - 1) * 3 + k] + tonumber(all[j + 1])
        end
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', KEYS[s], unpack(stale)) end
  if counted > 0 then redis.call('PEXPIRE', KEYS[s], ARGV[4]) end
end

local state = redis.call('HMGET', KEYS[4], ARGV[5], ARGV[6], ARGV[7])
return {sums[1], sums[2], sums[3], sums[4], sums[5], sums[6],
  state[1] or '', state[2] or '', state[3] or '', redis.call('HLEN', KEYS[5]), counted}
