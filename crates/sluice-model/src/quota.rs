//! Sending quotas: per tenant and per stream, a rate (messages per second with a
//! burst) and a rolling 24-hour volume. Transactional and bulk are counted apart, so
//! a campaign can never spend the allowance that one-time passwords depend on.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::message::MessageStream;

/// One stream's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamQuota {
    /// Sustained messages per second.
    #[schema(example = 50)]
    pub per_second: u32,
    /// Messages that may be accepted at once after a quiet spell (at least 1).
    #[schema(example = 200)]
    pub burst: u32,
    /// Messages in any rolling 24 hours.
    #[schema(example = 100000)]
    pub per_day: u64,
}

impl StreamQuota {
    /// A rough window for the burst, in whole seconds: how long the bucket takes to
    /// refill from empty (what `RateLimit-Policy` calls `w`).
    pub fn burst_window_secs(&self) -> u64 {
        u64::from(self.burst)
            .div_ceil(u64::from(self.per_second.max(1)))
            .max(1)
    }
}

/// The limits of both streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantQuotas {
    pub transactional: StreamQuota,
    pub bulk: StreamQuota,
}

impl TenantQuotas {
    pub fn get(&self, stream: MessageStream) -> StreamQuota {
        match stream {
            MessageStream::Transactional => self.transactional,
            MessageStream::Bulk => self.bulk,
        }
    }

    pub fn get_mut(&mut self, stream: MessageStream) -> &mut StreamQuota {
        match stream {
            MessageStream::Transactional => &mut self.transactional,
            MessageStream::Bulk => &mut self.bulk,
        }
    }
}

impl Default for TenantQuotas {
    /// Generous enough for a busy application, small enough that one runaway sender
    /// cannot fill a shared queue: 100/s (burst 1,000) and 1M a day of transactional
    /// mail; 100/s (burst 5,000) and 1M a day of bulk.
    fn default() -> Self {
        Self {
            transactional: StreamQuota {
                per_second: 100,
                burst: 1_000,
                per_day: 1_000_000,
            },
            bulk: StreamQuota {
                per_second: 100,
                burst: 5_000,
                per_day: 1_000_000,
            },
        }
    }
}

/// A change to one stream's limits: each field set, cleared back to the configured
/// default (`null`), or left alone (absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamQuotaPatch {
    #[serde(default, deserialize_with = "crate::whole_number::patch_u32")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    pub per_second: Option<Option<u32>>,
    #[serde(default, deserialize_with = "crate::whole_number::patch_u32")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    pub burst: Option<Option<u32>>,
    #[serde(default, deserialize_with = "crate::whole_number::patch_u64")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 9223372036854775807_u64)]
    pub per_day: Option<Option<u64>>,
}

/// `{"transactional": {...}, "bulk": {...}}`, either part optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotasPatch {
    #[serde(default, deserialize_with = "crate::json_object::option")]
    pub transactional: Option<StreamQuotaPatch>,
    #[serde(default, deserialize_with = "crate::json_object::option")]
    pub bulk: Option<StreamQuotaPatch>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_tells_absent_from_null() {
        let patch: StreamQuotaPatch =
            serde_json::from_str(r#"{"per_second": 5, "burst": null}"#).unwrap_or_default();
        assert_eq!(patch.per_second, Some(Some(5)));
        assert_eq!(patch.burst, Some(None));
        assert_eq!(patch.per_day, None);
    }

    #[test]
    fn the_burst_window_rounds_up_and_is_never_zero() {
        let quota = |per_second, burst| StreamQuota {
            per_second,
            burst,
            per_day: 1,
        };
        assert_eq!(quota(10, 25).burst_window_secs(), 3);
        assert_eq!(quota(100, 1).burst_window_secs(), 1);
    }
}
