-- The names the webhook endpoint scripts share with Rust, passed as their first
-- ARGV in the order of `webhooks::script_names()`: the endpoint hash's fields, its
-- two status values, and the attempt log entry's field.
local F_STATUS, F_EVENTS, F_SECRET, F_PREVIOUS_SECRET, F_PREVIOUS_SECRET_EXPIRES_AT,
  F_DISABLED_REASON, F_DISABLED_AT, F_FAILING_SINCE,
  ENABLED, DISABLED,
  A_ATTEMPT = unpack(ARGV, 1, 11)
-- The script's own arguments follow the names.
local NAMES = 11
