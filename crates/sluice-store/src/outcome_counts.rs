//! Per-minute counts of delivery outcomes (delivered, deferred, bounced), for the
//! console's charts: one HASH per hour and scope, fields `<minute of the hour>:<kind>`,
//! kept 25 hours. Each tenant's counts live in its own slot (the tenant's tag); the
//! operator's totals in `{sluice:stats}`.
//!
//! Counted by the event fan-out after it acknowledges a batch: a crash between the two
//! loses that batch's counts rather than counting them twice. Charts, not accounts.

use std::collections::HashMap;

use sluice_model::{EventType, TenantId};

use crate::{Store, StoreError, keys};

/// The outcomes counted.
pub const KINDS: [EventType; 3] = [
    EventType::Delivered,
    EventType::Deferred,
    EventType::Bounced,
];

/// How long an hour's counts are kept (a day's chart, and the hour being drawn).
const KEEP_SECS: i64 = 25 * 3600;

/// Counts per minute or per hour, oldest first, one series per kind of [`KINDS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutcomeSeries {
    /// The unix time (seconds) of the first bucket.
    pub start: i64,
    /// Bucket width in seconds (60 or 3600).
    pub step: i64,
    pub delivered: Vec<u64>,
    pub deferred: Vec<u64>,
    pub bounced: Vec<u64>,
}

fn kind_name(kind: EventType) -> Option<&'static str> {
    match kind {
        EventType::Delivered => Some("delivered"),
        EventType::Deferred => Some("deferred"),
        EventType::Bounced => Some("bounced"),
        _ => None,
    }
}

impl Store {
    /// Adds one count per outcome event: `(tenant, kind, unix seconds)`. Other kinds
    /// are ignored.
    pub async fn count_outcomes(
        &self,
        events: &[(TenantId, EventType, i64)],
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        let mut any = false;
        for (tenant, kind, at) in events {
            let Some(name) = kind_name(*kind) else {
                continue;
            };
            let (hour, minute) = (at.div_euclid(3600), at.rem_euclid(3600) / 60);
            let field = format!("{minute}:{name}");
            for key in [
                keys::outcome_counts(Some(tenant), hour),
                keys::outcome_counts(None, hour),
            ] {
                pipe.hincr(&key, &field, 1).ignore();
                pipe.expire(&key, KEEP_SECS).ignore();
            }
            any = true;
        }
        if any {
            let _: () = pipe.query_async(&mut self.conn()).await?;
        }
        Ok(())
    }

    /// The last hour per minute (60 buckets, the current minute last) and the last
    /// day per hour (24 buckets, the current hour last), for `tenant` or (`None`)
    /// every tenant.
    pub async fn outcome_series(
        &self,
        tenant: Option<&TenantId>,
        now_secs: i64,
    ) -> Result<(OutcomeSeries, OutcomeSeries), StoreError> {
        let this_hour = now_secs.div_euclid(3600);
        let hours: Vec<i64> = (this_hour - 23..=this_hour).collect();
        let mut pipe = redis::pipe();
        for hour in &hours {
            pipe.hgetall(keys::outcome_counts(tenant, *hour));
        }
        let all: Vec<HashMap<String, u64>> = pipe.query_async(&mut self.conn()).await?;
        let by_hour: HashMap<i64, HashMap<String, u64>> = hours.iter().copied().zip(all).collect();
        let count = |hour: i64, minute: Option<i64>, name: &str| -> u64 {
            let Some(fields) = by_hour.get(&hour) else {
                return 0;
            };
            match minute {
                Some(m) => fields.get(&format!("{m}:{name}")).copied().unwrap_or(0),
                None => fields
                    .iter()
                    .filter(|(f, _)| f.split_once(':').is_some_and(|(_, k)| k == name))
                    .map(|(_, n)| *n)
                    .sum(),
            }
        };
        let this_minute = now_secs.div_euclid(60);
        let minutes: Vec<i64> = (this_minute - 59..=this_minute).collect();
        let per_minute = |name: &str| -> Vec<u64> {
            minutes
                .iter()
                .map(|m| count(m.div_euclid(60), Some(m.rem_euclid(60)), name))
                .collect()
        };
        let per_hour =
            |name: &str| -> Vec<u64> { hours.iter().map(|h| count(*h, None, name)).collect() };
        Ok((
            OutcomeSeries {
                start: minutes[0] * 60,
                step: 60,
                delivered: per_minute("delivered"),
                deferred: per_minute("deferred"),
                bounced: per_minute("bounced"),
            },
            OutcomeSeries {
                start: hours[0] * 3600,
                step: 3600,
                delivered: per_hour("delivered"),
                deferred: per_hour("deferred"),
                bounced: per_hour("bounced"),
            },
        ))
    }
}
