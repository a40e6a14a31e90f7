//! The checks and the accept of a submitted message, with the replies that say
//! what happened: `250` only once the message is in Redis (the same
//! `Store::accept_message` call as `POST /v1/messages`: quota, idempotency,
//! record, event and queue entry in one atomic call).

use sluice_model::{ApiKeyMode, DomainStatus, EmailAddress, MessageId, MessageStream, TenantId};
use sluice_smtp_server::{Peer, ReceivedMessage, Reply};
use sluice_store::{AcceptOutcome, KeyLookup, NewMessage, QuotaLimit};
use time::OffsetDateTime;

use crate::Submission;
use crate::message::{Invalid, parse};

impl Submission {
    /// AUTH: the password is an API key of the tenant with the `send` scope; the
    /// user name is not checked (clients need one; `apikey` is customary). The
    /// session's principal is the tenant id, followed by ` test` for a sandbox key.
    pub(crate) async fn check_key(&self, password: &str) -> Result<String, Reply> {
        let invalid = || Reply::new(535, "5.7.8 Authentication credentials invalid");
        match self.store.authenticate_api_key(password.trim()).await {
            Ok(KeyLookup::Valid(key)) if key.scopes.contains(&sluice_model::Scope::Send) => {
                Ok(match key.mode {
                    ApiKeyMode::Live => key.tenant_id.to_string(),
                    ApiKeyMode::Test => format!("{} {SANDBOX}", key.tenant_id),
                })
            }
            Ok(KeyLookup::Valid(key)) => {
                tracing::debug!(key = %key.id, "AUTH with a key without the send scope");
                Err(Reply::new(
                    535,
                    "5.7.8 Authentication credentials invalid (the key lacks the send scope)",
                ))
            }
            Ok(KeyLookup::Expired | KeyLookup::Unknown) => Err(invalid()),
            Err(e) => {
                tracing::warn!(error = %e, "AUTH: could not read the API key");
                Err(Reply::new(454, "4.7.0 Temporary authentication failure"))
            }
        }
    }

    /// MAIL FROM: an address on one of the tenant's domains (verified, when
    /// sending requires it).
    pub(crate) async fn check_sender(&self, peer: &Peer, from: &str) -> Reply {
        let Some(tenant) = tenant(peer) else {
            return Reply::new(530, "5.7.0 Authentication required");
        };
        if from.is_empty() {
            return Reply::new(553, "5.7.1 A sender address is required");
        }
        let address = match EmailAddress::parse(from) {
            Ok(address) => address,
            Err(e) => return Reply::new(553, format!("5.1.7 Bad sender address: {e}")),
        };
        match self.own_domain(&tenant, address.domain()).await {
            Ok(()) => Reply::ok(),
            Err(reply) => reply,
        }
    }

    /// DATA: the whole message through the API's checks, then into Redis.
    pub(crate) async fn accept(&self, peer: &Peer, received: &ReceivedMessage) -> Reply {
        let Some(tenant) = tenant(peer) else {
            return Reply::new(530, "5.7.0 Authentication required");
        };
        let rcpts: Vec<EmailAddress> = match received
            .rcpt_to
            .iter()
            .map(|r| EmailAddress::parse(r))
            .collect::<Result<_, _>>()
        {
            Ok(rcpts) => rcpts,
            Err(e) => return Reply::new(553, format!("5.1.3 Bad recipient address: {e}")),
        };
        // Reading and hashing up to the size limit is CPU work: off the reactor.
        let data = received.data.clone();
        let parsed = tokio::task::spawn_blocking(move || parse(&data, &rcpts)).await;
        let submitted = match parsed {
            Ok(Ok(submitted)) => submitted,
            Ok(Err(Invalid::Syntax(text) | Invalid::Directive(text))) => {
                return Reply::new(554, format!("5.6.0 {text}"));
            }
            Err(e) => {
                tracing::error!(error = %e, "submission: reading the message failed");
                return Reply::new(451, "4.3.0 Temporary failure, try again");
            }
        };
        let message = &submitted.message;
        let from_domain = message.from.address.domain().to_string();
        if let Err(reply) = self.own_domain(&tenant, &from_domain).await {
            return reply;
        }
        if message.stream == MessageStream::Bulk
            && let Err(reply) = self.bulk_allowed(&tenant).await
        {
            return reply;
        }
        let id = MessageId::generate();
        let message_id_header = submitted
            .message_id_header
            .clone()
            .unwrap_or_else(|| format!("<{id}@{from_domain}>"));
        let new = NewMessage {
            tenant: &tenant,
            id: &id,
            message,
            message_id_header: &message_id_header,
            idempotency: submitted
                .idempotency_key
                .as_deref()
                .map(|key| (key, submitted.fingerprint.as_str())),
            now: OffsetDateTime::now_utc(),
            test: is_sandbox(peer),
        };
        match self.store.accept_message(new, &self.settings.quotas).await {
            Ok((outcome, _)) => reply(outcome, message.stream, is_sandbox(peer)),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "submission: the message was not stored");
                Reply::new(
                    451,
                    "4.3.0 Temporary failure storing the message, try again",
                )
            }
        }
    }

    /// The tenant sends from `domain`: 553 if not (or not verified when required).
    async fn own_domain(&self, tenant: &TenantId, domain: &str) -> Result<(), Reply> {
        match self.store.sending_domain(tenant, domain).await {
            Ok(None) => Err(Reply::new(
                553,
                format!("5.7.1 {domain} is not one of this account's sending domains"),
            )),
            Ok(Some(found))
                if self.settings.require_verified && found.status != DomainStatus::Verified =>
            {
                Err(Reply::new(
                    553,
                    format!(
                        "5.7.1 {domain} is not verified; publish its DNS records and verify it"
                    ),
                ))
            }
            Ok(Some(_)) => Ok(()),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "submission: could not read the sending domain");
                Err(Reply::new(451, "4.3.0 Temporary failure, try again"))
            }
        }
    }

    /// Bulk mail of a tenant the reputation guard paused is refused, as the API
    /// refuses it with a 429: temporarily (the pause lasts until an operator resumes
    /// it, and the client's retries find it lifted), naming why.
    async fn bulk_allowed(&self, tenant: &TenantId) -> Result<(), Reply> {
        match self.store.bulk_pause(tenant).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(Reply::new(
                451,
                "4.7.1 Bulk sending of this account is paused: its bounce or complaint rate is over the limit; an operator must resume it (transactional mail is not affected)",
            )),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "submission: could not read the bulk pause");
                Err(Reply::new(451, "4.3.0 Temporary failure, try again"))
            }
        }
    }
}

/// Marks a sandbox key's session in its principal (see [`Submission::check_key`]).
const SANDBOX: &str = "test";

fn tenant(peer: &Peer) -> Option<TenantId> {
    let principal = &peer.auth.as_ref()?.principal;
    TenantId::parse(principal.split(' ').next()?).ok()
}

/// Whether the session authenticated with a sandbox key: its messages are simulated.
fn is_sandbox(peer: &Peer) -> bool {
    peer.auth
        .as_ref()
        .is_some_and(|auth| auth.principal.split(' ').nth(1) == Some(SANDBOX))
}

/// The end-of-data reply for an accept's outcome.
fn reply(outcome: AcceptOutcome, stream: sluice_model::MessageStream, test: bool) -> Reply {
    match outcome {
        AcceptOutcome::Created { id, .. } => {
            metrics::counter!(
                "sluice_messages_accepted_total",
                "stream" => stream.as_str(),
                "mode" => if test { "test" } else { "live" },
            )
            .increment(1);
            metrics::counter!("sluice_submission_accepted_total").increment(1);
            Reply::new(250, format!("2.0.0 Ok: queued as {id}"))
        }
        AcceptOutcome::Replayed { id, .. } => Reply::new(
            250,
            format!("2.0.0 Ok: already queued as {id} (same Idempotency-Key)"),
        ),
        AcceptOutcome::Conflict { id } => Reply::new(
            554,
            format!("5.6.0 Idempotency-Key was already used with a different message ({id})"),
        ),
        AcceptOutcome::InProgress { id } => Reply::new(
            451,
            format!(
                "4.3.0 A message with this Idempotency-Key is still being stored ({id}); try again"
            ),
        ),
        AcceptOutcome::NotStored => Reply::new(
            451,
            "4.3.0 Temporary failure storing the message, try again",
        ),
        AcceptOutcome::OverQuota {
            stream,
            limit,
            retry_after,
        } => {
            let wait = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            match limit {
                QuotaLimit::Rate => Reply::new(
                    451,
                    format!(
                        "4.7.1 Rate limit of the {stream} stream reached; try again in {wait} s"
                    ),
                ),
                QuotaLimit::Daily => Reply::new(
                    452,
                    format!(
                        "4.5.3 Daily quota of the {stream} stream reached; try again in {wait} s"
                    ),
                ),
            }
        }
    }
}
