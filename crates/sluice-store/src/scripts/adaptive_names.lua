-- The names the adaptive-rate scripts share with Rust, passed as their first ARGV in
-- the order of `adaptive::script_names()`: the target hash's fields and the
-- suspension value these scripts write.
local F_RATE, F_STRIKES, F_SUSPENDED_UNTIL, F_SUSPENSION, ADAPTIVE = unpack(ARGV, 1, 5)
-- The script's own arguments follow the names.
local NAMES = 5
