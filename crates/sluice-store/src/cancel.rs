//! Cancelling a message before it is sent (`DELETE /v1/messages/{id}`).
//!
//! The race that matters is with a worker that already read the message's stream
//! entry. Both sides go through one atomic script on the message hash: the worker's
//! load claims the message (see `scripts::CLAIM`), and the cancellation refuses while
//! a claim is held; a worker that loads a cancelled message finds it final and drops
//! its entry. So a message is cancelled only if no attempt is running or will run.

use sluice_model::{EventType, MessageEvent, MessageId, MessageStatus, MessageStream, TenantId};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::messages::parse_status;
use crate::reply::Reply;
use crate::{Store, StoreError, keys, scripts, to_ms};

/// What became of a cancellation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled; the status it ended in (`cancelled`, or `delivered` when some
    /// recipients had it from an earlier attempt).
    Cancelled(MessageStatus),
    /// No such message for this tenant (or it has expired).
    NotFound,
    /// Already final: nothing left to cancel.
    Final(MessageStatus),
    /// A worker is attempting delivery right now; its outcome decides.
    InFlight,
}

impl Store {
    pub async fn cancel_message(
        &self,
        tenant: &TenantId,
        id: &MessageId,
        now: OffsetDateTime,
    ) -> Result<CancelOutcome, StoreError> {
        let event = MessageEvent::new(EventType::Cancelled, now)
            .detail("cancelled by the sender; recipients not yet reached are not sent to");
        let mut test_event = event.clone();
        test_event.test = true;
        let event = serde_json::to_string(&event).map_err(|e| StoreError::corrupt("event", e))?;
        let test_event =
            serde_json::to_string(&test_event).map_err(|e| StoreError::corrupt("event", e))?;
        let now_text = now
            .format(&Rfc3339)
            .map_err(|e| StoreError::corrupt("cancel time", e))?;
        let Some(p) = self.locate(id).await? else {
            return Ok(CancelOutcome::NotFound);
        };
        let mut invocation = scripts::CANCEL.call();
        invocation
            .key(keys::message(p, id))
            .key(keys::message_events(p, id))
            .key(keys::delayed(p))
            .key(keys::event_stream(p))
            .key(keys::scheduled_bulk_owners(p))
            .arg(tenant.as_str())
            .arg(id.as_str())
            .arg(to_ms(now))
            .arg(now_text)
            .arg(event)
            .arg(self.retention.as_millis() as u64)
            .arg(keys::msg::TEST)
            .arg(test_event);
        for stream in MessageStream::ALL {
            invocation.arg(keys::delayed_member(stream, id));
        }
        let reply = invocation.invoke_async(&mut self.conn()).await?;
        decode(Reply::new("cancel", reply)?, id)
    }
}

/// The cancel script's reply: `{'cancelled', status}`, `{'missing'}`,
/// `{'final', status}` or `{'claimed', status}`.
fn decode(mut reply: Reply, id: &MessageId) -> Result<CancelOutcome, StoreError> {
    let outcome = reply.text("outcome")?;
    let mut status = || -> Result<MessageStatus, StoreError> {
        let text = reply.text("status")?;
        parse_status(&text).ok_or_else(|| StoreError::corrupt(id.as_str(), "status"))
    };
    Ok(match outcome.as_str() {
        "cancelled" => CancelOutcome::Cancelled(status()?),
        "final" => CancelOutcome::Final(status()?),
        "claimed" => CancelOutcome::InFlight,
        "missing" => CancelOutcome::NotFound,
        other => return Err(reply.error(format!("outcome {other}"))),
    })
}
