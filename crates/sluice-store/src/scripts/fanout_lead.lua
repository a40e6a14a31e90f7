-- Take or keep the fan-out lease.
--
-- KEYS: the leader key. ARGV: this process's name, lease ms.
-- Returns 1 while this process holds the lease, else 0.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
