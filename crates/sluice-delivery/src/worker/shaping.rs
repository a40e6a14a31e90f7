//! Traffic shaping for direct delivery: which source address sends, and whether it
//! may send now. Each (source IP × provider) has a message rate shared by every
//! worker process through Redis (GCRA) and a connection cap in this process.
//!
//! A message that must wait is not held by a worker: the caller parks it in the
//! delayed set for the wait the throttle names, and other traffic flows meanwhile.
//! When only connections are short (no rate names a time), it waits on the
//! destination's wait list instead (see [`super::waiting`]).
//!
//! Transactional mail has a claim on each (source × provider)'s connections: bulk
//! leaves `reserved_connections` of the cap free (at most the cap minus one), and a
//! transactional message may take any free one. The reserve comes out of the
//! provider's cap rather than on top of it — the cap is what the provider tolerates,
//! and exceeding it earns 421s that would slow both streams — so a cap of 1 reserves
//! nothing. Bulk loses little by it: an unknown provider's cap is 2 connections but
//! its rate (60 a minute) is what binds, and one connection carries that easily.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_gate::{GatePermit, PriorityGate};
use sluice_model::{MessageStream, SmtpReply};
use sluice_store::adaptive::AdaptivePolicy;
use sluice_store::warmup::WarmupAdmission;
use sluice_store::{Admission, Rate, Store};
use time::OffsetDateTime;

use super::suspended::SuspendedTargets;
use super::waiting::{ConnectionPermit, WaitLists};
use crate::dnsbl::Listings;
use crate::providers::{Provider, ProviderTable};

/// One source address and the name it greets with (EHLO).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub ip: IpAddr,
    pub helo_name: String,
    /// A new address's ramp: daily caps per provider from a start day.
    pub warmup: Option<Arc<WarmupSchedule>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmupSchedule {
    /// Days since 1970-01-01 (UTC) of the schedule's first day.
    pub start_day: i64,
    /// Messages per (IP × provider) on day 0, 1, …; past the end the address is warm.
    pub daily_caps: Vec<u32>,
}

/// A named set of source addresses, taken in turn so load spreads evenly.
#[derive(Debug)]
pub struct SourcePool {
    pub name: String,
    sources: Vec<Source>,
    next: AtomicUsize,
}

impl SourcePool {
    pub fn new(name: impl Into<String>, sources: Vec<Source>) -> Self {
        Self {
            name: name.into(),
            sources,
            next: AtomicUsize::new(0),
        }
    }

    /// Every source once, starting with the next one in turn.
    pub fn rotation(&self) -> impl Iterator<Item = &Source> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.sources.len();
        (0..count).map(move |i| &self.sources[(start + i) % count])
    }
}

/// The result of asking for a sending slot.
pub enum Slot {
    /// Send now from `source` (`None`: the operating system picks the address);
    /// the permit holds one of the (source × provider) connections until dropped.
    Granted {
        source: Option<Source>,
        target: String,
        _permit: ConnectionPermit,
    },
    /// Every source is at its rate or connection cap; try again after this long.
    Wait(Duration),
    /// Every source's connections to this destination are in use: wait on the
    /// destination's list (a freed connection releases the message), or at most
    /// `fallback` in case no connection of this process frees.
    Busy {
        waitlist: String,
        fallback: Duration,
    },
    /// Redis could not answer; the attempt is retried like any transient failure.
    Unavailable(String),
}

/// The shortest wait named when nothing more precise is known.
const CONNECTION_CAP_WAIT: Duration = Duration::from_secs(1);

/// The longest mail waits on a busy destination's list when no connection of this
/// process frees (it crashed, or the list was woken by another): jittered so a long
/// list does not come back all at once.
fn busy_fallback() -> Duration {
    Duration::from_secs(30).mul_f64(rand::random_range(0.75..1.25))
}

/// What the shaper learns from replies: which ones mean "slow down", and how the
/// learned rate reacts.
#[derive(Clone, Debug)]
pub struct AdaptiveConfig {
    pub policy: AdaptivePolicy,
    /// Reply texts (case-insensitive substrings) that mean throttling, beyond 421 and
    /// 4.7.x: e.g. Yahoo's "TS03", Gmail's "rate limited".
    pub patterns: Vec<String>,
    /// The longest a message waits behind a suspension before looking again, so a
    /// resumed target is served soon without waiting out the original pause.
    pub recheck: Duration,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            policy: AdaptivePolicy::default(),
            patterns: Vec::new(),
            recheck: Duration::from_secs(15),
        }
    }
}

/// Built-in throttling phrases seen from the large providers.
const THROTTLE_PHRASES: &[&str] = &[
    "rate limit",
    "ratelimit",
    "rate-limit",
    "too many",
    "try again later",
    "temporarily deferred",
    "throttl",
    "ts01",
    "ts02",
    "ts03",
];

pub struct Shaper {
    pub providers: ProviderTable,
    store: Store,
    learning: AdaptiveConfig,
    caps: Mutex<HashMap<String, PriorityGate>>,
    lists: Arc<WaitLists>,
    /// Connections of each (source × provider) bulk leaves to transactional mail.
    reserved_connections: usize,
    /// Addresses listed on a DNS blocklist are out of rotation (see [`crate::dnsbl`]).
    listings: Arc<Listings>,
    /// When each pool was last reported as wholly listed (reported once a minute).
    all_listed_reported: Mutex<HashMap<String, std::time::Instant>>,
    /// Targets found suspended, for `sluice_delivery_targets_suspended`.
    pub suspended: Arc<SuspendedTargets>,
}

impl Shaper {
    pub fn new(
        providers: ProviderTable,
        store: Store,
        learning: AdaptiveConfig,
        lists: Arc<WaitLists>,
        reserved_connections: usize,
        listings: Arc<Listings>,
    ) -> Self {
        Self {
            providers,
            store,
            learning,
            caps: Mutex::new(HashMap::new()),
            lists,
            reserved_connections,
            listings,
            all_listed_reported: Mutex::new(HashMap::new()),
            suspended: Arc::default(),
        }
    }

    /// See [`is_pushback`].
    pub fn is_pushback(&self, replies: &[&SmtpReply]) -> bool {
        is_pushback(replies, &self.learning.patterns)
    }

    /// Feeds one transaction's replies back into the target's learned rate.
    pub async fn learn(
        &self,
        target: &str,
        source: Option<&Source>,
        provider: &Provider,
        replies: &[&SmtpReply],
    ) {
        let ceiling = provider.limits.messages_per_minute_per_ip;
        let policy = &self.learning.policy;
        let result = if self.is_pushback(replies) {
            metrics::counter!("sluice_throttling_replies_total", "provider" => provider.name.clone()).increment(1);
            // A provider pushing back on a warming address: the ramp holds for today.
            if source.is_some_and(|s| s.warmup.is_some())
                && let Err(e) = self.store.warmup_set_back(target).await
            {
                tracing::warn!(%target, error = %e, "could not set the warm-up back");
            }
            self.store
                .record_adaptive_throttled(target, ceiling, policy)
                .await
        } else if replies.iter().any(|r| r.is_success()) {
            self.store
                .record_adaptive_success(target, ceiling, policy)
                .await
        } else {
            return;
        };
        if let Err(e) = result {
            tracing::warn!(%target, error = %e, "could not update the learned rate");
        }
    }

    /// The first source (in turn) that is under both its connection cap (for mail of
    /// `stream`) and its rates for `provider`; a rate is consumed only for the source
    /// that gets the slot.
    pub async fn acquire(
        &self,
        pool: Option<&SourcePool>,
        provider: &Provider,
        stream: MessageStream,
    ) -> Slot {
        let candidates: Vec<Option<&Source>> = match pool {
            Some(pool) => pool
                .rotation()
                .filter(|s| !self.listings.blocks(s.ip, &provider.name))
                .map(Some)
                .collect(),
            None => vec![None],
        };
        if let Some(pool) = pool
            && candidates.is_empty()
        {
            // Every address is listed: the mail waits (it is not bounced) and comes
            // back now and then, in case an address was delisted.
            self.report_all_listed(&pool.name, &provider.name);
            return Slot::Wait(self.learning.recheck);
        }
        let limits = &provider.limits;

        let mut shortest: Option<Duration> = None;
        // Whether every source was turned away only for want of a connection.
        let mut only_busy = !candidates.is_empty();
        for source in candidates {
            let key = format!(
                "{}|{}",
                source.map_or_else(|| "any".to_string(), |s| s.ip.to_string()),
                provider.name
            );
            // The connection slot is taken first: it is local and free, so a busy
            // destination costs no Redis round trip, and concurrent deliveries cannot
            // all pass the rate checks for the same last slot. Given back (releasing a
            // waiter) if the rates say no.
            let Some(permit) = self.try_connection(&key, limits.max_connections_per_ip, stream)
            else {
                continue;
            };
            let permit = ConnectionPermit::new(permit, provider.name.clone(), self.lists.clone());
            only_busy = false;
            let ip = source.map_or_else(|| "any".to_string(), |s| s.ip.to_string());
            let learned = match self
                .store
                .effective_adaptive_state(&ip, &provider.name, limits.messages_per_minute_per_ip)
                .await
            {
                Ok(state) => state,
                Err(e) => return Slot::Unavailable(e.to_string()),
            };
            self.suspended.note(&key, learned.suspended_until);
            if let Some(until) = learned.suspended_until {
                let wait: Duration = (until - OffsetDateTime::now_utc())
                    .try_into()
                    .unwrap_or(CONNECTION_CAP_WAIT);
                let wait = wait.min(self.learning.recheck);
                shortest = Some(shortest.map_or(wait, |s: Duration| s.min(wait)));
                continue;
            }
            let per_minute = level(learned.rate_per_minute, limits.messages_per_minute_per_ip);
            let rates = [
                Rate::per_minute(per_minute),
                Rate::per_hour(limits.messages_per_hour_per_ip),
            ];
            match self.store.throttle_admit_all(&key, &rates, 1).await {
                Ok(Admission::Allowed) => {
                    let Some(schedule) = source.and_then(|s| s.warmup.as_ref()) else {
                        return Slot::Granted {
                            source: source.cloned(),
                            target: key,
                            _permit: permit,
                        };
                    };
                    match self
                        .store
                        .warmup_admit(&key, schedule.start_day, &schedule.daily_caps)
                        .await
                    {
                        Ok(WarmupAdmission::Capped { .. }) => {
                            // Prefer another address with headroom; else wait for tomorrow,
                            // looking again now and then in case the schedule changes.
                            let wait = until_next_utc_day()
                                .min(self.learning.recheck.max(Duration::from_secs(60)));
                            shortest = Some(shortest.map_or(wait, |s| s.min(wait)));
                        }
                        Ok(_) => {
                            return Slot::Granted {
                                source: source.cloned(),
                                target: key,
                                _permit: permit,
                            };
                        }
                        Err(e) => return Slot::Unavailable(e.to_string()),
                    }
                }
                Ok(Admission::RetryAfter(wait)) => {
                    shortest = Some(shortest.map_or(wait, |s| s.min(wait)))
                }
                Err(e) => return Slot::Unavailable(e.to_string()),
            }
        }
        metrics::counter!("sluice_throttled_total", "provider" => provider.name.clone())
            .increment(1);
        if only_busy {
            // Waits are per provider: any of its connections freeing may serve it.
            return Slot::Busy {
                waitlist: provider.name.clone(),
                fallback: busy_fallback(),
            };
        }
        Slot::Wait(shortest.unwrap_or(CONNECTION_CAP_WAIT))
    }

    /// Says loudly, once a minute per pool, that no address of `pool` may send.
    fn report_all_listed(&self, pool: &str, provider: &str) {
        let now = std::time::Instant::now();
        let mut reported = self
            .all_listed_reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reported
            .get(pool)
            .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(60))
        {
            return;
        }
        reported.insert(pool.to_string(), now);
        metrics::counter!("sluice_dnsbl_pool_blocked_total", "pool" => pool.to_string())
            .increment(1);
        tracing::error!(
            %pool, %provider,
            "every address of the pool is listed on a DNS blocklist: its mail waits (deferred, not bounced) until one is delisted"
        );
    }

    /// Whether some source has a connection to `provider` free for mail of `stream`
    /// right now (mail just parked on its list may have missed the release of the
    /// slot that freed). Only the reserve free is no reason to wake parked bulk: it
    /// would come straight back.
    pub fn has_free_connection(&self, provider: &str, stream: MessageStream) -> bool {
        self.caps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|(key, slots)| {
                key.rsplit_once('|').is_some_and(|(_, p)| p == provider)
                    && slots.available_to(stream) > 0
            })
    }

    /// One of `key`'s connection slots, if one is free for mail of `stream`.
    fn try_connection(&self, key: &str, max: usize, stream: MessageStream) -> Option<GatePermit> {
        let max = max.max(1);
        let gate = self
            .caps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.to_string())
            .or_insert_with(|| {
                PriorityGate::new("connection", max, self.reserved_connections.min(max - 1))
            })
            .clone();
        gate.try_acquire(stream)
    }
}

/// Whether a reply asks the sender to slow down (rather than being about one mailbox):
/// 421, any 4.7.x, or a throttling phrase (built-in or configured).
pub fn is_throttling(reply: &SmtpReply, patterns: &[String]) -> bool {
    if reply.code == 421
        || (reply.is_transient()
            && reply
                .enhanced_code
                .as_deref()
                .is_some_and(|c| c.starts_with("4.7.")))
    {
        return true;
    }
    let text = reply.message.to_ascii_lowercase();
    reply.is_transient()
        && (THROTTLE_PHRASES.iter().any(|p| text.contains(p))
            || patterns
                .iter()
                .any(|p| text.contains(&p.to_ascii_lowercase())))
}

/// Whether a transaction's replies ask the sender to slow down: any throttling reply,
/// or a deferral spike — every recipient deferred for a reason about the sender or the
/// server (4.3 system, 4.4 network, 4.7 policy, or no enhanced code), not about one
/// mailbox (4.1 address, 4.2 mailbox full), so a full mailbox never slows a provider.
pub fn is_pushback(replies: &[&SmtpReply], patterns: &[String]) -> bool {
    if replies.iter().any(|r| is_throttling(r, patterns)) {
        return true;
    }
    let about_the_sender = |r: &SmtpReply| {
        r.is_transient()
            && !r
                .enhanced_code
                .as_deref()
                .is_some_and(|c| c.starts_with("4.1.") || c.starts_with("4.2."))
    };
    !replies.is_empty() && replies.iter().all(|r| about_the_sender(r))
}

fn until_next_utc_day() -> Duration {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    Duration::from_secs((86_400 - now.rem_euclid(86_400)) as u64)
}

/// The learned rate rounded down to a power of two (the ceiling itself once reached):
/// a GCRA bucket is keyed by its rate, so coarse levels keep buckets from being
/// reset by every small additive step.
fn level(learned: u32, ceiling: u32) -> u32 {
    if learned >= ceiling {
        return ceiling.max(1);
    }
    let learned = learned.max(1);
    1 << (31 - learned.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_deferral_spikes_are_pushback_but_mailbox_trouble_is_not() {
        let r = |code, text: &str| SmtpReply::from_parts(code, text);
        let patterns = vec!["slow down please".to_string()];
        let push =
            |replies: &[SmtpReply]| is_pushback(&replies.iter().collect::<Vec<_>>(), &patterns);
        assert!(push(&[r(421, "4.7.0 Try again later")]));
        assert!(push(&[r(250, "ok"), r(451, "4.7.1 Greylisted")]));
        assert!(push(&[r(450, "Yahoo TS03 temporarily deferred")]));
        assert!(
            push(&[r(451, "Slow down please")]),
            "configured phrases count"
        );
        assert!(push(&[
            r(451, "4.3.0 Temporary system problem"),
            r(451, "4.3.0 Temporary system problem")
        ]));
        assert!(
            !push(&[r(250, "ok"), r(451, "4.3.0 Temporary system problem")]),
            "a spike is every recipient"
        );
        assert!(
            !push(&[r(452, "4.2.2 Mailbox full")]),
            "one full mailbox says nothing about the sender"
        );
        assert!(
            !push(&[r(550, "5.7.1 Rejected for policy")]),
            "permanent replies are bounces, not throttling"
        );
        assert!(!push(&[r(250, "2.0.0 ok")]));
        assert!(!push(&[]));
    }

    #[test]
    fn learned_rates_snap_to_coarse_levels() {
        assert_eq!(level(120, 120), 120);
        assert_eq!(level(500, 120), 120);
        assert_eq!(level(119, 120), 64);
        assert_eq!(level(64, 120), 64);
        assert_eq!(level(3, 120), 2);
        assert_eq!(level(0, 120), 1);
    }

    #[test]
    fn sources_are_taken_in_turn() {
        let source = |last: u8| Source {
            ip: IpAddr::from([127, 0, 0, last]),
            helo_name: format!("mta{last}.test"),
            warmup: None,
        };
        let pool = SourcePool::new("shared", vec![source(2), source(3), source(4)]);
        let firsts: Vec<u8> = (0..6)
            .map(|_| match pool.rotation().next().map(|s| s.ip) {
                Some(IpAddr::V4(ip)) => ip.octets()[3],
                _ => 0,
            })
            .collect();
        assert_eq!(firsts, [2, 3, 4, 2, 3, 4]);
        assert_eq!(
            pool.rotation().count(),
            3,
            "a rotation offers every source once"
        );
    }
}
