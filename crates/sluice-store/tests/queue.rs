//! The store against a real, private redis-server.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_model::{
    EventType, MessageEvent, MessageId, MessageStatus, MessageStream, RecipientStatus,
};
use sluice_store::{AcceptOutcome, Settlement};
use time::OffsetDateTime;

mod support;

use support::{accept, created_id, fixture, message, queued};

#[tokio::test]
async fn accepted_messages_are_visible_only_to_their_tenant() {
    let f = fixture().await;
    let id = queued(&f, MessageStream::Transactional).await;
    let view = f.store.get_message(&f.tenant, &id).await.unwrap().unwrap();
    assert_eq!(view.status, MessageStatus::Queued);
    assert_eq!(view.recipients[0].address, "jane@example.com");
    assert_eq!(view.events[0].kind, EventType::Accepted);

    let other = f.store.create_tenant("other").await.unwrap().id;
    assert!(f.store.get_message(&other, &id).await.unwrap().is_none());
}

#[tokio::test]
async fn idempotency_replays_the_same_body_and_refuses_another() {
    let f = fixture().await;
    let msg = message(MessageStream::Transactional, "jane@example.com");
    let first = created_id(accept(&f, &msg, Some(("key-1", "fp-a"))).await);
    assert_eq!(
        accept(&f, &msg, Some(("key-1", "fp-a"))).await,
        AcceptOutcome::Replayed {
            id: first.clone(),
            status: MessageStatus::Queued
        }
    );
    assert_eq!(
        accept(&f, &msg, Some(("key-1", "fp-b"))).await,
        AcceptOutcome::Conflict { id: first }
    );
    // The replay enqueued nothing new.
    let queue = f.store.queue().await.unwrap();
    assert_eq!(queue.depth().await.unwrap().transactional, 1);
}

#[tokio::test]
async fn transactional_is_read_before_bulk_even_when_queued_later() {
    let f = fixture().await;
    for i in 0..200 {
        accept(
            &f,
            &message(MessageStream::Bulk, &format!("b{i}@example.com")),
            None,
        )
        .await;
    }
    let otp = created_id(
        accept(
            &f,
            &message(MessageStream::Transactional, "otp@example.com"),
            None,
        )
        .await,
    );
    let queue = f.store.queue().await.unwrap();
    let batch = queue.next_batch("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(
        batch.len(),
        1,
        "a transactional batch is not padded with bulk"
    );
    assert_eq!(batch[0].message_id, otp);
    let batch = queue.next_batch("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(batch.len(), 10);
    assert!(batch.iter().all(|e| e.stream == MessageStream::Bulk));
}

#[tokio::test]
async fn settling_records_the_outcome_and_removes_the_entry() {
    let f = fixture().await;
    let id = queued(&f, MessageStream::Transactional).await;
    let queue = f.store.queue().await.unwrap();
    let entry = queue
        .next_batch("w1", 10, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    let mut job = queue.load(&entry).await.unwrap().into_job().unwrap();
    job.recipients[0].status = RecipientStatus::Delivered;
    let now = OffsetDateTime::now_utc();
    let settlement = Settlement {
        status: MessageStatus::Delivered,
        recipients: job.recipients.clone(),
        attempts: 1,
        events: vec![MessageEvent::new(EventType::Delivered, now).recipient("jane@example.com")],
        retry_at: None,
        waitlists: vec![],
    };
    queue.settle(&entry, &settlement).await.unwrap();
    // Settling again (a retry after a lost reply, or a second worker that took a slow
    // one over) records nothing twice.
    queue.settle(&entry, &settlement).await.unwrap();

    let view = f.store.get_message(&f.tenant, &id).await.unwrap().unwrap();
    assert_eq!(view.status, MessageStatus::Delivered);
    assert_eq!(view.attempts, 1);
    assert_eq!(
        view.events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventType::Accepted, EventType::Delivered]
    );
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.transactional, depth.in_flight), (0, 0));
    // A stale reclaim of the same entry finds nothing left to do.
    assert!(queue.load(&entry).await.unwrap().into_job().is_none());
}

#[tokio::test]
async fn deferred_messages_come_back_when_due() {
    let f = fixture().await;
    let id = queued(&f, MessageStream::Bulk).await;
    let queue = f.store.queue().await.unwrap();
    let entry = queue
        .next_batch("w1", 10, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    let job = queue.load(&entry).await.unwrap().into_job().unwrap();
    let retry_at = OffsetDateTime::now_utc() + time::Duration::seconds(60);
    let settlement = Settlement {
        status: MessageStatus::Deferred,
        recipients: job.recipients,
        attempts: 1,
        events: vec![],
        retry_at: Some(retry_at),
        waitlists: vec![],
    };
    queue.settle(&entry, &settlement).await.unwrap();
    assert_eq!(queue.depth().await.unwrap().delayed, 1);
    assert_eq!(
        queue
            .promote_due(OffsetDateTime::now_utc(), 100)
            .await
            .unwrap(),
        0,
        "not due yet"
    );
    assert_eq!(queue.promote_due(retry_at, 100).await.unwrap(), 1);
    let again = queue.next_batch("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(again[0].message_id, id);
    assert_eq!(again[0].stream, MessageStream::Bulk);
    assert_eq!(
        queue
            .load(&again[0])
            .await
            .unwrap()
            .into_job()
            .unwrap()
            .attempts,
        1
    );
}

#[tokio::test]
async fn a_freed_connection_releases_parked_mail_once() {
    let f = fixture().await;
    let queue = f.store.queue().await.unwrap();
    let mut ids = Vec::new();
    for to in ["a@busy.test", "b@busy.test", "c@busy.test"] {
        ids.push(created_id(
            accept(&f, &message(MessageStream::Bulk, to), None).await,
        ));
    }
    let far = OffsetDateTime::now_utc() + time::Duration::seconds(30);
    let batch = queue.next_batch("w1", 10, Duration::ZERO).await.unwrap();
    for (i, entry) in batch.iter().enumerate() {
        let job = queue.load(entry).await.unwrap().into_job().unwrap();
        let settlement = Settlement {
            status: MessageStatus::Queued,
            recipients: job.recipients,
            attempts: 0,
            events: vec![],
            retry_at: Some(far + time::Duration::seconds(i as i64)),
            waitlists: vec!["busy".into()],
        };
        queue.settle(entry, &settlement).await.unwrap();
    }
    assert_eq!(queue.depth().await.unwrap().delayed, 3);

    // The first message's fallback time came (the mover took it): its list entry is
    // stale, so a release skips it and moves the next one instead.
    assert_eq!(queue.promote_due(far, 10).await.unwrap(), 1);
    let fallback = queue.next_batch("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(fallback.len(), 1);
    let first = fallback[0].message_id.clone();
    assert_eq!(queue.release_waiting("busy", 1).await.unwrap(), (1, 1));
    let released = queue.next_batch("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].stream, MessageStream::Bulk);
    assert_ne!(released[0].message_id, first, "never queued twice");
    assert_eq!(queue.depth().await.unwrap().delayed, 1);

    assert_eq!(queue.release_waiting("busy", 5).await.unwrap(), (1, 0));
    assert_eq!(queue.depth().await.unwrap().delayed, 0);
    assert_eq!(queue.release_waiting("busy", 5).await.unwrap(), (0, 0));
    assert_eq!(
        queue.release_waiting("other", 5).await.unwrap(),
        (0, 0),
        "wait lists are per destination"
    );
    let mut seen: Vec<MessageId> = queue
        .next_batch("w1", 10, Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message_id)
        .chain([first, released[0].message_id.clone()])
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "every parked message came back exactly once");
}

#[tokio::test]
async fn a_dead_consumers_entries_are_taken_over_once_its_liveness_expires() {
    let f = fixture().await;
    let id = queued(&f, MessageStream::Transactional).await;
    let queue = f.store.queue().await.unwrap();
    let ttl = Duration::from_millis(300);
    queue.announce("killed", ttl).await.unwrap();
    let taken = queue
        .next_batch("killed", 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    queue.announce("alive", ttl).await.unwrap();
    // While its key lives, nothing is taken, however long the delivery lasts.
    assert!(
        queue
            .take_over_dead("alive", ttl, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    // Right after a Redis restart an expired key proves nothing yet.
    assert!(
        queue
            .take_over_dead("alive", ttl, 10, Duration::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = queue
        .take_over_dead("alive", ttl, 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].message_id, id);
    // Only once: a second look (or a second taker) finds nothing, and the dead
    // consumer, now without entries, leaves the group.
    assert!(
        queue
            .take_over_dead("other", ttl, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    let mut conn = redis::Client::open(f.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let consumers: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg("sluice:v1:{sluice:q0}:stream:transactional")
        .arg("workers")
        .query_async(&mut conn)
        .await
        .unwrap();
    let names: Vec<&str> = consumers
        .consumers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert!(!names.contains(&"killed"), "{names:?}");
}

#[tokio::test]
async fn a_stopped_consumer_hands_its_entries_back_at_once() {
    let f = fixture().await;
    queued(&f, MessageStream::Bulk).await;
    let queue = f.store.queue().await.unwrap();
    let ttl = Duration::from_secs(60);
    queue.announce("draining", ttl).await.unwrap();
    assert_eq!(
        queue
            .next_batch("draining", 10, Duration::ZERO)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        queue
            .take_over_dead("next", ttl, 10, Duration::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    // Handed back: taken even right after a Redis restart, when expired keys are not.
    queue.retire("draining").await.unwrap();
    assert_eq!(
        queue
            .take_over_dead("next", ttl, 10, Duration::MAX)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_consumer_without_liveness_is_dead_only_once_idle_for_a_period() {
    // A process from before liveness keys keeps reading; it must not be robbed.
    let f = fixture().await;
    queued(&f, MessageStream::Transactional).await;
    let queue = f.store.queue().await.unwrap();
    assert_eq!(
        queue
            .next_batch("old", 10, Duration::ZERO)
            .await
            .unwrap()
            .len(),
        1
    );
    let ttl = Duration::from_millis(400);
    assert!(
        queue
            .take_over_dead("new", ttl, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(
        queue
            .take_over_dead("new", ttl, 10, Duration::ZERO)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn own_idle_entries_are_found_again() {
    let f = fixture().await;
    let id = queued(&f, MessageStream::Transactional).await;
    let queue = f.store.queue().await.unwrap();
    assert_eq!(
        queue
            .next_batch("w1", 10, Duration::ZERO)
            .await
            .unwrap()
            .len(),
        1
    );
    let idle = Duration::from_millis(200);
    assert!(queue.own_idle("w1", idle, 10).await.unwrap().is_empty());
    tokio::time::sleep(idle + Duration::from_millis(50)).await;
    // Another consumer's idle entries are not its own.
    assert!(queue.own_idle("w2", idle, 10).await.unwrap().is_empty());
    let found = queue.own_idle("w1", idle, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message_id, id);
    // Found again means claimed again: its idle time restarted.
    assert!(queue.own_idle("w1", idle, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_entry_without_its_record_is_kept_as_lost() {
    let f = fixture().await;
    let id = queued(&f, MessageStream::Transactional).await;
    let mut conn = redis::Client::open(f.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("sluice:v1:{{sluice:q0}}:msg:{id}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let queue = f.store.queue().await.unwrap();
    let entry = queue
        .next_batch("w1", 10, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    assert!(matches!(
        queue.load(&entry).await.unwrap(),
        sluice_store::Loaded::Missing
    ));
    queue.dead_letter(&entry, "record missing").await.unwrap();
    let lost: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("sluice:v1:{sluice:q0}:lost")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(lost.ids.len(), 1);
    assert_eq!(lost.ids[0].get::<String>("m"), Some(id.to_string()));
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.transactional, depth.in_flight), (0, 0));
}

#[tokio::test]
async fn scheduled_messages_wait_in_the_delayed_set() {
    let f = fixture().await;
    let mut msg = message(MessageStream::Transactional, "jane@example.com");
    let at = OffsetDateTime::now_utc() + time::Duration::hours(1);
    msg.send_at = Some(at);
    let outcome = accept(&f, &msg, None).await;
    let AcceptOutcome::Created { id, status } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(status, MessageStatus::Scheduled);
    let queue = f.store.queue().await.unwrap();
    assert!(
        queue
            .next_batch("w1", 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(queue.promote_due(at, 10).await.unwrap(), 1);
    assert_eq!(
        queue.next_batch("w1", 10, Duration::ZERO).await.unwrap()[0].message_id,
        id
    );
}

#[tokio::test]
async fn blocking_reads_wake_up_when_mail_arrives() {
    let f = fixture().await;
    let queue = f.store.queue().await.unwrap();
    let reader = {
        let queue = queue.clone();
        tokio::spawn(async move {
            queue
                .next_batch("w1", 10, Duration::from_secs(4))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = queued(&f, MessageStream::Bulk).await;
    let batch = tokio::time::timeout(Duration::from_secs(3), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch[0].message_id, id);
}
