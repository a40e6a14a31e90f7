//! What the inbound SMTP listener of the bounce domain does with what it receives:
//! DSNs (RFC 3464) and complaint reports (RFC 5965) sent to a VERP address become
//! `message.bounced` / `message.complained` events on the message they are about, and
//! mail to `bounces+unsubscribe-<token>@…` (the mailto of `List-Unsubscribe`)
//! unsubscribes.
//!
//! The listener (the binary wires it) accepts mail only for the bounce domain (no open
//! relay) and caps connections (in total and per client IP), time and sizes like any
//! internet-facing listener (see `[inbound]` in the configuration). [`BounceHandler`]
//! answers `250` only once the event is stored (`451` when Redis is unavailable, so
//! the reporting MTA retries), and never answers any mail with mail: anything it
//! cannot use — an out-of-office reply, a message that is no report — is accepted and
//! dropped, with a metric.
//!
//! Parsing runs on the blocking pool, a few at a time (one per core), so a hostile
//! message never holds a runtime thread; a report affects only the recipients its VERP
//! token vouches for ([`scope`]).

mod scope;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use sluice_model::{EventType, MessageEvent, RecipientStatus};
use sluice_smtp_server::{DeliverFuture, Peer, ReceivedMessage, Reply, SinkBehavior};
use sluice_store::{Store, StoreError};
use sluice_wire::{
    InboundError, InboundReport, UnsubscribeCodec, VerpCodec, VerpToken, parse_inbound,
};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use scope::Scope;

/// The local part prefix of unsubscribe mailto addresses.
const UNSUBSCRIBE_PREFIX: &str = "bounces+unsubscribe-";

/// The recipient index of a VERP token made for several recipients at once.
const SEVERAL: u16 = u16::MAX;

pub struct BounceHandler {
    store: Store,
    verp: VerpCodec,
    unsubscribe: UnsubscribeCodec,
    /// Parses in flight at once: one per core, so a burst of large reports queues here
    /// instead of filling the blocking pool and starving other blocking work.
    parsers: Arc<Semaphore>,
}

/// What one inbound message turned into (for logs and metrics).
#[derive(Debug, PartialEq, Eq)]
enum Handled {
    Recorded(usize),
    Unmatched(&'static str),
}

/// What the blocking pool found in one message.
struct Parsed {
    report: InboundReport,
    token: Option<VerpToken>,
}

impl SinkBehavior for BounceHandler {
    fn deliver<'a>(&'a self, _peer: &'a Peer, msg: &'a ReceivedMessage) -> DeliverFuture<'a> {
        Box::pin(async move {
            match self.handle(msg).await {
                Ok(handled) => {
                    let outcome = match &handled {
                        Handled::Recorded(_) => "recorded",
                        Handled::Unmatched(why) => why,
                    };
                    metrics::counter!("sluice_inbound_messages_total", "outcome" => outcome)
                        .increment(1);
                    if handled == Handled::Unmatched("auto-reply") {
                        tracing::debug!(id = %msg.id, from = %msg.mail_from, "automatic reply dropped");
                    } else {
                        tracing::info!(id = %msg.id, from = %msg.mail_from, ?handled, "inbound report");
                    }
                    Reply::new(250, format!("2.0.0 Ok: {}", msg.id))
                }
                Err(e) => {
                    tracing::warn!(id = %msg.id, error = %e, "could not record an inbound report");
                    Reply::new(451, "4.3.0 Temporary local problem, try again later")
                }
            }
        })
    }
}

impl BounceHandler {
    pub fn new(store: Store, verp: VerpCodec, unsubscribe: UnsubscribeCodec) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            store,
            verp,
            unsubscribe,
            parsers: Arc::new(Semaphore::new(cores)),
        }
    }

    async fn handle(&self, msg: &ReceivedMessage) -> Result<Handled, StoreError> {
        if let Some(token) = msg.rcpt_to.iter().find_map(|r| self.unsubscribe_token(r)) {
            return Ok(
                match self.store.unsubscribe(&token.0, token.1, "mailto").await? {
                    Some(_) => Handled::Recorded(1),
                    None => Handled::Unmatched("unknown-message"),
                },
            );
        }
        let Parsed { report, token } = match self.parse(msg).await {
            Ok(parsed) => parsed,
            Err(InboundError::AutoReply) => return Ok(Handled::Unmatched("auto-reply")),
            Err(_) => return Ok(Handled::Unmatched("not-a-report")),
        };
        let Some(token) = token else {
            return Ok(Handled::Unmatched("no-token"));
        };
        let scope = if token.recipient_index == SEVERAL {
            Scope::Several
        } else {
            match self
                .store
                .recipient_at(&token.message_id, token.recipient_index)
                .await?
            {
                Some(address) => Scope::One(address),
                None => return Ok(Handled::Unmatched("unknown-recipient")),
            }
        };
        let now = OffsetDateTime::now_utc();
        let mut recorded: Vec<String> = Vec::new();
        match report {
            InboundReport::Dsn(dsn) => {
                for (r, candidates) in scope::dsn_targets(&dsn.recipients, &scope) {
                    let (kind, status) = match r.action {
                        sluice_wire::DsnAction::Failed => {
                            (EventType::Bounced, Some(RecipientStatus::Bounced))
                        }
                        sluice_wire::DsnAction::Delayed => (EventType::Deferred, None),
                        _ => continue,
                    };
                    let mut event = MessageEvent::new(kind, now);
                    event.smtp_reply = r.smtp_reply();
                    event.dsn_status = r.status.clone();
                    if kind == EventType::Bounced
                        && let Some((bounce_type, class)) = r.classify()
                    {
                        event = event.bounce(bounce_type, class);
                    }
                    event.detail = Some(match &dsn.reporting_mta {
                        Some(mta) => format!("reported by {mta}"),
                        None => "reported by a delivery status notification".to_string(),
                    });
                    self.record(&token, &candidates, status, event, &mut recorded)
                        .await?;
                }
            }
            InboundReport::Arf(arf) => {
                let mut event = MessageEvent::new(EventType::Complained, now);
                event.feedback_type = serde_json::to_value(arf.feedback_type)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string));
                event.detail = arf
                    .user_agent
                    .as_ref()
                    .map(|agent| format!("feedback report from {agent}"));
                for address in scope::arf_targets(&arf, &scope) {
                    self.record(&token, &[address], None, event.clone(), &mut recorded)
                        .await?;
                }
            }
        }
        Ok(if recorded.is_empty() {
            Handled::Unmatched("unknown-recipient")
        } else {
            Handled::Recorded(recorded.len())
        })
    }

    /// Parses on the blocking pool, at most one message per core at a time: parsing is
    /// linear with capped inputs, but a 10 MB report still takes milliseconds of CPU
    /// that would otherwise stall every connection sharing the runtime thread.
    async fn parse(&self, msg: &ReceivedMessage) -> Result<Parsed, InboundError> {
        let Ok(_permit) = self.parsers.acquire().await else {
            return Err(InboundError::Unrecognized); // never closed
        };
        let (data, rcpt_to, verp) = (msg.data.clone(), msg.rcpt_to.clone(), self.verp.clone());
        let started = Instant::now();
        let parsed = tokio::task::spawn_blocking(move || {
            let report = parse_inbound(&data)?;
            // The envelope recipient is the better source; the returned headers the fallback.
            let token = rcpt_to
                .iter()
                .find_map(|r| verp.decode(r))
                .or_else(|| report.find_verp(&verp));
            Ok(Parsed { report, token })
        })
        .await;
        metrics::histogram!("sluice_inbound_parse_seconds").record(started.elapsed().as_secs_f64());
        parsed.unwrap_or_else(|e| {
            tracing::error!(id = %msg.id, error = %e, "parsing an inbound message failed");
            Err(InboundError::Unrecognized)
        })
    }

    /// Records `event` for the first of `candidates` that is a recipient of the token's
    /// message, unless an event of this report was already recorded for it.
    async fn record(
        &self,
        token: &VerpToken,
        candidates: &[String],
        status: Option<RecipientStatus>,
        mut event: MessageEvent,
        recorded: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        for address in candidates {
            if recorded.iter().any(|r| r.eq_ignore_ascii_case(address)) {
                return Ok(());
            }
            event.recipient = Some(address.clone());
            if self
                .store
                .record_message_event(&token.message_id, address, status, &event)
                .await?
            {
                recorded.push(address.clone());
                return Ok(());
            }
        }
        Ok(())
    }

    /// The domain whose `bounces+` addresses this handler reads (the VERP codec's).
    pub fn bounce_domain(&self) -> &sluice_model::DomainName {
        self.verp.bounce_domain()
    }

    fn unsubscribe_token(&self, recipient: &str) -> Option<(sluice_model::MessageId, u16)> {
        let lower = recipient.to_ascii_lowercase();
        let (local, domain) = lower.rsplit_once('@')?;
        if domain.trim_end_matches('.') != self.verp.bounce_domain().as_str() {
            return None;
        }
        self.unsubscribe
            .verify(local.strip_prefix(UNSUBSCRIBE_PREFIX)?)
    }
}
