#!/usr/bin/env python3
"""Verify webhook deliveries with the Standard Webhooks reference library
(`pip install standardwebhooks`), an implementation independent of the Rust code
that signed them.

    python3 webhook_verify.py <deliveries.json> <secret> [<secret> ...]

deliveries.json is a list of {"headers": {name: value}, "body_b64": "..."} (the raw
body, base64, so the bytes are exactly what was received). Every delivery is
verified with each secret on its own (so passing two secrets checks that either one
alone verifies it, as during a rotation). Prints one line per delivery and exits:

    PASS           every secret verifies it
    FAIL: reason   a secret does not verify it (which one, and why)
    ERROR: reason  the check could not run (usage, missing module, unreadable file);
                   never to be read as a verification result

Exit status: 0 all passed, 1 some failed, 2 error.
"""

import base64
import json
import sys

INSTALL_HINT = "run `pip install standardwebhooks`"


def error(reason):
    print(f"ERROR: {reason}")
    return 2


def main(argv):
    if len(argv) < 3:
        return error(f"usage: {argv[0]} <deliveries.json> <secret> [<secret> ...]")
    path, secrets = argv[1], argv[2:]
    try:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    except ImportError as exc:
        return error(f"standardwebhooks is not importable ({exc}); {INSTALL_HINT}")
    try:
        with open(path, encoding="utf-8") as handle:
            deliveries = json.load(handle)
        verifiers = [(n, Webhook(secret)) for n, secret in enumerate(secrets)]
    except Exception as exc:  # unreadable input is not a verdict
        return error(f"cannot read the input: {type(exc).__name__}: {exc}")

    failed = False
    for delivery in deliveries:
        body = base64.b64decode(delivery["body_b64"])
        reasons = []
        for n, verifier in verifiers:
            try:
                verifier.verify(body, delivery["headers"])
            except WebhookVerificationError as exc:
                reasons.append(f"secret #{n}: {exc}")
            except Exception as exc:
                reasons.append(f"secret #{n}: {type(exc).__name__}: {exc}")
        if reasons:
            failed = True
            print(f"FAIL: {'; '.join(reasons)}")
        else:
            print("PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
