from enum import StrEnum


class DkimKeyState(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    RETIRING = "retiring"

    def __str__(self) -> str:
        return str(self.value)
