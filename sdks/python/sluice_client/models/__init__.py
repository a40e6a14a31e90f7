"""Contains all the data models used in inputs/outputs"""

from .add_suppressions_request import AddSuppressionsRequest
from .added_suppression import AddedSuppression
from .added_suppressions import AddedSuppressions
from .address_blocklist_view import AddressBlocklistView
from .api_key_created import ApiKeyCreated
from .api_key_list import ApiKeyList
from .api_key_mode import ApiKeyMode
from .api_key_status import ApiKeyStatus
from .api_key_view import ApiKeyView
from .attachment_request import AttachmentRequest
from .attempt_list import AttemptList
from .batch_request import BatchRequest
from .batch_response import BatchResponse
from .blocklist_view import BlocklistView
from .bounce import Bounce
from .bounce_class import BounceClass
from .bounce_type import BounceType
from .bulk_pause import BulkPause
from .check_view import CheckView
from .create_api_key_request import CreateApiKeyRequest
from .create_domain_request import CreateDomainRequest
from .create_tenant_request import CreateTenantRequest
from .create_webhook_request import CreateWebhookRequest
from .delivery_config_view import DeliveryConfigView
from .delivery_overview import DeliveryOverview
from .dkim_algorithm import DkimAlgorithm
from .dkim_info import DkimInfo
from .dkim_key_state import DkimKeyState
from .dkim_key_view import DkimKeyView
from .dns_check import DnsCheck
from .dns_check_status import DnsCheckStatus
from .dns_record import DnsRecord
from .dns_record_purpose import DnsRecordPurpose
from .dnsbl_zone_view import DnsblZoneView
from .domain_event_data import DomainEventData
from .domain_list import DomainList
from .domain_status import DomainStatus
from .domain_verification import DomainVerification
from .domain_view import DomainView
from .event_list import EventList
from .event_record import EventRecord
from .event_record_metadata import EventRecordMetadata
from .event_type import EventType
from .field_error import FieldError
from .health import Health
from .listing_view import ListingView
from .message_accepted import MessageAccepted
from .message_event import MessageEvent
from .message_status import MessageStatus
from .message_stream import MessageStream
from .message_view import MessageView
from .message_view_metadata import MessageViewMetadata
from .openapi_json_response_200 import OpenapiJsonResponse200
from .pause_request import PauseRequest
from .pool_view import PoolView
from .problem import Problem
from .provider_view import ProviderView
from .quotas_patch import QuotasPatch
from .recipient_kind import RecipientKind
from .recipient_state import RecipientState
from .recipient_status import RecipientStatus
from .replay_accepted import ReplayAccepted
from .replay_request import ReplayRequest
from .reputation_event_data import ReputationEventData
from .reputation_level import ReputationLevel
from .rotate_dkim_request import RotateDkimRequest
from .scope import Scope
from .send_message_request import SendMessageRequest
from .send_message_request_headers import SendMessageRequestHeaders
from .send_message_request_metadata import SendMessageRequestMetadata
from .send_message_request_template_data_type_0 import SendMessageRequestTemplateDataType0
from .smtp_reply import SmtpReply
from .source_view import SourceView
from .stream_quota import StreamQuota
from .stream_quota_patch import StreamQuotaPatch
from .stream_reputation import StreamReputation
from .suppression import Suppression
from .suppression_list import SuppressionList
from .suppression_reason import SuppressionReason
from .target_view import TargetView
from .template import Template
from .template_list import TemplateList
from .template_request import TemplateRequest
from .template_summary import TemplateSummary
from .tenant_quotas import TenantQuotas
from .tenant_reputation import TenantReputation
from .tenant_reputation_streams import TenantReputationStreams
from .tenant_view import TenantView
from .tenant_view_pools import TenantViewPools
from .thresholds import Thresholds
from .update_tenant_request import UpdateTenantRequest
from .update_tenant_request_pools_type_0 import UpdateTenantRequestPoolsType0
from .warmup_progress_view import WarmupProgressView
from .warmup_schedule_view import WarmupScheduleView
from .webhook_attempt import WebhookAttempt
from .webhook_attempt_outcome import WebhookAttemptOutcome
from .webhook_data import WebhookData
from .webhook_data_metadata import WebhookDataMetadata
from .webhook_list import WebhookList
from .webhook_payload import WebhookPayload
from .webhook_status import WebhookStatus
from .webhook_view import WebhookView
from .webhook_with_secret import WebhookWithSecret

__all__ = (
    "AddedSuppression",
    "AddedSuppressions",
    "AddressBlocklistView",
    "AddSuppressionsRequest",
    "ApiKeyCreated",
    "ApiKeyList",
    "ApiKeyMode",
    "ApiKeyStatus",
    "ApiKeyView",
    "AttachmentRequest",
    "AttemptList",
    "BatchRequest",
    "BatchResponse",
    "BlocklistView",
    "Bounce",
    "BounceClass",
    "BounceType",
    "BulkPause",
    "CheckView",
    "CreateApiKeyRequest",
    "CreateDomainRequest",
    "CreateTenantRequest",
    "CreateWebhookRequest",
    "DeliveryConfigView",
    "DeliveryOverview",
    "DkimAlgorithm",
    "DkimInfo",
    "DkimKeyState",
    "DkimKeyView",
    "DnsblZoneView",
    "DnsCheck",
    "DnsCheckStatus",
    "DnsRecord",
    "DnsRecordPurpose",
    "DomainEventData",
    "DomainList",
    "DomainStatus",
    "DomainVerification",
    "DomainView",
    "EventList",
    "EventRecord",
    "EventRecordMetadata",
    "EventType",
    "FieldError",
    "Health",
    "ListingView",
    "MessageAccepted",
    "MessageEvent",
    "MessageStatus",
    "MessageStream",
    "MessageView",
    "MessageViewMetadata",
    "OpenapiJsonResponse200",
    "PauseRequest",
    "PoolView",
    "Problem",
    "ProviderView",
    "QuotasPatch",
    "RecipientKind",
    "RecipientState",
    "RecipientStatus",
    "ReplayAccepted",
    "ReplayRequest",
    "ReputationEventData",
    "ReputationLevel",
    "RotateDkimRequest",
    "Scope",
    "SendMessageRequest",
    "SendMessageRequestHeaders",
    "SendMessageRequestMetadata",
    "SendMessageRequestTemplateDataType0",
    "SmtpReply",
    "SourceView",
    "StreamQuota",
    "StreamQuotaPatch",
    "StreamReputation",
    "Suppression",
    "SuppressionList",
    "SuppressionReason",
    "TargetView",
    "Template",
    "TemplateList",
    "TemplateRequest",
    "TemplateSummary",
    "TenantQuotas",
    "TenantReputation",
    "TenantReputationStreams",
    "TenantView",
    "TenantViewPools",
    "Thresholds",
    "UpdateTenantRequest",
    "UpdateTenantRequestPoolsType0",
    "WarmupProgressView",
    "WarmupScheduleView",
    "WebhookAttempt",
    "WebhookAttemptOutcome",
    "WebhookData",
    "WebhookDataMetadata",
    "WebhookList",
    "WebhookPayload",
    "WebhookStatus",
    "WebhookView",
    "WebhookWithSecret",
)
