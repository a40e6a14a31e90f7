#!/usr/bin/env python3
"""Verify a message's DKIM signature with dkimpy, a verifier independent of the
Rust code (mail-auth) that produced it.

    python3 dkim_verify.py <eml-path> <dns-txt-record-value> [expected-dns-name [index]]

The TXT value (e.g. "v=DKIM1; k=rsa; p=MIIBIj...") is returned for whatever name
dkimpy looks up, so no DNS is needed. If expected-dns-name is given
(e.g. "sel._domainkey.acme.test"), the looked-up name must match it, which checks
the signature's s= and d= tags too. One DKIM-Signature is verified: the topmost,
or the index-th (0 = topmost) when index is given, for messages signed twice.

Prints one line and exits:
    PASS           0  the signature verifies
    FAIL: reason   1  the signature does not verify
    ERROR: reason  2  the check could not run (usage, missing module, unreadable
                      file); never to be read as a verification result

Requires `pip install dkimpy pynacl` (pynacl for ed25519-sha256).
"""

import logging
import sys

INSTALL_HINT = "run `pip install dkimpy pynacl`"


def error(reason):
    print(f"ERROR: {reason}")
    return 2


def main(argv):
    if len(argv) not in (3, 4, 5):
        return error(
            f"usage: {argv[0]} <eml-path> <dns-txt-record-value> [expected-dns-name [index]]"
        )
    path, txt_value = argv[1], argv[2]
    expected_name = argv[3] if len(argv) >= 4 and argv[3] else None
    try:
        index = int(argv[4]) if len(argv) == 5 else 0
    except ValueError:
        return error(f"index {argv[4]!r} is not a number")

    try:
        import dkim
    except ImportError as exc:
        return error(f"dkimpy is not importable ({exc}); {INSTALL_HINT}")

    try:
        with open(path, "rb") as handle:
            message = handle.read()
    except OSError as exc:
        return error(f"cannot read {path}: {exc}")

    if b"ed25519" in txt_value.encode().lower():
        try:
            import nacl.signing  # noqa: F401  dkimpy needs it for ed25519-sha256
        except ImportError as exc:
            return error(f"pynacl is not importable ({exc}); {INSTALL_HINT}")

    looked_up = []

    def dnsfunc(name, timeout=5):
        looked_up.append(name.decode() if isinstance(name, bytes) else name)
        return txt_value.encode()

    # dkimpy reports why a signature failed only through its logger.
    reasons = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                reasons.append(record.getMessage())

    logger = logging.getLogger("dkim_verify")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Collect())

    try:
        verifier = dkim.DKIM(message, logger=logger)
        signatures = sum(
            1 for name, _ in verifier.headers if name.lower() == b"dkim-signature"
        )
        if index >= max(signatures, 1):
            print(f"FAIL: no DKIM-Signature number {index} (the message has {signatures})")
            return 1
        valid = verifier.verify(idx=index, dnsfunc=dnsfunc)
    except dkim.DKIMException as exc:
        print(f"FAIL: {type(exc).__name__}: {exc}")
        return 1
    except Exception as exc:  # a crash inside dkimpy is not a verdict
        return error(f"dkimpy crashed: {type(exc).__name__}: {exc}")

    if not valid:
        if b"dkim-signature:" not in message.lower():
            reasons.append("no DKIM-Signature header")
        print(f"FAIL: {'; '.join(reasons) or 'signature does not verify'}")
        return 1

    if expected_name is not None:
        wanted = expected_name.rstrip(".").lower()
        got = [name.rstrip(".").lower() for name in looked_up]
        if got != [wanted]:
            print(f"FAIL: looked up {got}, expected [{wanted!r}] (check s= and d=)")
            return 1

    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
