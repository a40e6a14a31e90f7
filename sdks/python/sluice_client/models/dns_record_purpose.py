from enum import StrEnum


class DnsRecordPurpose(StrEnum):
    DKIM = "dkim"
    DMARC = "dmarc"
    RETURN_PATH = "return_path"
    SPF = "spf"

    def __str__(self) -> str:
        return str(self.value)
