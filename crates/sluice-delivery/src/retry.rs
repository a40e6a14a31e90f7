//! When to try a deferred message again, and when to give up.

use std::time::Duration;

use time::OffsetDateTime;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before retry n (1-based) is `schedule[n - 1]`; past the end, the last
    /// delay repeats.
    pub schedule: Vec<Duration>,
    /// A message still undelivered this long after it fell due (its `send_at`, else
    /// its acceptance) bounces.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    /// 5m, 30m, 1h, 2h, then every 4h, for up to 5 days: the one default schedule
    /// (`delivery.retry_schedule` and `delivery.max_age` default to it).
    ///
    /// RFC 5321 §4.5.4.1: "the retry interval SHOULD be at least 30 minutes" and "the
    /// give-up time generally needs to be at least 4-5 days". The one shorter first
    /// step is for greylisting, which refuses a first attempt and accepts a retry
    /// after a few minutes; every later step is 30 minutes or more.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            schedule: vec![
                minutes(5),
                minutes(30),
                minutes(60),
                minutes(120),
                minutes(240),
            ],
            max_age: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The time of the next attempt after `attempts_made` attempts, or `None` when that
    /// would pass the maximum age counted from `due_at` (the recipients then bounce).
    pub fn next_attempt(
        &self,
        attempts_made: u32,
        due_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        let index = (attempts_made.max(1) as usize - 1).min(self.schedule.len().saturating_sub(1));
        let delay = self
            .schedule
            .get(index)
            .copied()
            .unwrap_or(Duration::from_secs(60));
        let next = now + delay;
        let deadline = self.deadline(due_at);
        (next <= deadline).then_some(next)
    }

    /// When a message that fell due at `due_at` is given up.
    pub fn deadline(&self, due_at: OffsetDateTime) -> OffsetDateTime {
        due_at + self.max_age
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_then_repeats_the_last_step() {
        let policy = RetryPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let delay = |n| {
            policy
                .next_attempt(n, t0, t0)
                .map(|at| (at - t0).whole_minutes())
        };
        assert_eq!(delay(1), Some(5));
        assert_eq!(delay(2), Some(30));
        assert_eq!(delay(5), Some(240));
        assert_eq!(delay(30), Some(240));
    }

    #[test]
    fn gives_up_past_the_maximum_age() {
        let policy = RetryPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let almost_five_days = t0 + time::Duration::hours(119);
        assert!(policy.next_attempt(20, t0, almost_five_days).is_none());
        assert!(
            policy
                .next_attempt(20, t0, t0 + time::Duration::hours(100))
                .is_some()
        );
    }

    #[test]
    fn the_default_follows_rfc_5321_guidance() {
        let policy = RetryPolicy::default();
        let half_hour = Duration::from_secs(30 * 60);
        assert!(
            policy.schedule[0] < half_hour,
            "one quick retry for greylisting"
        );
        assert!(policy.schedule[1..].iter().all(|d| *d >= half_hour));
        assert!(policy.max_age >= Duration::from_secs(4 * 24 * 3600));
    }
}
