from enum import StrEnum


class EventType(StrEnum):
    DOMAIN_VERIFICATION_FAILED = "domain.verification_failed"
    MESSAGE_ACCEPTED = "message.accepted"
    MESSAGE_BOUNCED = "message.bounced"
    MESSAGE_CANCELLED = "message.cancelled"
    MESSAGE_COMPLAINED = "message.complained"
    MESSAGE_DEFERRED = "message.deferred"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_SCHEDULED = "message.scheduled"
    MESSAGE_SUPPRESSED = "message.suppressed"
    MESSAGE_UNSUBSCRIBED = "message.unsubscribed"
    TENANT_PAUSED = "tenant.paused"
    TENANT_REPUTATION_WARNING = "tenant.reputation_warning"
    TENANT_RESUMED = "tenant.resumed"
    WEBHOOK_DISABLED = "webhook.disabled"

    def __str__(self) -> str:
        return str(self.value)
