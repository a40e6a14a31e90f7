from enum import StrEnum


class RecipientStatus(StrEnum):
    BOUNCED = "bounced"
    CANCELLED = "cancelled"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    FAILED = "failed"
    QUEUED = "queued"
    SUPPRESSED = "suppressed"

    def __str__(self) -> str:
        return str(self.value)
