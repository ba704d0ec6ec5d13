//! Failed-login throttle (protocol §6): per account and per client address, a window of
//! failures; once a key has its limit of failures in the window, every login of it is refused
//! with 429 / 10008 and `Retry-After` until the window ends, the right password included (a
//! guesser learns nothing during a lockout). A success clears the account's failures.

use crate::error::ApiError;
use crate::passwords::Hashing;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long failures count.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Failed logins per account (a console email, or an app's user name) per window.
pub const ACCOUNT_FAILURES: u32 = 5;
/// Failed logins per client address (the socket peer, never `X-Forwarded-For`) per window.
pub const ADDRESS_FAILURES: u32 = 20;
/// Accounts and addresses tracked at once (each table); past it, expired windows are dropped,
/// and a new key is not tracked while the table is still full.
pub const MAX_TRACKED: usize = 100_000;

/// Who failed: the account, and the client address when the server knows it.
pub struct Attempt<'a> {
    /// `console` or the app id.
    pub scope: &'a str,
    pub account: &'a str,
    pub address: Option<IpAddr>,
}

#[derive(Default)]
pub struct LoginThrottle {
    accounts: Mutex<Windows<(String, String)>>,
    addresses: Mutex<Windows<IpAddr>>,
}

impl LoginThrottle {
    /// `Some(wait)` while the account or the address is locked out.
    pub fn locked_for(&self, attempt: &Attempt<'_>, now: Instant) -> Option<Duration> {
        let key = (attempt.scope.to_owned(), attempt.account.to_owned());
        let account = lock(&self.accounts).locked_for(&key, ACCOUNT_FAILURES, now);
        let address = attempt
            .address
            .and_then(|address| lock(&self.addresses).locked_for(&address, ADDRESS_FAILURES, now));
        account.max(address)
    }

    pub fn failed(&self, attempt: &Attempt<'_>, now: Instant) {
        let key = (attempt.scope.to_owned(), attempt.account.to_owned());
        lock(&self.accounts).fail(key, now);
        if let Some(address) = attempt.address {
            lock(&self.addresses).fail(address, now);
        }
    }

    pub fn succeeded(&self, attempt: &Attempt<'_>) {
        let key = (attempt.scope.to_owned(), attempt.account.to_owned());
        lock(&self.accounts).windows.remove(&key);
    }
}

/// Verifies a password under the throttle: 429 / 10008 while the account or the address is
/// locked out (before any hashing), a counted failure on a wrong password or a missing account
/// (`stored` is `None`: the same work and answer as a wrong password).
pub async fn verify(
    throttle: &LoginThrottle,
    hashing: &Hashing,
    attempt: &Attempt<'_>,
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    if let Some(wait) = throttle.locked_for(attempt, Instant::now()) {
        return Err(ApiError::rate_limited(
            "too many failed logins, retry later",
            wait.as_secs_f64().ceil() as u64,
        ));
    }
    let exists = stored.is_some();
    let hash = stored.unwrap_or_else(crate::passwords::dummy_hash);
    let verified = hashing.verify(password, hash).await? && exists;
    if verified {
        throttle.succeeded(attempt);
    } else {
        throttle.failed(attempt, Instant::now());
    }
    Ok(verified)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

struct Window {
    started: Instant,
    failures: u32,
}

struct Windows<K> {
    windows: HashMap<K, Window>,
}

impl<K> Default for Windows<K> {
    fn default() -> Self {
        Self {
            windows: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq> Windows<K> {
    fn locked_for(&self, key: &K, limit: u32, now: Instant) -> Option<Duration> {
        let window = self.windows.get(key)?;
        let ends = window.started + WINDOW;
        (window.failures >= limit && now < ends).then(|| ends - now)
    }

    fn fail(&mut self, key: K, now: Instant) {
        if self.windows.len() >= MAX_TRACKED && !self.windows.contains_key(&key) {
            self.windows.retain(|_, w| now < w.started + WINDOW);
            if self.windows.len() >= MAX_TRACKED {
                return;
            }
        }
        let window = self.windows.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= window.started + WINDOW {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt<'a>(account: &'a str, address: &str) -> Attempt<'a> {
        Attempt {
            scope: "app",
            account,
            address: Some(address.parse().unwrap()),
        }
    }

    #[test]
    fn the_sixth_failure_of_an_account_is_locked_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        let zoe = attempt("zoe", "10.0.0.1");
        for _ in 0..ACCOUNT_FAILURES {
            assert_eq!(throttle.locked_for(&zoe, start), None);
            throttle.failed(&zoe, start);
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(throttle.locked_for(&zoe, later), Some(Duration::from_secs(40)));
        let elsewhere = attempt("zoe", "10.0.0.2");
        assert!(
            throttle.locked_for(&elsewhere, later).is_some(),
            "the account is locked from any address"
        );
        assert_eq!(throttle.locked_for(&attempt("yan", "10.0.0.1"), later), None);
        assert_eq!(throttle.locked_for(&zoe, start + WINDOW), None, "the window passed");
        throttle.failed(&zoe, start + WINDOW);
        assert_eq!(
            throttle.locked_for(&zoe, start + WINDOW),
            None,
            "a new window counts from one"
        );
    }

    #[test]
    fn an_address_is_locked_across_accounts() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for n in 0..ADDRESS_FAILURES {
            let name = format!("user{}", n / ACCOUNT_FAILURES.saturating_sub(1));
            let guess = attempt(&name, "10.0.0.9");
            assert_eq!(throttle.locked_for(&guess, now), None, "failure {n}");
            throttle.failed(&guess, now);
        }
        assert!(throttle.locked_for(&attempt("fresh", "10.0.0.9"), now).is_some());
        assert_eq!(throttle.locked_for(&attempt("fresh", "10.0.0.8"), now), None);
    }

    #[test]
    fn a_success_clears_the_account_but_not_the_address() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        let zoe = attempt("zoe", "10.0.0.1");
        for _ in 0..ACCOUNT_FAILURES - 1 {
            throttle.failed(&zoe, now);
        }
        throttle.succeeded(&zoe);
        throttle.failed(&zoe, now);
        assert_eq!(throttle.locked_for(&zoe, now), None);
        assert_eq!(
            lock(&throttle.addresses).windows.values().next().unwrap().failures,
            ACCOUNT_FAILURES
        );
    }

    #[test]
    fn the_tables_stay_bounded() {
        let mut windows = Windows::default();
        let now = Instant::now();
        for key in 0..MAX_TRACKED + 10 {
            windows.fail(key, now);
        }
        assert_eq!(windows.windows.len(), MAX_TRACKED);
        windows.fail(usize::MAX, now + WINDOW);
        assert_eq!(windows.windows.len(), 1, "expired windows make room");
    }
}
