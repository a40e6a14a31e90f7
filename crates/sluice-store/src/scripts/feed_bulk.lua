#!lua flags=allow-oom
-- Top the bulk stream up from the fair set: lowest scores first, while the stream
-- has fewer unread entries than wanted. Forgets the virtual times once the set is
-- empty (everyone starts equal again). (Runs after message_names.lua and
-- fair_queue.lua.)
--
-- KEYS: fair set, fair virtual times, bulk stream.
-- ARGV (after the names): the unread entries wanted, the most to move.
-- Returns the count moved.
local wanted, most = tonumber(ARGV[NAMES + 1]), tonumber(ARGV[NAMES + 2])
local room = wanted - unread(KEYS[3])
if room > most then room = most end
if room <= 0 then return 0 end
local popped = redis.call('ZPOPMIN', KEYS[1], room)
for i = 1, #popped, 2 do
  redis.call('XADD', KEYS[3], '*', Q_MESSAGE, popped[i])
end
if #popped > 0 then redis.call('HSET', KEYS[2], '_', popped[#popped]) end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return #popped / 2
