-- Shared by the delivery schedule's scripts: puts `ep` in the ready set at the time a
-- claim could next do something for it (its first due delivery while it has a free
-- slot; the first lease expiry otherwise, so a crashed sender's leases are
-- recovered), or removes it when it has nothing at all. The pending and lease sets'
-- names are the given prefixes followed by `ep`.
local function rescore(pending_prefix, leases_prefix, ready, ep, cap)
  local leases = leases_prefix .. ep
  local inflight = redis.call('ZCARD', leases)
  local score = nil
  if inflight < cap then
    local first = redis.call('ZRANGE', pending_prefix .. ep, 0, 0, 'WITHSCORES')
    if first[2] then score = tonumber(first[2]) end
  end
  if inflight > 0 then
    local lease = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
    local expiry = tonumber(lease[2])
    if score == nil or expiry < score then score = expiry end
  end
  if score then
    redis.call('ZADD', ready, score, ep)
  else
    redis.call('ZREM', ready, ep)
  end
end
