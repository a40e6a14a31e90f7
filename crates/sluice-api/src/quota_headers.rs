//! The IETF `RateLimit-Policy` and `RateLimit` response fields
//! (draft-ietf-httpapi-ratelimit-headers): each stream used by a send has a burst
//! policy (`q` = burst, `w` = seconds to refill it) and a rolling-day policy
//! (`w` = 86400), with what remains (`r`) and seconds until it resets (`t`).

use axum::http::{HeaderMap, HeaderValue};
use sluice_store::QuotaState;

pub fn insert(headers: &mut HeaderMap, states: &[QuotaState]) {
    if states.is_empty() {
        return;
    }
    let mut policies = Vec::with_capacity(states.len() * 2);
    let mut current = Vec::with_capacity(states.len() * 2);
    for state in states {
        let stream = state.stream.as_str();
        let limits = &state.limits;
        policies.push(format!(
            "\"{stream}-rate\";q={};w={}",
            limits.burst,
            limits.burst_window_secs()
        ));
        policies.push(format!("\"{stream}-day\";q={};w=86400", limits.per_day));
        current.push(format!(
            "\"{stream}-rate\";r={};t={}",
            state.rate_remaining,
            state.rate_reset.as_millis().div_ceil(1000)
        ));
        current.push(format!(
            "\"{stream}-day\";r={};t={}",
            state.day_remaining,
            state.day_reset.as_millis().div_ceil(1000)
        ));
    }
    for (name, items) in [("ratelimit-policy", policies), ("ratelimit", current)] {
        if let Ok(value) = HeaderValue::from_str(&items.join(", ")) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sluice_model::{MessageStream, StreamQuota};

    use super::*;

    #[test]
    fn fields_follow_the_draft_syntax() {
        let mut headers = HeaderMap::new();
        insert(
            &mut headers,
            &[QuotaState {
                stream: MessageStream::Bulk,
                limits: StreamQuota {
                    per_second: 10,
                    burst: 25,
                    per_day: 1000,
                },
                rate_remaining: 24,
                rate_reset: Duration::from_millis(100),
                day_remaining: 990,
                day_reset: Duration::from_secs(86_000),
            }],
        );
        assert_eq!(
            headers["ratelimit-policy"],
            "\"bulk-rate\";q=25;w=3, \"bulk-day\";q=1000;w=86400"
        );
        assert_eq!(
            headers["ratelimit"],
            "\"bulk-rate\";r=24;t=1, \"bulk-day\";r=990;t=86000"
        );
    }
}
