//! Password hashing: argon2id (memory-hard, about 19 MiB and tens of milliseconds each), off the
//! async threads and under a bound: at most one hash per core at once, and a bounded queue
//! behind them; past it a login is answered 503 / 10010 at once instead of waiting. A login
//! flood then costs a few cores and a few dozen MiB, never the blocking pool or the memory.

use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use herald_protocol::ErrorCode;
use rand::RngCore;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (bounded hashing cost).
pub const MAX_PASSWORD_LEN: usize = 256;
/// Hashes waiting for a core, per core.
pub const QUEUED_PER_CORE: usize = 8;

pub fn check_strength(password: &str) -> Result<(), ApiError> {
    if password.len() < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(ApiError::bad_input(format!(
            "password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// The bound on concurrent hashing.
pub struct Hashing {
    running: Semaphore,
    /// Hashes running or waiting.
    admitted: AtomicUsize,
    capacity: usize,
}

/// One admitted hash; leaving frees its place.
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for Hashing {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self::new(cores, cores * QUEUED_PER_CORE)
    }
}

impl Hashing {
    pub fn new(at_once: usize, queued: usize) -> Self {
        Self {
            running: Semaphore::new(at_once.max(1)),
            admitted: AtomicUsize::new(0),
            capacity: at_once.max(1) + queued,
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "too many logins at once, retry in a moment",
            ));
        }
        let _admitted = Admitted(&self.admitted);
        let _permit = self.running.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)
    }

    /// A PHC string (`$argon2id$...`) with a random salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Constant-time verification (inside argon2); `Ok(false)` for a wrong password.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, ApiError> {
        self.run(move || {
            PasswordHash::new(&phc)
                .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }
}

fn hash_blocking(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// The hash of a random password: checking a missing account against it costs what a real
/// check costs, so the answer's timing does not tell whether the account exists.
pub fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_blocking(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn hashes_beyond_the_queue_are_refused_at_once() {
        let hashing = Arc::new(Hashing::new(1, 2));
        let gate = Arc::new(std::sync::Barrier::new(2));
        let blocked = {
            let (hashing, gate) = (hashing.clone(), gate.clone());
            tokio::spawn(async move { hashing.run(move || gate.wait()).await })
        };
        // wait until the blocked one runs, then fill the queue
        while hashing.running.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let hashing = hashing.clone();
                tokio::spawn(async move { hashing.run(|| 7).await })
            })
            .collect();
        while hashing.admitted.load(Ordering::Acquire) < 3 {
            tokio::task::yield_now().await;
        }
        let refused = hashing.run(|| 7).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unavailable);
        gate.wait();
        blocked.await.unwrap().unwrap();
        for queued in queued {
            assert_eq!(queued.await.unwrap().unwrap(), 7, "the queued ones run");
        }
        assert_eq!(hashing.run(|| 8).await.unwrap(), 8, "places free up");
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hashing = Hashing::default();
        let phc = hashing.hash("correct horse".into()).await.unwrap();
        assert!(hashing.verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!hashing.verify("wrong horse".into(), phc).await.unwrap());
    }
}
