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
    /// 1m, 5m, 15m, 30m, 1h, 2h, then every 4h, for up to 3 days.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            schedule: vec![
                minutes(1),
                minutes(5),
                minutes(15),
                minutes(30),
                minutes(60),
                minutes(120),
                minutes(240),
            ],
            max_age: Duration::from_secs(3 * 24 * 3600),
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
        assert_eq!(delay(1), Some(1));
        assert_eq!(delay(2), Some(5));
        assert_eq!(delay(7), Some(240));
        assert_eq!(delay(30), Some(240));
    }

    #[test]
    fn gives_up_past_the_maximum_age() {
        let policy = RetryPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let almost_three_days = t0 + time::Duration::hours(71);
        assert!(policy.next_attempt(20, t0, almost_three_days).is_none());
        assert!(
            policy
                .next_attempt(20, t0, t0 + time::Duration::hours(60))
                .is_some()
        );
    }
}
