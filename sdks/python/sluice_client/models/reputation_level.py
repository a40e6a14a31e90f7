from enum import StrEnum


class ReputationLevel(StrEnum):
    OK = "ok"
    PAUSE = "pause"
    REVIEW = "review"

    def __str__(self) -> str:
        return str(self.value)
