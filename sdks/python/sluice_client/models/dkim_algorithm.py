from enum import StrEnum


class DkimAlgorithm(StrEnum):
    ED25519_SHA256 = "ed25519-sha256"
    RSA_SHA256 = "rsa-sha256"

    def __str__(self) -> str:
        return str(self.value)
