//! The tenant reputation guard's arithmetic: rolling hard-bounce and complaint rates
//! per tenant and stream, the thresholds they are judged by, and the time buckets the
//! rolling window is counted in. Pure values; the counting lives in the event
//! pipeline and the counters in Redis.
//!
//! - hard-bounce rate = hard bounces ÷ (delivered + hard bounced);
//! - complaint rate = complaints ÷ delivered (0 while nothing was delivered);
//! - no level is reached below the minimum volume (delivered + hard bounced), so ten
//!   messages with one bad address never pause anyone;
//! - a rate *at or over* a threshold reaches its level.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::message::MessageStream;

/// How many buckets a window is counted in: the window rolls by one bucket at a time
/// (a twenty-fourth of it: an hour of a 24-hour window).
pub const BUCKETS_PER_WINDOW: u64 = 24;

/// The shortest bucket (a window under 24 s still rolls by whole seconds).
const MIN_BUCKET_MS: u64 = 1000;

/// A rate as a fraction (0.001 = 0.1 %). Compared and serialised as a plain number.
#[derive(Clone, Copy, Debug, Default, PartialOrd, Serialize, Deserialize, ToSchema)]
#[schema(value_type = f64)]
pub struct Rate(pub f64);

impl PartialEq for Rate {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Rate {}

impl Rate {
    /// `part ÷ whole`, 0 when `whole` is 0.
    pub fn of(part: u64, whole: u64) -> Self {
        if whole == 0 {
            Rate(0.0)
        } else {
            Rate(part as f64 / whole as f64)
        }
    }

    /// As a percentage, for people (`0.35 %`).
    pub fn percent(self) -> String {
        let p = self.0 * 100.0;
        let text = format!("{p:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text} %")
    }
}

/// A pair of thresholds, one per rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Thresholds {
    pub hard_bounce_rate: Rate,
    pub complaint_rate: Rate,
}

/// What the guard judges by (`[reputation]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReputationPolicy {
    /// The rolling window the rates are counted over.
    pub window: Duration,
    /// No level below this many delivered-or-hard-bounced recipients in the window.
    pub min_volume: u64,
    /// At or over either rate: a `tenant.reputation_warning`.
    pub review: Thresholds,
    /// At or over either rate: the bulk stream is paused (transactional is warned).
    pub pause: Thresholds,
}

impl Default for ReputationPolicy {
    /// Close to what large mailbox providers publish: complaints 0.1 % (review) and
    /// 0.3 % (pause), hard bounces 5 % and 10 %, over 24 hours, from 1,000 recipients.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(24 * 3600),
            min_volume: 1000,
            review: Thresholds {
                hard_bounce_rate: Rate(0.05),
                complaint_rate: Rate(0.001),
            },
            pause: Thresholds {
                hard_bounce_rate: Rate(0.10),
                complaint_rate: Rate(0.003),
            },
        }
    }
}

/// How a stream stands against the thresholds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ReputationLevel {
    /// Below the review thresholds, or below the minimum volume.
    #[default]
    Ok,
    /// At or over a review threshold.
    Review,
    /// At or over a pause threshold.
    Pause,
}

impl ReputationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ReputationLevel::Ok => "ok",
            ReputationLevel::Review => "review",
            ReputationLevel::Pause => "pause",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Ok, Self::Review, Self::Pause]
            .into_iter()
            .find(|l| l.as_str() == text)
    }
}

/// One stream's counts over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCounts {
    pub delivered: u64,
    pub hard_bounced: u64,
    pub complained: u64,
}

impl StreamCounts {
    /// Delivered or hard-bounced recipients: what the minimum volume is judged on.
    pub fn volume(&self) -> u64 {
        self.delivered + self.hard_bounced
    }

    pub fn hard_bounce_rate(&self) -> Rate {
        Rate::of(self.hard_bounced, self.volume())
    }

    pub fn complaint_rate(&self) -> Rate {
        Rate::of(self.complained, self.delivered)
    }

    fn reaches(&self, thresholds: &Thresholds) -> bool {
        self.hard_bounce_rate().0 >= thresholds.hard_bounce_rate.0
            || self.complaint_rate().0 >= thresholds.complaint_rate.0
    }
}

impl ReputationPolicy {
    /// The level these counts reach.
    pub fn assess(&self, counts: &StreamCounts) -> ReputationLevel {
        if counts.volume() < self.min_volume.max(1) {
            ReputationLevel::Ok
        } else if counts.reaches(&self.pause) {
            ReputationLevel::Pause
        } else if counts.reaches(&self.review) {
            ReputationLevel::Review
        } else {
            ReputationLevel::Ok
        }
    }

    /// The length of one bucket, in ms.
    pub fn bucket_ms(&self) -> u64 {
        (self.window.as_millis() as u64 / BUCKETS_PER_WINDOW).max(MIN_BUCKET_MS)
    }

    /// The bucket a count made at `now_ms` goes to, and the oldest bucket still in the
    /// window then (older ones are dropped): the window is the current bucket and the
    /// ones before it that, whole, fit in `window`.
    pub fn buckets(&self, now_ms: i64) -> (i64, i64) {
        let size = self.bucket_ms() as i64;
        let current = now_ms.max(0) / size;
        let kept = (self.window.as_millis() as i64 / size).max(1);
        (current, current - kept + 1)
    }

    /// One stream's figures as the admin API and the events show them.
    pub fn report(&self, stream: MessageStream, counts: &StreamCounts) -> StreamReputation {
        StreamReputation {
            stream,
            level: self.assess(counts),
            delivered: counts.delivered,
            hard_bounced: counts.hard_bounced,
            complained: counts.complained,
            hard_bounce_rate: counts.hard_bounce_rate(),
            complaint_rate: counts.complaint_rate(),
        }
    }
}

/// One stream's standing over the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamReputation {
    pub stream: MessageStream,
    /// Where the rates stand against the thresholds (`ok` below the minimum volume).
    pub level: ReputationLevel,
    pub delivered: u64,
    pub hard_bounced: u64,
    pub complained: u64,
    /// Hard bounces ÷ (delivered + hard bounced), as a fraction.
    #[schema(example = 0.012)]
    pub hard_bounce_rate: Rate,
    /// Complaints ÷ delivered, as a fraction.
    #[schema(example = 0.0004)]
    pub complaint_rate: Rate,
}

impl StreamReputation {
    /// `hard bounces 12 % (120 of 1000), complaints 0.1 % (1 of 880)`.
    pub fn describe(&self) -> String {
        format!(
            "hard bounces {} ({} of {}), complaints {} ({} of {} delivered)",
            self.hard_bounce_rate.percent(),
            self.hard_bounced,
            self.delivered + self.hard_bounced,
            self.complaint_rate.percent(),
            self.complained,
            self.delivered
        )
    }
}

/// Why and since when a tenant's bulk stream is paused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BulkPause {
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// The bulk stream's figures when it was paused.
    pub figures: StreamReputation,
}

/// A tenant's reputation as `GET /v1/admin/tenants/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantReputation {
    /// The rolling window, in seconds.
    #[schema(example = 86400)]
    pub window_seconds: u64,
    /// No level is reached below this many delivered-or-hard-bounced recipients.
    #[schema(example = 1000)]
    pub min_volume: u64,
    pub review: Thresholds,
    pub pause: Thresholds,
    /// Each stream's figures over the window.
    pub streams: BTreeMap<MessageStream, StreamReputation>,
    /// Set while the bulk stream is paused (until an operator resumes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_paused: Option<BulkPause>,
}

/// The subject of a `tenant.reputation_warning`, `tenant.paused` or `tenant.resumed` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReputationEventData {
    /// The stream the figures are about.
    pub figures: StreamReputation,
    /// The thresholds of the level reached (review or pause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// The rolling window, in seconds.
    pub window_seconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(delivered: u64, hard_bounced: u64, complained: u64) -> StreamCounts {
        StreamCounts {
            delivered,
            hard_bounced,
            complained,
        }
    }

    #[test]
    fn rates_are_over_the_right_denominators() {
        let c = counts(900, 100, 3);
        assert_eq!(c.volume(), 1000);
        assert_eq!(c.hard_bounce_rate(), Rate(0.1));
        assert_eq!(c.complaint_rate(), Rate(3.0 / 900.0));
        let none = counts(0, 0, 2);
        assert_eq!(none.hard_bounce_rate(), Rate(0.0));
        assert_eq!(none.complaint_rate(), Rate(0.0));
        assert_eq!(counts(0, 5, 0).hard_bounce_rate(), Rate(1.0));
        assert_eq!(Rate(0.003).percent(), "0.3 %");
        assert_eq!(Rate(0.1).percent(), "10 %");
        assert_eq!(Rate(1.0 / 3.0).percent(), "33.333 %");
    }

    #[test]
    fn levels_need_the_minimum_volume_and_start_at_the_threshold() {
        let policy = ReputationPolicy::default();
        // 50 % bounces, but only 10 recipients: nothing.
        assert_eq!(policy.assess(&counts(5, 5, 0)), ReputationLevel::Ok);
        assert_eq!(policy.assess(&counts(951, 49, 0)), ReputationLevel::Ok);
        assert_eq!(policy.assess(&counts(950, 50, 0)), ReputationLevel::Review);
        assert_eq!(policy.assess(&counts(901, 99, 0)), ReputationLevel::Review);
        assert_eq!(policy.assess(&counts(900, 100, 0)), ReputationLevel::Pause);
        // Complaints: 0.1 % of delivered reviews, 0.3 % pauses.
        assert_eq!(policy.assess(&counts(2000, 0, 1)), ReputationLevel::Ok);
        assert_eq!(policy.assess(&counts(2000, 0, 2)), ReputationLevel::Review);
        assert_eq!(policy.assess(&counts(2000, 0, 6)), ReputationLevel::Pause);
        // Either rate is enough; the worse one decides.
        assert_eq!(policy.assess(&counts(1900, 100, 6)), ReputationLevel::Pause);
        // A minimum volume of 0 behaves as 1: no recipients, no level.
        let eager = ReputationPolicy {
            min_volume: 0,
            ..policy
        };
        assert_eq!(eager.assess(&counts(0, 0, 0)), ReputationLevel::Ok);
        assert_eq!(eager.assess(&counts(0, 1, 0)), ReputationLevel::Pause);
    }

    #[test]
    fn the_window_rolls_by_whole_buckets() {
        let day = ReputationPolicy::default();
        assert_eq!(day.bucket_ms(), 3_600_000);
        let at = 1_000 * 3_600_000 + 1_234;
        assert_eq!(day.buckets(at), (1000, 977));
        // 24 buckets are kept: the current one and the 23 before it.
        let (current, oldest) = day.buckets(at);
        assert_eq!(current - oldest + 1, 24);

        let short = ReputationPolicy {
            window: Duration::from_secs(10),
            ..day
        };
        // A bucket is never under a second; a 10 s window keeps 10 of them.
        assert_eq!(short.bucket_ms(), 1000);
        assert_eq!(short.buckets(25_999), (25, 16));
        let tiny = ReputationPolicy {
            window: Duration::from_millis(300),
            ..day
        };
        assert_eq!(tiny.buckets(5_500), (5, 5));
    }

    #[test]
    fn levels_order_and_parse() {
        assert!(ReputationLevel::Pause > ReputationLevel::Review);
        assert!(ReputationLevel::Review > ReputationLevel::Ok);
        for level in [
            ReputationLevel::Ok,
            ReputationLevel::Review,
            ReputationLevel::Pause,
        ] {
            assert_eq!(ReputationLevel::parse(level.as_str()), Some(level));
        }
        assert_eq!(ReputationLevel::parse("paused"), None);
    }
}
