from enum import StrEnum


class SuppressionReason(StrEnum):
    COMPLAINT = "complaint"
    HARD_BOUNCE = "hard-bounce"
    MANUAL = "manual"
    UNSUBSCRIBE = "unsubscribe"

    def __str__(self) -> str:
        return str(self.value)
