//! Store errors, by what the caller should do about them.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A newer owner has claimed the partition: stop, do not retry.
    #[error("fenced: scope {scope} is held by epoch {held}, ours is {ours}")]
    Fenced { scope: String, held: u64, ours: u64 },
    /// Worth retrying (busy, timeout, connection).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data: fail the operation.
    #[error("store failure: {0}")]
    Fatal(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
