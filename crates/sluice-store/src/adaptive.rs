//! The learned sending rate of each (source IP × provider), shared by every worker
//! process: additive increase while deliveries are clean, multiplicative decrease on
//! throttling replies, and a suspension (cool-down) after repeated throttling. Each
//! update is one Lua call using Redis server time, so workers on different hosts agree.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::keys::{self, adaptive as key};
use crate::scripts::{Lua, Names};
use crate::{Store, StoreError, from_ms, now_ms, reply, to_ms};

/// A target's state is forgotten after 30 days without updates (pauses last at most 7).
const IDLE_EXPIRY_SECS: i64 = 30 * 24 * 3600;

/// How the learned rate reacts; the rate never exceeds the configured ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptivePolicy {
    /// Messages per minute added after each clean delivery.
    pub increase_per_success: u32,
    /// The rate never drops below this (messages per minute).
    pub floor: u32,
    /// Consecutive throttling replies that suspend the target.
    pub suspend_after: u32,
    pub cooldown: Duration,
}

impl Default for AdaptivePolicy {
    fn default() -> Self {
        Self {
            increase_per_success: 1,
            floor: 1,
            suspend_after: 5,
            cooldown: Duration::from_secs(300),
        }
    }
}

/// One (IP × provider)'s state, as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdaptiveState {
    /// `<source ip>|<provider>`.
    pub target: String,
    /// The learned rate, messages per minute.
    pub rate_per_minute: u32,
    /// Throttling replies in a row.
    pub strikes: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub suspended_until: Option<OffsetDateTime>,
    /// Why it is suspended: `adaptive` or `manual`.
    pub suspension: Option<String>,
}

/// Fields of a target's hash, and the suspension values.
mod field {
    pub const RATE: &str = "rate";
    pub const STRIKES: &str = "strikes";
    pub const SUSPENDED_UNTIL: &str = "suspended_until";
    pub const SUSPENSION: &str = "suspension";
    /// A suspension the scripts imposed after repeated throttling.
    pub const ADAPTIVE: &str = "adaptive";
    /// An operator's pause.
    pub const MANUAL: &str = "manual";
}

/// The names the scripts take first (`scripts/adaptive_names.lua`).
fn script_names() -> Vec<&'static str> {
    vec![
        field::RATE,
        field::STRIKES,
        field::SUSPENDED_UNTIL,
        field::SUSPENSION,
        field::ADAPTIVE,
    ]
}

const NAMES: Names = Names::new(include_str!("scripts/adaptive_names.lua"), script_names);

/// Raises the rate, clears strikes (see `scripts/adaptive_success.lua`).
static SUCCESS: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/adaptive_success.lua")));

/// Halves the rate, suspends past the threshold (see `scripts/adaptive_throttled.lua`).
static THROTTLED: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/adaptive_throttled.lua")));

/// The learned rates of (IP × provider) targets.
impl Store {
    /// The state of `target`; a target never seen runs at `ceiling`.
    pub async fn adaptive_state(
        &self,
        target: &str,
        ceiling: u32,
    ) -> Result<AdaptiveState, StoreError> {
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(key(target))
            .query_async(&mut self.conn())
            .await?;
        Ok(state(target, &fields, ceiling))
    }

    /// The state that governs sending from `ip` to `provider`: the exact target's
    /// learned rate, suspended if the target or a pause of the whole IP (`ip|*`) or of
    /// the whole provider (`*|provider`) says so. One round trip.
    pub async fn effective_adaptive_state(
        &self,
        ip: &str,
        provider: &str,
        ceiling: u32,
    ) -> Result<AdaptiveState, StoreError> {
        let exact = format!("{ip}|{provider}");
        // Three hash tags (three slots on a cluster): one command each.
        let mut hashes = self
            .conn()
            .hgetall_each([
                key(&exact),
                key(&format!("{ip}|*")),
                key(&format!("*|{provider}")),
            ])
            .await?;
        let by_provider = hashes.pop().unwrap_or_default();
        let by_ip = hashes.pop().unwrap_or_default();
        let own = hashes.pop().unwrap_or_default();
        let mut state = state(&exact, &own, ceiling);
        for other in [state_of(&by_ip), state_of(&by_provider)] {
            if let (Some(until), reason) = other
                && state.suspended_until.is_none_or(|current| until > current)
            {
                state.suspended_until = Some(until);
                state.suspension = reason;
            }
        }
        Ok(state)
    }

    pub async fn record_adaptive_success(
        &self,
        target: &str,
        ceiling: u32,
        policy: &AdaptivePolicy,
    ) -> Result<u32, StoreError> {
        let rate = SUCCESS
            .call()
            .key(key(target))
            .arg(ceiling)
            .arg(policy.increase_per_success)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("adaptive_success", rate)?.clamp(0, i64::from(u32::MAX)) as u32)
    }

    pub async fn record_adaptive_throttled(
        &self,
        target: &str,
        ceiling: u32,
        policy: &AdaptivePolicy,
    ) -> Result<u32, StoreError> {
        let rate = THROTTLED
            .call()
            .key(key(target))
            .arg(ceiling)
            .arg(policy.floor.max(1))
            .arg(policy.suspend_after.max(1))
            .arg(policy.cooldown.as_millis() as u64)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("adaptive_throttled", rate)?.clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// An operator's pause: suspended until `until`, whatever the replies say.
    pub async fn suspend_adaptive_target(
        &self,
        target: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let until_ms = to_ms(until);
        let _: () = redis::pipe()
            .hset_multiple(
                key(target),
                &[
                    (field::SUSPENDED_UNTIL, until_ms.to_string()),
                    (field::SUSPENSION, field::MANUAL.into()),
                ],
            )
            .ignore()
            .expire(key(target), IDLE_EXPIRY_SECS)
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Lifts a suspension (manual or adaptive) and clears the strikes.
    pub async fn resume_adaptive_target(&self, target: &str) -> Result<(), StoreError> {
        let _: () = redis::pipe()
            .hdel(key(target), &[field::SUSPENDED_UNTIL, field::SUSPENSION])
            .ignore()
            .hset(key(target), field::STRIKES, 0)
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Every target that has state, for the admin API. A SCAN, not an index: it runs
    /// only when an operator looks, and an index key would put every update's script
    /// across two hash slots.
    pub async fn list_adaptive_states(&self) -> Result<Vec<AdaptiveState>, StoreError> {
        let targets = crate::scan_tags(&mut self.conn(), keys::ADAPTIVE_PREFIX).await?;
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let all = self
            .conn()
            .hgetall_each(targets.iter().map(|t| key(t)))
            .await?;
        Ok(targets
            .iter()
            .zip(all)
            .map(|(t, fields)| state(t, &fields, 0))
            .collect())
    }
}

fn state_of(fields: &HashMap<String, String>) -> (Option<OffsetDateTime>, Option<String>) {
    let state = state("", fields, 0);
    (state.suspended_until, state.suspension)
}

fn state(target: &str, fields: &HashMap<String, String>, ceiling: u32) -> AdaptiveState {
    let number = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok());
    let now_ms = now_ms();
    let suspended_until = number(field::SUSPENDED_UNTIL)
        .filter(|until| *until > now_ms)
        .map(from_ms);
    AdaptiveState {
        target: target.to_string(),
        rate_per_minute: number(field::RATE).map_or(ceiling, |r| r.max(0) as u32),
        strikes: number(field::STRIKES).unwrap_or(0).max(0) as u32,
        suspension: suspended_until.and(fields.get(field::SUSPENSION).cloned()),
        suspended_until,
    }
}
