#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A record in Redis does not have the shape this version expects.
    #[error("corrupt record {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// A script answered in another shape than it documents (a script and the Rust
    /// that reads it out of step).
    #[error("unexpected reply from the {script} script: {reason}")]
    UnexpectedReply {
        script: &'static str,
        reason: String,
    },
    /// This Redis holds Sluice data in a newer key layout than this version knows
    /// (see "Schema versions" in the crate documentation): a newer Sluice ran here.
    #[error(
        "this Redis holds Sluice data in key schema version {found}, newer than the {supported} this version of Sluice reads; run the newer version (or a Redis of its own)"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    /// A DKIM private key could not be sealed or opened (no key configured, the
    /// wrong key, a record moved between tenants or domains).
    #[error("DKIM key encryption: {0}")]
    KeySealing(String),
    /// `durability.mode = replicas`: the write is in Redis but fewer replicas than
    /// required confirmed it in time. The message may still be delivered.
    #[error("{acknowledged} of {required} replicas acknowledged the write within {timeout:?}")]
    NotReplicated {
        acknowledged: u32,
        required: u32,
        timeout: std::time::Duration,
    },
}

impl StoreError {
    /// Redis refused the write because it is at `maxmemory` (under `noeviction`).
    pub fn is_out_of_memory(&self) -> bool {
        matches!(self, StoreError::Redis(e) if e.code() == Some("OOM"))
    }

    pub(crate) fn corrupt(key: impl Into<String>, reason: impl ToString) -> Self {
        StoreError::Corrupt {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}
