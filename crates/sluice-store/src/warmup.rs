//! Warm-up: a new source address may send only `daily_caps[day]` messages per
//! (IP × provider) per day, `day` counting from the schedule's start; once past the
//! last entry the address is warm and uncapped. A day on which the provider pushed
//! back (a throttling reply) sets the ramp back by one day, so the schedule pauses
//! instead of pressing on. Days are UTC days of Redis server time, so every worker
//! process agrees on when a day ends.

use std::sync::LazyLock;

use redis::Script;
use redis::aio::ConnectionManager;

use crate::{Store, StoreError};

fn key(target: &str) -> String {
    format!("sluice:warmup:{{{target}}}")
}

/// ARGV: start day (days since 1970-01-01), then the daily caps.
/// Returns {allowed (1/0, -1 = warm), ramp day, cap, sent today}.
static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"#!lua flags=allow-oom
local t = redis.call('TIME')
local today = math.floor(tonumber(t[1]) / 86400)
local setbacks = tonumber(redis.call('HGET', KEYS[1], 'setbacks') or '0')
local day = today - tonumber(ARGV[1]) - setbacks
if day < 0 then day = 0 end
local caps = #ARGV - 1
if day >= caps then return {-1, day, 0, 0} end
local cap = tonumber(ARGV[2 + day])
local sent = 0
if tonumber(redis.call('HGET', KEYS[1], 'sent_day') or '-1') == today then
  sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '0')
end
if sent >= cap then return {0, day, cap, sent} end
redis.call('HSET', KEYS[1], 'sent_day', today, 'sent', sent + 1)
redis.call('EXPIRE', KEYS[1], 86400 * 400)
return {1, day, cap, sent + 1}
"#,
    )
});

/// At most one setback per day, however many throttling replies that day brings.
static SET_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"#!lua flags=allow-oom
local t = redis.call('TIME')
local today = math.floor(tonumber(t[1]) / 86400)
if tonumber(redis.call('HGET', KEYS[1], 'setback_day') or '-1') == today then return 0 end
redis.call('HINCRBY', KEYS[1], 'setbacks', 1)
redis.call('HSET', KEYS[1], 'setback_day', today)
redis.call('EXPIRE', KEYS[1], 86400 * 400)
return 1
"#,
    )
});

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmupAdmission {
    /// Counted against today's cap.
    Allowed { day: u32, cap: u32, sent: u32 },
    /// Today's cap is reached; the next day brings a new budget.
    Capped { day: u32, cap: u32 },
    /// Past the schedule: no cap.
    Warm,
}

/// What the store holds about one (IP × provider)'s ramp, for operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmupRecord {
    /// `<ip>|<provider>`.
    pub target: String,
    /// Messages counted against today's cap (0 when nothing was sent today).
    pub sent_today: u32,
    /// Days the ramp lost to throttling replies.
    pub setbacks: u32,
    /// Today (days since 1970-01-01, Redis server time), for placing it on a schedule.
    pub today: i64,
}

#[derive(Clone)]
pub struct Warmup {
    conn: ConnectionManager,
}

impl Store {
    pub fn warmup(&self) -> Warmup {
        Warmup { conn: self.conn() }
    }
}

impl Warmup {
    /// Counts one message for `target` (`<ip>|<provider>`) if today's cap allows it.
    pub async fn admit(
        &self,
        target: &str,
        start_day: i64,
        daily_caps: &[u32],
    ) -> Result<WarmupAdmission, StoreError> {
        if daily_caps.is_empty() {
            return Ok(WarmupAdmission::Warm);
        }
        let reply: Vec<i64> = ADMIT
            .key(key(target))
            .arg(start_day)
            .arg(daily_caps)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let field = |i: usize| reply.get(i).copied().unwrap_or_default().max(0) as u32;
        Ok(match reply.first().copied() {
            Some(1) => WarmupAdmission::Allowed {
                day: field(1),
                cap: field(2),
                sent: field(3),
            },
            Some(0) => WarmupAdmission::Capped {
                day: field(1),
                cap: field(2),
            },
            _ => WarmupAdmission::Warm,
        })
    }

    /// Every (IP × provider) with warm-up state. SCANs: an operator's call, not the
    /// hot path (on a cluster it would run per node).
    pub async fn list(&self) -> Result<Vec<WarmupRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let targets = crate::scan_tags(&mut conn, "sluice:warmup:").await?;
        let (seconds, _): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let today = seconds.div_euclid(86_400);
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for target in &targets {
            pipe.hgetall(key(target));
        }
        let all: Vec<std::collections::HashMap<String, String>> =
            pipe.query_async(&mut conn).await?;
        let number = |fields: &std::collections::HashMap<String, String>, name: &str| {
            fields.get(name).and_then(|v| v.parse::<i64>().ok())
        };
        Ok(targets
            .into_iter()
            .zip(all)
            .map(|(target, fields)| WarmupRecord {
                sent_today: if number(&fields, "sent_day") == Some(today) {
                    number(&fields, "sent")
                        .unwrap_or(0)
                        .clamp(0, i64::from(u32::MAX)) as u32
                } else {
                    0
                },
                setbacks: number(&fields, "setbacks")
                    .unwrap_or(0)
                    .clamp(0, i64::from(u32::MAX)) as u32,
                today,
                target,
            })
            .collect())
    }

    /// The provider pushed back on `target` today: its ramp loses a day (once a day).
    pub async fn set_back(&self, target: &str) -> Result<bool, StoreError> {
        let changed: i64 = SET_BACK
            .key(key(target))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(changed == 1)
    }
}
