//! When failed webhook deliveries are tried again.

use std::time::Duration;

/// The delays between attempts: after the n-th failed attempt the next one is due
/// `delays[n - 1]` later; after a failure past the last delay the delivery is given
/// up. The default is Standard Webhooks' (and Svix's) schedule — 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h — so eight attempts over about 27.6 hours: an endpoint down
/// for a day still gets everything once it is back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::new(
            [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
                .map(Duration::from_secs)
                .to_vec(),
        )
    }
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Self {
        Self { delays }
    }

    /// How long after failed attempt number `attempt` (1 = the first) to try again;
    /// `None` when that was the last attempt.
    pub fn after_failure(&self, attempt: u32) -> Option<Duration> {
        let index = attempt.max(1) as usize - 1;
        self.delays.get(index).copied()
    }

    /// The delays, in order.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Attempts made in all before giving up.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// From the first attempt to the last, if every one fails at once.
    pub fn span(&self) -> Duration {
        self.delays.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_spans_more_than_a_day() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.max_attempts(), 8);
        assert_eq!(schedule.after_failure(1), Some(Duration::from_secs(5)));
        assert_eq!(schedule.after_failure(2), Some(Duration::from_secs(300)));
        assert_eq!(schedule.after_failure(7), Some(Duration::from_secs(36_000)));
        assert_eq!(schedule.after_failure(8), None);
        assert_eq!(schedule.after_failure(80), None);
        assert_eq!(schedule.span(), Duration::from_secs(99_305));
        assert!(schedule.span() > Duration::from_secs(24 * 3600));
    }

    #[test]
    fn attempt_zero_counts_as_the_first_and_an_empty_schedule_never_retries() {
        let schedule = RetrySchedule::new(vec![Duration::from_millis(200)]);
        assert_eq!(schedule.after_failure(0), Some(Duration::from_millis(200)));
        assert_eq!(schedule.after_failure(2), None);
        assert_eq!(RetrySchedule::new(Vec::new()).after_failure(1), None);
        assert_eq!(RetrySchedule::new(Vec::new()).max_attempts(), 1);
    }
}
