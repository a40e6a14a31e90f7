from enum import StrEnum


class BounceClass(StrEnum):
    BAD_MAILBOX = "bad-mailbox"
    DNS = "dns"
    MAILBOX_FULL = "mailbox-full"
    MESSAGE_TOO_LARGE = "message-too-large"
    OTHER = "other"
    POLICY = "policy"
    SPAM_BLOCK = "spam-block"
    TRANSIENT = "transient"

    def __str__(self) -> str:
        return str(self.value)
