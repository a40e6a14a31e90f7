from enum import StrEnum


class MessageStatus(StrEnum):
    BOUNCED = "bounced"
    CANCELLED = "cancelled"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    FAILED = "failed"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    SUPPRESSED = "suppressed"

    def __str__(self) -> str:
        return str(self.value)
