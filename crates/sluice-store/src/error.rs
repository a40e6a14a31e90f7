#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A record in Redis does not have the shape this version expects.
    #[error("corrupt record {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// A DKIM private key could not be sealed or opened (no key configured, the
    /// wrong key, a record moved between tenants or domains).
    #[error("DKIM key encryption: {0}")]
    KeySealing(String),
}

impl StoreError {
    pub(crate) fn corrupt(key: impl Into<String>, reason: impl ToString) -> Self {
        StoreError::Corrupt {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}
