//! The inbound SMTP listener of the bounce domain: DSNs (RFC 3464) and complaint
//! reports (RFC 5965) sent to a VERP address become `message.bounced` /
//! `message.complained` events on the message they are about, and mail to
//! `bounces+unsubscribe-<token>@…` (the mailto of `List-Unsubscribe`) unsubscribes.
//!
//! It accepts mail only for the bounce domain (no open relay), caps sizes like any
//! internet-facing listener, answers `250` only once the event is stored (`451` when
//! Redis is unavailable, so the reporting MTA retries), and never answers a bounce with
//! a bounce: anything it cannot use is accepted and dropped, with a metric.

use std::sync::Arc;

use sluice_events::{InboundReport, UnsubscribeCodec, VerpCodec, VerpToken, parse_inbound};
use sluice_model::{EventType, MessageEvent, RecipientStatus};
use sluice_smtp_sink::{DeliverFuture, Peer, ReceivedMessage, Reply, SinkBehavior};
use sluice_store::{Store, StoreError};
use time::OffsetDateTime;

/// The local part prefix of unsubscribe mailto addresses.
const UNSUBSCRIBE_PREFIX: &str = "bounces+unsubscribe-";

/// The recipient index of a VERP token made for several recipients at once.
const SEVERAL: u16 = u16::MAX;

pub struct BounceHandler {
    pub store: Store,
    pub verp: VerpCodec,
    pub unsubscribe: UnsubscribeCodec,
}

/// What one inbound message turned into (for logs and metrics).
#[derive(Debug, PartialEq, Eq)]
enum Handled {
    Recorded(usize),
    Unmatched(&'static str),
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
                    tracing::info!(id = %msg.id, from = %msg.mail_from, ?handled, "inbound report");
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
    async fn handle(&self, msg: &ReceivedMessage) -> Result<Handled, StoreError> {
        if let Some(token) = msg.rcpt_to.iter().find_map(|r| self.unsubscribe_token(r)) {
            return Ok(
                match self.store.unsubscribe(&token.0, token.1, "mailto").await? {
                    Some(_) => Handled::Recorded(1),
                    None => Handled::Unmatched("unknown-message"),
                },
            );
        }
        let report = match parse_inbound(&msg.data) {
            Ok(report) => report,
            Err(_) => return Ok(Handled::Unmatched("not-a-report")),
        };
        let token = msg
            .rcpt_to
            .iter()
            .find_map(|r| self.verp.decode(r))
            .or_else(|| report.find_verp(&self.verp));
        let Some(token) = token else {
            return Ok(Handled::Unmatched("no-token"));
        };
        let now = OffsetDateTime::now_utc();
        let mut recorded = 0;
        match report {
            InboundReport::Dsn(dsn) => {
                for r in &dsn.recipients {
                    let (kind, status) = match r.action {
                        sluice_events::DsnAction::Failed => {
                            (EventType::Bounced, Some(RecipientStatus::Bounced))
                        }
                        sluice_events::DsnAction::Delayed => (EventType::Deferred, None),
                        _ => continue,
                    };
                    let reported = r
                        .final_recipient
                        .as_deref()
                        .or(r.original_recipient.as_deref());
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
                    if self.record(&token, reported, status, event).await? {
                        recorded += 1;
                    }
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
                let reported = arf
                    .original_rcpt_to
                    .first()
                    .cloned()
                    .or_else(|| arf.original_to());
                if self
                    .record(&token, reported.as_deref(), None, event)
                    .await?
                {
                    recorded += 1;
                }
            }
        }
        Ok(if recorded > 0 {
            Handled::Recorded(recorded)
        } else {
            Handled::Unmatched("unknown-recipient")
        })
    }

    /// Records `event` for the recipient the report names, else the one the token
    /// names (a forwarded address differs from the one Sluice sent to).
    async fn record(
        &self,
        token: &VerpToken,
        reported: Option<&str>,
        status: Option<RecipientStatus>,
        mut event: MessageEvent,
    ) -> Result<bool, StoreError> {
        if let Some(address) = reported.map(bare_address) {
            event.recipient = Some(address.clone());
            if self
                .store
                .record_message_event(&token.message_id, &address, status, &event)
                .await?
            {
                return Ok(true);
            }
        }
        if token.recipient_index == SEVERAL {
            return Ok(false);
        }
        let Some(address) = self
            .store
            .recipient_at(&token.message_id, token.recipient_index)
            .await?
        else {
            return Ok(false);
        };
        event.recipient = Some(address.clone());
        self.store
            .record_message_event(&token.message_id, &address, status, &event)
            .await
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

/// `Jane <jane@example.com>` or `<jane@example.com>` → `jane@example.com`.
fn bare_address(text: &str) -> String {
    let text = text.trim();
    let inner = match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    inner.trim().to_string()
}

/// The listener's SMTP server: the bounce domain only, `bounces+` local parts (plus
/// postmaster and abuse), bounded sizes and connections.
pub fn listener_config(
    listen: std::net::SocketAddr,
    hostname: &str,
    handler: BounceHandler,
) -> sluice_smtp_sink::SinkConfig {
    let domain = handler.verp.bounce_domain().to_string();
    sluice_smtp_sink::SinkConfig {
        listen,
        hostname: hostname.to_string(),
        outbox: None,
        keep_in_memory: false,
        // DSNs return headers or the message; reports beyond this are not worth keeping.
        max_message_bytes: 10 * 1024 * 1024,
        max_recipients: 20,
        max_connections: 200,
        behavior: Arc::new(sluice_smtp_sink::RecipientDomains::new(
            [domain],
            "bounces+",
            Arc::new(handler),
        )),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::bare_address;

    #[test]
    fn addresses_lose_their_display_names() {
        assert_eq!(bare_address("Jane <jane@example.com>"), "jane@example.com");
        assert_eq!(bare_address(" <jane@example.com> "), "jane@example.com");
        assert_eq!(bare_address("jane@example.com"), "jane@example.com");
    }
}
