"""Schemathesis hooks for the contract fuzz (tests/it/contract_fuzz.rs).

Two rules the schema cannot state depend on the tenant and the clock, so generated
requests are adjusted before they are sent, and schemathesis re-validates each
adjusted case against the schema (a still-valid case must be accepted, an invalid
one refused):

- a message's `from` must be on one of the tenant's domains (`SLUICE_FUZZ_DOMAIN`):
  the domain part of a generated `from` is replaced by it;
- `send_at` may be at most 30 days ahead: a later one is moved to an hour from now;
- `to`, `cc` and `bcc` hold at most 50 recipients each, and together too: past 50,
  the last ones of `bcc`, then `cc`, are dropped;
- a message sent with a template must give every variable the template prints
  (a missing one is a 422, not an empty string): the template is read through the
  API (`SLUICE_FUZZ_URL`, `SLUICE_FUZZ_KEY`) and each variable it names that
  `template_data` lacks (or holds as a string over 64 characters, which could push
  the rendered subject past its 998 bytes) is set to a short string.

- a tenant's `pools` must name pools of the configuration (`SLUICE_FUZZ_POOLS`,
  comma-separated): any other name is replaced by `null` (the default pool);
- an API key's `expires_at` must be in the future: one in the past is moved to a
  day from now.

And one guard: the tenant key the fuzzer authenticates with
(`SLUICE_FUZZ_KEY_ID`) is never the one `DELETE /v1/api-keys/{id}` revokes, or
every later request would be a 401 (it gets an id that does not exist instead).
"""

import datetime
import json
import os
import re
import urllib.error
import urllib.request

import schemathesis

DOMAIN = os.environ.get("SLUICE_FUZZ_DOMAIN", "")
OWN_KEY_ID = os.environ.get("SLUICE_FUZZ_KEY_ID", "")
OTHER_KEY_ID = "key_00000000000000000000000000"
MAX_RECIPIENTS = 50
BASE_URL = os.environ.get("SLUICE_FUZZ_URL", "")
KEY = os.environ.get("SLUICE_FUZZ_KEY", "")
# `{{ user.name }}`, `{{ code|upper }}`: the variable paths a template prints.
VARIABLE = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


def _template_variables(template_id, version):
    """The variable paths of the template version a message names (none if unknown)."""
    if not (BASE_URL and KEY and isinstance(template_id, str)):
        return []
    url = f"{BASE_URL}/v1/templates/{template_id}"
    if isinstance(version, int) and not isinstance(version, bool):
        url += f"?version={version}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            template = json.load(response)
    except (urllib.error.URLError, ValueError, OSError):
        return []
    sources = [template.get(part) or "" for part in ("subject", "text", "html")]
    return sorted({path for source in sources for path in VARIABLE.findall(source)})


def _with_variables(data, paths):
    if not paths:
        return data
    data = dict(data) if isinstance(data, dict) else {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = data
        for name in parents:
            if not isinstance(node.get(name), dict):
                node[name] = {}
            node = node[name]
        value = node.get(leaf)
        if leaf not in node or (isinstance(value, str) and len(value) > 64):
            node[leaf] = "x"
    return data
AT_DOMAIN = re.compile(r"@[^@<>]*(>?)$")


def _own_domain(mailbox):
    if not DOMAIN or not isinstance(mailbox, str):
        return mailbox
    return AT_DOMAIN.sub(lambda m: "@" + DOMAIN + m.group(1), mailbox)


def _moved(text, out_of_range, to):
    """An RFC 3339 `text` for which `out_of_range(time, now)` holds, replaced by
    now + `to`; anything else (not a time, no offset, in range) as it is."""
    if not isinstance(text, str):
        return text
    try:
        at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        now = datetime.datetime.now(datetime.timezone.utc)
        if at.tzinfo is not None and out_of_range(at, now):
            return (now + to).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError):
        pass
    return text


def _within_schedule_window(send_at):
    too_far = lambda at, now: at > now + datetime.timedelta(days=29)  # noqa: E731
    return _moved(send_at, too_far, datetime.timedelta(hours=1))


def _in_the_future(expires_at):
    return _moved(expires_at, lambda at, now: at <= now, datetime.timedelta(days=1))


def _adjust_message(message):
    if isinstance(message, dict):
        if "from" in message:
            message["from"] = _own_domain(message["from"])
        if "send_at" in message:
            message["send_at"] = _within_schedule_window(message["send_at"])
        if isinstance(message.get("template_id"), str):
            paths = _template_variables(message["template_id"], message.get("template_version"))
            if paths:
                message["template_data"] = _with_variables(message.get("template_data"), paths)
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
    elif label == "PATCH /v1/admin/tenants/{id}" and isinstance(case.body, dict):
        pools = case.body.get("pools")
        if isinstance(pools, dict):
            known = set(filter(None, os.environ.get("SLUICE_FUZZ_POOLS", "").split(",")))
            for stream, pool in pools.items():
                if isinstance(pool, str) and pool not in known:
                    pools[stream] = None
    elif label == "POST /v1/admin/tenants/{id}/api-keys" and isinstance(case.body, dict):
        if "expires_at" in case.body:
            case.body["expires_at"] = _in_the_future(case.body["expires_at"])
    elif label == "DELETE /v1/api-keys/{id}" and OWN_KEY_ID:
        if (case.path_parameters or {}).get("id", "").lower() == OWN_KEY_ID:
            case.path_parameters["id"] = OTHER_KEY_ID
