from enum import StrEnum


class DnsCheckStatus(StrEnum):
    LOOKUP_FAILED = "lookup_failed"
    MISMATCH = "mismatch"
    MISSING = "missing"
    VERIFIED = "verified"

    def __str__(self) -> str:
        return str(self.value)
