//! How much mail waits, and for how long: the figures `/metrics` samples every few
//! seconds on every process. O(1) commands only (XLEN, the XPENDING summary, ZCARD,
//! the first entry of each stream and of the delayed set, TIME), one pipelined round
//! trip per partition, all partitions at once: never a SCAN, however much is queued.

use std::time::Duration;

use sluice_model::MessageStream;

use crate::connection::Conn;
use crate::keys;
use crate::{Partition, StoreError};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub transactional: u64,
    /// Unread bulk entries, including those waiting their fair turn.
    pub bulk: u64,
    /// Scheduled sends and deferred retries waiting for their time.
    pub delayed: u64,
    /// Entries read by a worker and not yet settled.
    pub in_flight: u64,
    /// How long the oldest transactional entry has been in its stream (unread or
    /// being delivered; a settled entry leaves the stream). Zero when it is empty.
    /// A retry re-enters the stream when it falls due, so this is the time the
    /// oldest ready message has waited for a worker, not the message's age.
    pub transactional_oldest: Duration,
    /// The same for bulk's streams (not the fair queue in front of them: a bulk
    /// stream is refilled from it as it drains, so a stalled bulk stream ages too).
    pub bulk_oldest: Duration,
    /// How far behind its time the most overdue delayed entry is: scheduled sends
    /// and retries are moved to the streams when due, so anything above a few
    /// seconds means nobody is promoting them (no worker running).
    pub delayed_overdue: Duration,
}

impl QueueDepth {
    /// Adds another partition's figures: counts add up, ages take the largest.
    fn absorb(&mut self, other: QueueDepth) {
        self.transactional += other.transactional;
        self.bulk += other.bulk;
        self.delayed += other.delayed;
        self.in_flight += other.in_flight;
        self.transactional_oldest = self.transactional_oldest.max(other.transactional_oldest);
        self.bulk_oldest = self.bulk_oldest.max(other.bulk_oldest);
        self.delayed_overdue = self.delayed_overdue.max(other.delayed_overdue);
    }
}

/// Queue figures, summed (counts) or maxed (ages) over `partitions`.
pub(crate) async fn queue_depth(
    conn: &mut Conn,
    partitions: &[Partition],
) -> Result<QueueDepth, StoreError> {
    let calls = partitions.iter().map(|p| {
        let mut conn = conn.clone();
        async move { partition_depth(&mut conn, *p).await }
    });
    let mut total = QueueDepth::default();
    for depth in futures_util::future::try_join_all(calls).await? {
        total.absorb(depth);
    }
    Ok(total)
}

async fn partition_depth(conn: &mut Conn, p: Partition) -> Result<QueueDepth, StoreError> {
    let mut pipe = redis::pipe();
    // XPENDING fails with NOGROUP until a worker has created the group; that is
    // "nothing in flight", not a failure (an API-only deployment reads depth too).
    pipe.ignore_errors();
    for stream in MessageStream::ALL {
        let key = keys::stream(p, stream);
        pipe.cmd("XLEN").arg(&key);
        pipe.cmd("XPENDING").arg(&key).arg(keys::GROUP);
        pipe.cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1);
    }
    pipe.cmd("ZCARD").arg(keys::delayed(p));
    pipe.cmd("ZCARD").arg(keys::fair_bulk(p));
    pipe.cmd("ZRANGE")
        .arg(keys::delayed(p))
        .arg(0)
        .arg(0)
        .arg("WITHSCORES");
    pipe.cmd("TIME");
    let replies: Vec<redis::Value> = pipe.query_async(conn).await?;
    let [
        t_len,
        t_pending,
        t_first,
        b_len,
        b_pending,
        b_first,
        delayed,
        fair,
        first_due,
        time,
    ] = <[redis::Value; 10]>::try_from(replies)
        .map_err(|r| unexpected(format!("{} replies, not 10", r.len())))?;
    let now_ms = server_ms(&time)?;
    let (t_pending, b_pending) = (pending(t_pending)?, pending(b_pending)?);
    Ok(QueueDepth {
        transactional: count(&t_len)?.saturating_sub(t_pending),
        bulk: count(&b_len)?.saturating_sub(b_pending) + count(&fair)?,
        delayed: count(&delayed)?,
        in_flight: t_pending + b_pending,
        transactional_oldest: age(first_entry_ms(&t_first), now_ms),
        bulk_oldest: age(first_entry_ms(&b_first), now_ms),
        delayed_overdue: age(first_score_ms(&first_due), now_ms),
    })
}

fn count(value: &redis::Value) -> Result<u64, StoreError> {
    match value {
        redis::Value::ServerError(e) => Err(StoreError::Redis(e.clone().into())),
        other => redis::from_redis_value_ref::<u64>(other)
            .map_err(|e| unexpected(format!("a count: {e}"))),
    }
}

/// The XPENDING summary's count; NOGROUP (no worker yet) is zero.
fn pending(value: redis::Value) -> Result<u64, StoreError> {
    match value {
        redis::Value::Array(items) => Ok(items
            .first()
            .and_then(|c| redis::from_redis_value_ref::<u64>(c).ok())
            .unwrap_or(0)),
        redis::Value::ServerError(e) if e.code() == "NOGROUP" => Ok(0),
        redis::Value::ServerError(e) => Err(StoreError::Redis(e.into())),
        _ => Ok(0),
    }
}

/// Redis's clock (TIME), so ages do not depend on this host's clock.
fn server_ms(value: &redis::Value) -> Result<u64, StoreError> {
    let parts: Vec<u64> = match value {
        redis::Value::Array(items) => items
            .iter()
            .filter_map(|v| redis::from_redis_value_ref::<u64>(v).ok())
            .collect(),
        _ => Vec::new(),
    };
    match parts.as_slice() {
        [secs, micros] => Ok(secs * 1000 + micros / 1000),
        _ => Err(unexpected(format!("TIME answered {value:?}"))),
    }
}

/// The milliseconds of the first entry's id (`<ms>-<seq>`) of an XRANGE … COUNT 1.
fn first_entry_ms(value: &redis::Value) -> Option<u64> {
    let redis::Value::Array(entries) = value else {
        return None;
    };
    let redis::Value::Array(entry) = entries.first()? else {
        return None;
    };
    let id: String = redis::from_redis_value_ref(entry.first()?).ok()?;
    id.split('-').next()?.parse().ok()
}

/// The score of the first member of a ZRANGE … WITHSCORES (RESP2 or RESP3 shape).
fn first_score_ms(value: &redis::Value) -> Option<u64> {
    let redis::Value::Array(items) = value else {
        return None;
    };
    let score = match items.as_slice() {
        [redis::Value::Array(pair), ..] => pair.get(1)?,
        [_, score, ..] => score,
        _ => return None,
    };
    let score: f64 = redis::from_redis_value_ref(score).ok()?;
    (score >= 0.0).then_some(score as u64)
}

fn unexpected(reason: String) -> StoreError {
    StoreError::UnexpectedReply {
        script: "queue depth pipeline",
        reason,
    }
}

fn age(since_ms: Option<u64>, now_ms: u64) -> Duration {
    since_ms.map_or(Duration::ZERO, |since| {
        Duration::from_millis(now_ms.saturating_sub(since))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn the_first_entry_id_gives_the_oldest_age() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("1700000000000-3"),
            Value::Array(vec![bulk("m"), bulk("msg_1")]),
        ])]);
        assert_eq!(first_entry_ms(&reply), Some(1_700_000_000_000));
        assert_eq!(
            age(first_entry_ms(&reply), 1_700_000_002_500),
            Duration::from_millis(2_500)
        );
        assert_eq!(first_entry_ms(&Value::Array(vec![])), None);
        assert_eq!(age(None, 5), Duration::ZERO);
    }

    #[test]
    fn the_first_score_is_read_in_both_protocol_shapes() {
        let resp2 = Value::Array(vec![bulk("msg_1"), bulk("1700000000000")]);
        let resp3 = Value::Array(vec![Value::Array(vec![
            bulk("msg_1"),
            Value::Double(1_700_000_000_000.0),
        ])]);
        assert_eq!(first_score_ms(&resp2), Some(1_700_000_000_000));
        assert_eq!(first_score_ms(&resp3), Some(1_700_000_000_000));
        assert_eq!(first_score_ms(&Value::Array(vec![])), None);
    }

    #[test]
    fn a_future_due_time_is_not_overdue() {
        assert_eq!(age(Some(2_000), 1_000), Duration::ZERO);
    }

    #[test]
    fn partitions_add_counts_and_keep_the_oldest_age() {
        let mut total = QueueDepth {
            transactional: 2,
            transactional_oldest: Duration::from_secs(3),
            ..QueueDepth::default()
        };
        total.absorb(QueueDepth {
            transactional: 5,
            bulk: 1,
            transactional_oldest: Duration::from_secs(1),
            bulk_oldest: Duration::from_secs(9),
            ..QueueDepth::default()
        });
        assert_eq!(total.transactional, 7);
        assert_eq!(total.bulk, 1);
        assert_eq!(total.transactional_oldest, Duration::from_secs(3));
        assert_eq!(total.bulk_oldest, Duration::from_secs(9));
    }
}
