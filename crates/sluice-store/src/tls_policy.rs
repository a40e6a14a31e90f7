//! Outbound TLS policy state shared by every worker process: cached MTA-STS
//! policies (RFC 8461 §5) and the daily TLS-RPT counters (RFC 8460 §4) with the
//! lease and markers that make one process send each day's reports once.
//!
//! Every call touches one key, so nothing here needs a script and all of it works
//! unchanged on a Redis Cluster. The values are opaque here: the delivery worker
//! owns the policy JSON and the counter names.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;

use crate::keys;
use crate::{Store, StoreError};

/// How long a day's counters stay after their last write: the day's report is sent
/// the next day, with slack for a sender that was down.
const TLS_RPT_KEEP: Duration = Duration::from_secs(3 * 86_400);

impl Store {
    /// The cached MTA-STS policy of `domain`, if one has not expired.
    pub async fn mta_sts_cached(&self, domain: &str) -> Result<Option<String>, StoreError> {
        Ok(self.conn().get(keys::mta_sts_policy(domain)).await?)
    }

    /// Caches `domain`'s policy for `ttl` (its `max_age`), at least a second.
    pub async fn mta_sts_store(
        &self,
        domain: &str,
        policy: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let seconds = ttl.as_secs().max(1);
        let _: () = self
            .conn()
            .set_ex(keys::mta_sts_policy(domain), policy, seconds)
            .await?;
        Ok(())
    }

    /// Adds one to each of `counters` (`<domain>|<counter>` fields) of `day`'s hash,
    /// and sets the `values` fields (a policy's text) as given.
    pub async fn tls_rpt_record(
        &self,
        day: i64,
        counters: &[String],
        values: &[(String, String)],
    ) -> Result<(), StoreError> {
        let key = keys::tls_rpt_day(day);
        let mut pipe = redis::pipe();
        for field in counters {
            pipe.hincr(&key, field, 1).ignore();
        }
        if !values.is_empty() {
            pipe.hset_multiple(&key, values).ignore();
        }
        pipe.expire(&key, TLS_RPT_KEEP.as_secs() as i64).ignore();
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Every field of `day`'s TLS-RPT hash (once a day, by the report sender).
    pub async fn tls_rpt_day(&self, day: i64) -> Result<HashMap<String, String>, StoreError> {
        Ok(self.conn().hgetall(keys::tls_rpt_day(day)).await?)
    }

    /// Takes `day`'s sending lease for `ttl` if nobody holds it.
    pub async fn tls_rpt_lease(
        &self,
        day: i64,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let taken: Option<String> = redis::cmd("SET")
            .arg(keys::tls_rpt_lease(day))
            .arg(owner)
            .arg("NX")
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async(&mut self.conn())
            .await?;
        Ok(taken.is_some())
    }

    /// Marks `day`'s report for `domain` as sent; false when it already was.
    pub async fn tls_rpt_mark_sent(
        &self,
        day: i64,
        domain: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let key = keys::tls_rpt_sent(day);
        let (fresh,): (bool,) = redis::pipe()
            .hset_nx(&key, domain, at_ms)
            .expire(&key, TLS_RPT_KEEP.as_secs() as i64)
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(fresh)
    }
}
