-- Give the fan-out lease up, if this process holds it.
--
-- KEYS: the leader key. ARGV: this process's name. Returns 1.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
