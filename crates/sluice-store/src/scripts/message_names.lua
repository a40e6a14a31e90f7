-- The names the message scripts share with Rust, passed as their first ARGV in the
-- order of `keys::message_script_names()`: the queue streams' consumer group, the
-- claim field's prefix, the separator and the bulk stream's name in delayed-set
-- members; the message hash's fields; the queue entry's field; the event-stream
-- entry's fields (tenant, message, event, tags, metadata).
local GROUP, CLAIM_PREFIX, SEP, BULK,
  F_TENANT, F_STATUS, F_BODY, F_RECIPIENTS, F_ATTEMPTS, F_UPDATED_AT, F_NEXT_ATTEMPT_AT,
  F_TAGS, F_METADATA,
  Q_MESSAGE,
  E_TENANT, E_MESSAGE, E_EVENT, E_TAGS, E_METADATA = unpack(ARGV, 1, 19)
-- The script's own arguments follow the names.
local NAMES = 19
