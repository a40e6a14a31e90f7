//! Warm-up: a new source address may send only `daily_caps[day]` messages per
//! (IP × provider) per day, `day` counting from the schedule's start; once past the
//! last entry the address is warm and uncapped. A day on which the provider pushed
//! back (a throttling reply) sets the ramp back by one day, so the schedule pauses
//! instead of pressing on. Days are UTC days of Redis server time, so every worker
//! process agrees on when a day ends.

use std::sync::LazyLock;

use crate::keys::{self, warmup as key};
use crate::reply::{self, Reply};
use crate::scripts::{Lua, Names};
use crate::{Store, StoreError};

/// Fields of a target's hash.
mod field {
    /// The day `sent` counts (days since 1970-01-01, Redis server time).
    pub const SENT_DAY: &str = "sent_day";
    pub const SENT: &str = "sent";
    /// Days the ramp lost to throttling.
    pub const SETBACKS: &str = "setbacks";
    /// The day of the last setback (one a day at most).
    pub const SETBACK_DAY: &str = "setback_day";
}

/// The names the scripts take first (`scripts/warmup_names.lua`).
fn script_names() -> Vec<&'static str> {
    vec![
        field::SENT_DAY,
        field::SENT,
        field::SETBACKS,
        field::SETBACK_DAY,
    ]
}

const NAMES: Names = Names::new(include_str!("scripts/warmup_names.lua"), script_names);

/// Counts one message against today's cap (see `scripts/warmup_admit.lua`).
static ADMIT: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/warmup_admit.lua")));

/// At most one setback per day (see `scripts/warmup_set_back.lua`).
static SET_BACK: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/warmup_set_back.lua")));

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmupAdmission {
    /// Counted against today's cap.
    Allowed { day: u32, cap: u32, sent: u32 },
    /// Today's cap is reached; the next day brings a new budget.
    Capped { day: u32, cap: u32 },
    /// Past the schedule: no cap.
    Warm,
}

impl WarmupAdmission {
    /// `{allowed (1/0, -1 = warm), ramp day, cap, sent today}`.
    fn decode(mut reply: Reply) -> Result<Self, StoreError> {
        let allowed = reply.int("allowed")?;
        let mut number = |what: &str| {
            reply
                .int(what)
                .map(|n| n.clamp(0, i64::from(u32::MAX)) as u32)
        };
        let (day, cap, sent) = (number("day")?, number("cap")?, number("sent")?);
        Ok(match allowed {
            1 => WarmupAdmission::Allowed { day, cap, sent },
            0 => WarmupAdmission::Capped { day, cap },
            -1 => WarmupAdmission::Warm,
            other => return Err(reply.error(format!("allowed {other}"))),
        })
    }
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

/// Warm-up ramps of (IP × provider) targets.
impl Store {
    /// Counts one message for `target` (`<ip>|<provider>`) if today's cap allows it.
    pub async fn warmup_admit(
        &self,
        target: &str,
        start_day: i64,
        daily_caps: &[u32],
    ) -> Result<WarmupAdmission, StoreError> {
        if daily_caps.is_empty() {
            return Ok(WarmupAdmission::Warm);
        }
        let reply = ADMIT
            .call()
            .key(key(target))
            .arg(start_day)
            .arg(daily_caps)
            .invoke_async(&mut self.conn())
            .await?;
        WarmupAdmission::decode(Reply::new("warmup_admit", reply)?)
    }

    /// Every (IP × provider) with warm-up state. SCANs (of every master on a
    /// cluster): an operator's call, not the hot path.
    pub async fn list_warmups(&self) -> Result<Vec<WarmupRecord>, StoreError> {
        let mut conn = self.conn();
        let targets = crate::scan_tags(&mut conn, keys::WARMUP_PREFIX).await?;
        let (seconds, _): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let today = seconds.div_euclid(86_400);
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let all = conn.hgetall_each(targets.iter().map(|t| key(t))).await?;
        let number = |fields: &std::collections::HashMap<String, String>, name: &str| {
            fields.get(name).and_then(|v| v.parse::<i64>().ok())
        };
        Ok(targets
            .into_iter()
            .zip(all)
            .map(|(target, fields)| WarmupRecord {
                sent_today: if number(&fields, field::SENT_DAY) == Some(today) {
                    number(&fields, field::SENT)
                        .unwrap_or(0)
                        .clamp(0, i64::from(u32::MAX)) as u32
                } else {
                    0
                },
                setbacks: number(&fields, field::SETBACKS)
                    .unwrap_or(0)
                    .clamp(0, i64::from(u32::MAX)) as u32,
                today,
                target,
            })
            .collect())
    }

    /// The provider pushed back on `target` today: its ramp loses a day (once a day).
    pub async fn warmup_set_back(&self, target: &str) -> Result<bool, StoreError> {
        let changed = SET_BACK
            .call()
            .key(key(target))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("warmup_set_back", changed)? == 1)
    }
}
