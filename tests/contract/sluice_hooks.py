"""Schemathesis hooks for the contract fuzz (tests/it/contract_fuzz.rs).

Two rules the schema cannot state depend on the tenant and the clock, so generated
requests are adjusted before they are sent, and schemathesis re-validates each
adjusted case against the schema (a still-valid case must be accepted, an invalid
one refused):

- a message's `from` must be on one of the tenant's domains (`SLUICE_FUZZ_DOMAIN`):
  the domain part of a generated `from` is replaced by it;
- `send_at` may be at most 30 days ahead: a later one is moved to an hour from now;
- `to`, `cc` and `bcc` hold at most 50 recipients each, and together too: past 50,
  the last ones of `bcc`, then `cc`, are dropped.

And one guard: the tenant key the fuzzer authenticates with
(`SLUICE_FUZZ_KEY_ID`) is never the one `DELETE /v1/api-keys/{id}` revokes, or
every later request would be a 401 (it gets an id that does not exist instead).
"""

import datetime
import os
import re

import schemathesis

DOMAIN = os.environ.get("SLUICE_FUZZ_DOMAIN", "")
OWN_KEY_ID = os.environ.get("SLUICE_FUZZ_KEY_ID", "")
OTHER_KEY_ID = "key_00000000000000000000000000"
MAX_RECIPIENTS = 50
AT_DOMAIN = re.compile(r"@[^@<>]*(>?)$")


def _own_domain(mailbox):
    if not DOMAIN or not isinstance(mailbox, str):
        return mailbox
    return AT_DOMAIN.sub(lambda m: "@" + DOMAIN + m.group(1), mailbox)


def _within_schedule_window(send_at):
    if not isinstance(send_at, str):
        return send_at
    try:
        at = datetime.datetime.fromisoformat(send_at.replace("Z", "+00:00"))
        now = datetime.datetime.now(datetime.timezone.utc)
        if at.tzinfo is not None and at > now + datetime.timedelta(days=29):
            return (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError):
        pass
    return send_at


def _adjust_message(message):
    if isinstance(message, dict):
        if "from" in message:
            message["from"] = _own_domain(message["from"])
        if "send_at" in message:
            message["send_at"] = _within_schedule_window(message["send_at"])
        lists = [message.get(f) for f in ("to", "cc", "bcc")]
        if all(isinstance(x, list) or x is None for x in lists):
            total = sum(len(x or []) for x in lists)
            for field in ("bcc", "cc"):
                extra = total - MAX_RECIPIENTS
                values = message.get(field)
                if extra > 0 and isinstance(values, list) and values:
                    keep = max(0, len(values) - extra)
                    total -= len(values) - keep
                    message[field] = values[:keep]


@schemathesis.hook
def before_call(context, case, kwargs):
    label = case.operation.label
    if label == "POST /v1/messages":
        _adjust_message(case.body)
    elif label == "POST /v1/messages/batch" and isinstance(case.body, dict):
        for message in case.body.get("messages") or []:
            _adjust_message(message)
    elif label == "DELETE /v1/api-keys/{id}" and OWN_KEY_ID:
        if (case.path_parameters or {}).get("id", "").lower() == OWN_KEY_ID:
            case.path_parameters["id"] = OTHER_KEY_ID
