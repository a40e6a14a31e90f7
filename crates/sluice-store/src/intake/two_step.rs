//! Accepting on a Redis Cluster: the tenant's quota and Idempotency-Key checks in
//! its slot (`admit.lua`), then each partition stores its messages (`enqueue.lua`).

use std::time::Duration;

use redis::AsyncCommands;

use super::{
    AcceptOutcome, Accepted, ChunkBodies, NewMessage, Prepared, add_fields, add_queue_keys,
    add_quota_args, add_quota_keys, idempotency_key, one_tenant, parse_reply, prepare,
};
use crate::connection::Conn;
use crate::keys;
use crate::{Partition, Store, StoreError, scripts};
use sluice_model::{MessageStream, TenantQuotas};

/// How long a first request may take between admitting a message and storing it
/// (the cluster client retries across a failover for a few seconds).
const STORE_GRACE: Duration = Duration::from_secs(60);

impl Store {
    /// A chunk on a Redis Cluster: `admit.lua` in the tenant's slot, then
    /// `enqueue.lua` in each partition used, all partitions at once.
    pub(super) async fn accept_chunk_in_two(
        &self,
        conn: &mut Conn,
        chunk: &[NewMessage<'_>],
        bodies: &ChunkBodies<'_>,
        quotas: &TenantQuotas,
    ) -> Result<Accepted, StoreError> {
        let Some((tenant, test)) = one_tenant(chunk)? else {
            return Ok(Accepted::default());
        };
        let prepared: Vec<Prepared> = chunk.iter().map(|n| prepare(n, self.retention)).collect();
        let mut invocation = scripts::ADMIT.call();
        add_quota_keys(&mut invocation, tenant, test);
        add_quota_args(&mut invocation, tenant, quotas);
        invocation.arg(chunk.len());
        for (new, prepared) in chunk.iter().zip(&prepared) {
            invocation
                .key(idempotency_key(new))
                .arg(if new.idempotency.is_some() { "1" } else { "0" })
                .arg(new.idempotency.map(|(_, fp)| fp).unwrap_or_default())
                .arg(new.id.as_str())
                .arg(prepared.status.as_str())
                .arg(new.message.stream.as_str());
        }
        let reply: redis::Value = invocation.invoke_async(&mut *conn).await?;
        let streams: Vec<MessageStream> = chunk.iter().map(|m| m.message.stream).collect();
        let (admitted, quota_states) = parse_reply(reply, &streams, true)?;
        let mut outcomes: Vec<AcceptOutcome> = Vec::with_capacity(chunk.len());
        for ((outcome, age), new) in admitted.into_iter().zip(chunk) {
            outcomes.push(self.check_replay(conn, new, outcome, age).await?);
        }

        // Store the admitted ones, one call per partition, all partitions at once.
        let mut by_partition: Vec<(Partition, Vec<usize>)> = Vec::new();
        for (index, new) in chunk.iter().enumerate() {
            if !matches!(outcomes[index], AcceptOutcome::Created { .. }) {
                continue;
            }
            let p = self.partitions.of(new.id);
            match by_partition.iter_mut().find(|(q, _)| *q == p) {
                Some((_, members)) => members.push(index),
                None => by_partition.push((p, vec![index])),
            }
        }
        let calls = by_partition.iter().map(|(p, members)| {
            let mut conn = conn.clone();
            let mut invocation = scripts::ENQUEUE.call();
            add_queue_keys(&mut invocation, *p);
            let numbers = bodies.add_contents(&mut invocation, members.iter().copied());
            invocation
                .arg(tenant.as_str())
                .arg(self.partitions.fair_backlog())
                .arg(members.len());
            bodies.add_content_args(&mut invocation, members.iter().copied());
            for (&index, number) in members.iter().zip(numbers) {
                let (new, prepared) = (&chunk[index], &prepared[index]);
                invocation
                    .key(keys::message(*p, new.id))
                    .key(keys::message_events(*p, new.id))
                    .arg(new.id.as_str())
                    .arg(&prepared.due)
                    .arg(keys::delayed_member(new.message.stream, new.id))
                    .arg(prepared.ttl_ms)
                    .arg(&prepared.event)
                    .arg(new.message.stream.as_str())
                    .arg(number);
                add_fields(&mut invocation, prepared, bodies.body(index));
            }
            async move {
                let stored: Result<redis::Value, redis::RedisError> =
                    invocation.invoke_async(&mut conn).await;
                stored
            }
        });
        let results = futures_util::future::join_all(calls).await;
        let mut interrupted = None;
        for ((_, members), result) in by_partition.iter().zip(results) {
            if let Err(e) = result {
                for &index in members {
                    outcomes[index] = AcceptOutcome::NotStored;
                    // Best effort: the key must not replay a message never stored.
                    if chunk[index].idempotency.is_some() {
                        let _: Result<(), _> =
                            conn.clone().del(idempotency_key(&chunk[index])).await;
                    }
                }
                interrupted = Some(StoreError::from(e));
            }
        }
        Ok(Accepted {
            outcomes,
            quotas: quota_states,
            interrupted,
        })
    }

    /// On a cluster a replayed Idempotency-Key may name a message still being stored
    /// by the first request (or never stored: its process died between the two
    /// calls). Such a replay is [`AcceptOutcome::InProgress`]; once the first answer
    /// is over a minute old without a record, the key is released for a retry.
    async fn check_replay(
        &self,
        conn: &mut Conn,
        new: &NewMessage<'_>,
        outcome: AcceptOutcome,
        age: Option<Duration>,
    ) -> Result<AcceptOutcome, StoreError> {
        let (AcceptOutcome::Replayed { id, .. } | AcceptOutcome::Conflict { id }) = &outcome else {
            return Ok(outcome);
        };
        let Some(age) = age else {
            // Written by a single-server accept, record and key together.
            return Ok(outcome);
        };
        for p in self.partitions.candidates(id) {
            let exists: bool = conn.exists(keys::message(p, id)).await?;
            if exists {
                return Ok(outcome);
            }
        }
        if age > STORE_GRACE && new.idempotency.is_some() {
            let _: () = conn.del(idempotency_key(new)).await?;
        }
        Ok(AcceptOutcome::InProgress { id: id.clone() })
    }
}
