//! Bus errors, by what the caller should do.

#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// Transient (timeout, disconnected, full): retry later.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// Misconfiguration or a bug: do not retry.
    #[error("bus failure: {0}")]
    Fatal(String),
}

impl BusError {
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        BusError::Unavailable(err.to_string())
    }

    pub fn fatal(err: impl std::fmt::Display) -> Self {
        BusError::Fatal(err.to_string())
    }
}
