//! The event fan-out: event stream → tenant feed, suppression list, webhook schedule.
//!
//! Each batch is handled as a whole and acknowledged only once all of it is done:
//! copied to the feeds, the suppression policy applied, one delivery scheduled per
//! subscribed, enabled endpoint. A failure leaves the batch pending; it is read again
//! (first, before anything newer) and every step is safe to repeat: the feed skips a
//! copy it has (and gives back the id it gave then, so the webhook keeps its id), the
//! suppression list keeps its entry, the schedule keeps a delivery it has. A delivery that already *succeeded* is sent again, though — webhooks are
//! at-least-once and receivers de-duplicate on `webhook-id`.
//!
//! Each queue partition has its own event stream and its own fan-out. A partition's
//! events are copied in order, so one process at a time (the holder of that
//! partition's lease in Redis) runs its fan-out; the others stand by and take over
//! within seconds of a crash, starting with what the crashed one left pending. A
//! single fan-out copies thousands of events per second: every step is batched per
//! read (the copies to the feeds, one call per tenant, all at once; the endpoint
//! lookup and the scheduling are one round trip each per batch).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use sluice_model::{EventType, TenantId, WebhookId};
use sluice_store::{EventStream, NewDelivery, Partition, PendingEvent, Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::WebhookConfig;

/// The leader's lease; renewed before every read (reads block for at most 1 s).
const LEADER_LEASE: Duration = Duration::from_secs(10);

pub struct Fanout {
    partition: Partition,
    store: Store,
    stream: EventStream,
    config: Arc<WebhookConfig>,
    wake: Arc<Notify>,
}

impl Fanout {
    pub async fn new(
        store: Store,
        config: Arc<WebhookConfig>,
        wake: Arc<Notify>,
        partition: Partition,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            partition,
            stream: store.event_stream(partition).await?,
            store,
            config,
            wake,
        })
    }

    /// The queue partition whose events this fan-out copies.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        let consumer = self.config.consumer.clone();
        let mut leading = false;
        let mut backlog_at = Instant::now() - Duration::from_secs(60);
        while !shutdown.is_cancelled() {
            match self
                .store
                .lead_fanout(self.partition, &consumer, LEADER_LEASE)
                .await
            {
                Ok(true) => {
                    if !leading {
                        tracing::info!(%consumer, partition = %self.partition, "this process now runs the event fan-out");
                        leading = true;
                    }
                }
                Ok(false) => {
                    leading = false;
                    pause(&shutdown, Duration::from_secs(2)).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event fan-out: Redis unavailable");
                    pause(&shutdown, Duration::from_secs(1)).await;
                    continue;
                }
            }
            if backlog_at.elapsed() > Duration::from_secs(5) {
                backlog_at = Instant::now();
                self.report_backlog().await;
            }
            // As the only reader, everything pending is ours or a crashed leader's:
            // take it back at once (idle 0), oldest first, before reading new events.
            let batch = self
                .stream
                .next_batch(
                    &consumer,
                    self.config.fanout_batch,
                    Duration::from_secs(1),
                    Duration::ZERO,
                )
                .await;
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event stream failed; retrying");
                    // The stream or its group may be gone (FLUSHALL): recreate them.
                    if let Ok(stream) = self.store.event_stream(self.partition).await {
                        self.stream = stream;
                    }
                    pause(&shutdown, Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut batch = batch;
            if batch.is_empty() {
                continue;
            }
            if let Err(e) = self.process(&mut batch).await {
                tracing::warn!(error = %e, events = batch.len(), "event fan-out failed; the batch stays pending and is retried");
                pause(&shutdown, Duration::from_secs(1)).await;
            }
        }
        if leading && let Err(e) = self.store.resign_fanout(self.partition, &consumer).await {
            tracing::debug!(error = %e, "could not hand the fan-out lease back");
        }
        tracing::info!("event fan-out stopped");
    }

    async fn process(&self, batch: &mut [PendingEvent]) -> Result<(), StoreError> {
        // In stream order; gives each event its feed id, which webhooks then carry.
        self.stream.publish_all(batch).await?;
        let batch: &[PendingEvent] = batch;

        try_join_all(batch.iter().map(|event| {
            crate::suppression::apply_event(&self.store, &event.tenant, &event.record)
        }))
        .await?;
        // Exactly once per event even when this batch is read again (feed ids).
        crate::reputation::count_batch(&self.store, &self.config.reputation, self.partition, batch)
            .await?;

        let mut tenants: Vec<TenantId> = batch.iter().map(|e| e.tenant.clone()).collect();
        tenants.sort();
        tenants.dedup();
        let endpoints = self.store.enabled_webhooks(&tenants).await?;
        let deliveries = deliveries(batch, &endpoints);
        if !deliveries.is_empty() {
            let scheduled = self
                .store
                .enqueue_webhook_deliveries(
                    &deliveries,
                    sluice_model::time::now_ms(),
                    self.config.delivery_ttl(),
                    false,
                )
                .await?;
            metrics::counter!("sluice_webhook_deliveries_scheduled_total")
                .increment(scheduled as u64);
            self.wake.notify_one();
        }

        let ids: Vec<String> = batch.iter().map(|e| e.entry_id.clone()).collect();
        self.stream.ack(&ids).await?;
        crate::outcome_counts::record(&self.store, batch).await;

        let now = OffsetDateTime::now_utc();
        metrics::counter!("sluice_events_fanned_out_total").increment(batch.len() as u64);
        for event in batch {
            let lag = (now - event.record.event.timestamp)
                .as_seconds_f64()
                .max(0.0);
            metrics::histogram!("sluice_event_fanout_lag_seconds").record(lag);
        }
        tracing::debug!(
            events = batch.len(),
            deliveries = deliveries.len(),
            "events fanned out"
        );
        Ok(())
    }

    async fn report_backlog(&self) {
        if let Ok(backlog) = self.stream.backlog().await {
            metrics::gauge!("sluice_event_backlog").set(backlog as f64);
        }
        if let Ok(endpoints) = self.store.webhook_endpoints_with_work().await {
            metrics::gauge!("sluice_webhook_endpoints_pending").set(endpoints as f64);
        }
    }
}

/// One delivery per (event, enabled endpoint of its tenant that wants its type).
fn deliveries<'a>(
    batch: &'a [PendingEvent],
    endpoints: &'a HashMap<TenantId, Vec<(WebhookId, Vec<EventType>)>>,
) -> Vec<NewDelivery<'a>> {
    let mut out = Vec::new();
    for event in batch {
        let Some(subscribed) = endpoints.get(&event.tenant) else {
            continue;
        };
        for (endpoint, filter) in subscribed {
            if filter.is_empty() || filter.contains(&event.record.event.kind) {
                out.push(NewDelivery {
                    tenant: &event.tenant,
                    endpoint,
                    record: &event.record,
                });
            }
        }
    }
    out
}

async fn pause(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = shutdown.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use sluice_model::{EventRecord, MessageEvent};

    use super::*;

    fn pending(tenant: &TenantId, kind: EventType, n: u32) -> PendingEvent {
        PendingEvent {
            entry_id: format!("1-{n}"),
            tenant: tenant.clone(),
            record: EventRecord {
                id: format!("evt_1-{n}"),
                message_id: None,
                event: MessageEvent::new(kind, OffsetDateTime::UNIX_EPOCH),
                tags: Vec::new(),
                metadata: Default::default(),
            },
        }
    }

    #[test]
    fn each_event_goes_to_its_tenants_subscribed_endpoints() {
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let (all, bounces, other) = (
            WebhookId::generate(),
            WebhookId::generate(),
            WebhookId::generate(),
        );
        let endpoints = HashMap::from([
            (
                a.clone(),
                vec![
                    (all.clone(), vec![]),
                    (bounces.clone(), vec![EventType::Bounced]),
                ],
            ),
            (b.clone(), vec![(other.clone(), vec![EventType::Delivered])]),
        ]);
        let batch = [
            pending(&a, EventType::Delivered, 1),
            pending(&a, EventType::Bounced, 2),
            pending(&b, EventType::Bounced, 3),
            pending(&TenantId::generate(), EventType::Delivered, 4),
        ];
        let got: Vec<(String, String)> = deliveries(&batch, &endpoints)
            .iter()
            .map(|d| (d.endpoint.to_string(), d.record.id.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (all.to_string(), "evt_1-1".to_string()),
                (all.to_string(), "evt_1-2".to_string()),
                (bounces.to_string(), "evt_1-2".to_string()),
            ]
        );
    }
}
