-- The names the warm-up scripts share with Rust, passed as their first ARGV in the
-- order of `warmup::script_names()`: the target hash's fields.
local F_SENT_DAY, F_SENT, F_SETBACKS, F_SETBACK_DAY = unpack(ARGV, 1, 4)
-- The script's own arguments follow the names.
local NAMES = 4
