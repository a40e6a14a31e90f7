from enum import StrEnum


class WebhookAttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
    RETRYING = "retrying"

    def __str__(self) -> str:
        return str(self.value)
