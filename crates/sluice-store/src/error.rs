#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A record in Redis does not have the shape this version expects.
    #[error("corrupt record {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

impl StoreError {
    pub(crate) fn corrupt(key: impl Into<String>, reason: impl ToString) -> Self {
        StoreError::Corrupt {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}
