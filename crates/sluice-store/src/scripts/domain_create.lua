-- Add a domain to a tenant only if it is new.
--
-- KEYS: domain set, domain hash. ARGV: name, then field/value pairs.
-- Returns 1 when added, 0 when the tenant already has the domain.
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
return 1
