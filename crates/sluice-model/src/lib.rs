//! The vocabulary of Sluice: identifiers, addresses, messages, recipients, events,
//! tenants and domains. No I/O lives here, so every other crate can share these
//! types and the API schema is generated from the same definitions the workers use.
//!
//! Values that come from users are newtypes that can only be built by parsing
//! (`EmailAddress`, `Mailbox`, `DomainName`, `HeaderName`, …): once a value exists,
//! it is known to be safe to put on the wire (no CR/LF, no header injection).
//!
//! Timestamps are `time::OffsetDateTime` fields written as RFC 3339 strings, in one
//! form: `#[serde(with = "time::serde::rfc3339")]` (or `rfc3339::option`, with
//! `default` and `skip_serializing_if = "Option::is_none"` when absent means unset).
//! No schema attribute goes with it: utoipa's `time` feature already documents an
//! `OffsetDateTime` as `{"type": "string", "format": "date-time"}`.

pub mod address;
pub mod domain;
pub mod duration;
pub mod event;
pub mod ids;
pub mod json_object;
pub mod message;
pub mod net;
pub mod quota;
pub mod raw;
pub mod record;
pub mod reputation;
pub mod setting;
pub mod suppression;
pub mod template;
pub mod tenant;
pub mod time;
pub mod validate;
pub mod webhook;
pub mod webhook_url;
pub mod whole_number;

pub use address::{AddressError, DomainName, EmailAddress, Mailbox};
pub use domain::{
    DkimAlgorithm, DkimInfo, DkimKeyState, DkimKeyView, DnsCheck, DnsCheckStatus, DnsRecord,
    DnsRecordPurpose, DomainEventData, DomainStatus, DomainVerification, DomainView,
};
pub use event::{
    Bounce, BounceClass, BounceType, EventRecord, EventType, MessageEvent, SmtpReply, WebhookData,
    WebhookPayload,
};
pub use ids::{ApiKeyId, IdError, MessageId, TemplateId, TenantId, WebhookId};
pub use message::{
    Attachment, AttachmentRequest, HeaderName, HeaderValue, HeaderValues, MessageStream,
    OutboundMessage, SendMessageRequest,
};
pub use quota::{QuotasPatch, StreamQuota, StreamQuotaPatch, TenantQuotas};
pub use raw::RawMessage;
pub use record::{MessageStatus, MessageView, RecipientKind, RecipientState, RecipientStatus};
pub use reputation::{
    BulkPause, Rate, ReputationEventData, ReputationLevel, ReputationPolicy, StreamCounts,
    StreamReputation, TenantReputation, Thresholds,
};
pub use suppression::{Suppression, SuppressionReason};
pub use template::{
    NewTemplate, RenderContext, RenderError, Rendered, Template, TemplateBody, TemplateRequest,
    TemplateSummary,
};
pub use tenant::{ApiKeyCreated, ApiKeyMode, ApiKeyStatus, ApiKeyView, Scope, TenantView};
pub use validate::{FieldError, Limits, ValidationFailure};
pub use webhook::{WebhookAttempt, WebhookAttemptOutcome};
