-- The names the suppression scripts share with Rust, passed as their first ARGV in
-- the order of `suppressions::script_names()`: the entry JSON's creation time
-- member, and the order members' layout (`<created_at, zero-padded to DIGITS>`,
-- SEP, the address).
local J_CREATED_AT, DIGITS, SEP = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- The script's own arguments follow the names.
local NAMES = 3
