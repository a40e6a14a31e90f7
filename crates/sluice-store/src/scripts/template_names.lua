-- The names the template scripts share with Rust, passed as their first ARGV in the
-- order of `templates::script_names()`: the summary JSON's members for the latest
-- version, the name and the update time.
local J_LATEST, J_NAME, J_UPDATED_AT = unpack(ARGV, 1, 3)
-- The script's own arguments follow the names.
local NAMES = 3
