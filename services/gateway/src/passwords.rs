//! Password hashing: argon2id (memory-hard), off the async threads.

use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (bounded hashing cost).
pub const MAX_PASSWORD_LEN: usize = 256;

pub fn check_strength(password: &str) -> Result<(), ApiError> {
    if password.len() < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(ApiError::bad_input(format!(
            "password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
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

/// A PHC string (`$argon2id$...`) with a random salt.
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(ApiError::internal)?
}

/// The hash of a random password: checking a missing account against it costs what a real
/// check costs, so the answer's timing does not tell whether the account exists.
pub fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_blocking(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
        .clone()
}

/// Constant-time verification (inside argon2).
pub async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}
