"""Contains all the data models used in inputs/outputs"""

from .add_suppressions_request import AddSuppressionsRequest
from .add_suppressions_response_401 import AddSuppressionsResponse401
from .added_suppression import AddedSuppression
from .added_suppressions import AddedSuppressions
from .address_blocklist_view import AddressBlocklistView
from .admin_list_api_keys_response_401 import AdminListApiKeysResponse401
from .admin_revoke_api_key_response_401 import AdminRevokeApiKeyResponse401
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
from .cancel_message_response_401 import CancelMessageResponse401
from .check_view import CheckView
from .create_api_key_request import CreateApiKeyRequest
from .create_api_key_response_401 import CreateApiKeyResponse401
from .create_domain_request import CreateDomainRequest
from .create_domain_response_401 import CreateDomainResponse401
from .create_template_response_401 import CreateTemplateResponse401
from .create_tenant_request import CreateTenantRequest
from .create_tenant_response_401 import CreateTenantResponse401
from .create_webhook_request import CreateWebhookRequest
from .create_webhook_response_401 import CreateWebhookResponse401
from .delete_suppression_response_401 import DeleteSuppressionResponse401
from .delete_template_response_401 import DeleteTemplateResponse401
from .delete_webhook_response_401 import DeleteWebhookResponse401
from .delivery_config_view import DeliveryConfigView
from .delivery_overview import DeliveryOverview
from .delivery_response_401 import DeliveryResponse401
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
from .enable_webhook_response_401 import EnableWebhookResponse401
from .event_list import EventList
from .event_record import EventRecord
from .event_record_metadata import EventRecordMetadata
from .event_type import EventType
from .field_error import FieldError
from .get_domain_response_401 import GetDomainResponse401
from .get_message_response_401 import GetMessageResponse401
from .get_suppression_response_401 import GetSuppressionResponse401
from .get_template_response_401 import GetTemplateResponse401
from .get_tenant_response_401 import GetTenantResponse401
from .get_webhook_response_401 import GetWebhookResponse401
from .health import Health
from .list_api_keys_response_401 import ListApiKeysResponse401
from .list_attempts_response_401 import ListAttemptsResponse401
from .list_domains_response_401 import ListDomainsResponse401
from .list_events_response_401 import ListEventsResponse401
from .list_suppressions_response_401 import ListSuppressionsResponse401
from .list_templates_response_401 import ListTemplatesResponse401
from .list_webhooks_response_401 import ListWebhooksResponse401
from .listing_view import ListingView
from .message_accepted import MessageAccepted
from .message_event import MessageEvent
from .message_status import MessageStatus
from .message_stream import MessageStream
from .message_view import MessageView
from .message_view_metadata import MessageViewMetadata
from .openapi_json_response_200 import OpenapiJsonResponse200
from .pause_request import PauseRequest
from .pause_response_401 import PauseResponse401
from .pool_view import PoolView
from .problem import Problem
from .provider_view import ProviderView
from .quotas_patch import QuotasPatch
from .recipient_kind import RecipientKind
from .recipient_state import RecipientState
from .recipient_status import RecipientStatus
from .replay_accepted import ReplayAccepted
from .replay_event_response_401 import ReplayEventResponse401
from .replay_request import ReplayRequest
from .reputation_event_data import ReputationEventData
from .reputation_level import ReputationLevel
from .resume_response_401 import ResumeResponse401
from .resume_tenant_response_401 import ResumeTenantResponse401
from .revoke_api_key_response_401 import RevokeApiKeyResponse401
from .rotate_dkim_key_response_401 import RotateDkimKeyResponse401
from .rotate_dkim_request import RotateDkimRequest
from .rotate_secret_response_401 import RotateSecretResponse401
from .scope import Scope
from .send_batch_response_401 import SendBatchResponse401
from .send_message_request import SendMessageRequest
from .send_message_request_headers import SendMessageRequestHeaders
from .send_message_request_metadata import SendMessageRequestMetadata
from .send_message_request_template_data_type_0 import SendMessageRequestTemplateDataType0
from .send_message_response_401 import SendMessageResponse401
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
from .update_template_response_401 import UpdateTemplateResponse401
from .update_tenant_request import UpdateTenantRequest
from .update_tenant_request_pools_type_0 import UpdateTenantRequestPoolsType0
from .update_tenant_response_401 import UpdateTenantResponse401
from .verify_domain_response_401 import VerifyDomainResponse401
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
    "AddSuppressionsResponse401",
    "AdminListApiKeysResponse401",
    "AdminRevokeApiKeyResponse401",
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
    "CancelMessageResponse401",
    "CheckView",
    "CreateApiKeyRequest",
    "CreateApiKeyResponse401",
    "CreateDomainRequest",
    "CreateDomainResponse401",
    "CreateTemplateResponse401",
    "CreateTenantRequest",
    "CreateTenantResponse401",
    "CreateWebhookRequest",
    "CreateWebhookResponse401",
    "DeleteSuppressionResponse401",
    "DeleteTemplateResponse401",
    "DeleteWebhookResponse401",
    "DeliveryConfigView",
    "DeliveryOverview",
    "DeliveryResponse401",
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
    "EnableWebhookResponse401",
    "EventList",
    "EventRecord",
    "EventRecordMetadata",
    "EventType",
    "FieldError",
    "GetDomainResponse401",
    "GetMessageResponse401",
    "GetSuppressionResponse401",
    "GetTemplateResponse401",
    "GetTenantResponse401",
    "GetWebhookResponse401",
    "Health",
    "ListApiKeysResponse401",
    "ListAttemptsResponse401",
    "ListDomainsResponse401",
    "ListEventsResponse401",
    "ListingView",
    "ListSuppressionsResponse401",
    "ListTemplatesResponse401",
    "ListWebhooksResponse401",
    "MessageAccepted",
    "MessageEvent",
    "MessageStatus",
    "MessageStream",
    "MessageView",
    "MessageViewMetadata",
    "OpenapiJsonResponse200",
    "PauseRequest",
    "PauseResponse401",
    "PoolView",
    "Problem",
    "ProviderView",
    "QuotasPatch",
    "RecipientKind",
    "RecipientState",
    "RecipientStatus",
    "ReplayAccepted",
    "ReplayEventResponse401",
    "ReplayRequest",
    "ReputationEventData",
    "ReputationLevel",
    "ResumeResponse401",
    "ResumeTenantResponse401",
    "RevokeApiKeyResponse401",
    "RotateDkimKeyResponse401",
    "RotateDkimRequest",
    "RotateSecretResponse401",
    "Scope",
    "SendBatchResponse401",
    "SendMessageRequest",
    "SendMessageRequestHeaders",
    "SendMessageRequestMetadata",
    "SendMessageRequestTemplateDataType0",
    "SendMessageResponse401",
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
    "UpdateTemplateResponse401",
    "UpdateTenantRequest",
    "UpdateTenantRequestPoolsType0",
    "UpdateTenantResponse401",
    "VerifyDomainResponse401",
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
