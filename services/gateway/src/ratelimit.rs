//! Per-session rate limits, a token bucket per (what, app, session) on each gateway: sends at the
//! app's rate and burst, typing and friend requests at fixed rates. Bounded: idle buckets are
//! forgotten.

use herald_protocol::{AppId, SessionId};
use herald_store::AppSettings;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 100_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// What a bucket limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Throttled {
    Sends,
    Typing,
    FriendRequests,
    Signals,
}

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: u32,
}

/// `typing` pushes per session: more are answered but not pushed (the members already see the
/// session typing).
pub const TYPING_RATE: Rate = Rate { per_sec: 1.0, burst: 3 };
/// Call signals per session (ICE candidates come in bursts): 20 a second, 50 at once.
pub const SIGNAL_RATE: Rate = Rate {
    per_sec: 20.0,
    burst: 50,
};
/// `friend-request`s per session: 10 at once, then one every 6 seconds (429 / 10008 past it).
pub const FRIEND_REQUEST_RATE: Rate = Rate {
    per_sec: 1.0 / 6.0,
    burst: 10,
};

#[derive(Default)]
pub struct SendLimiter {
    buckets: Mutex<HashMap<(Throttled, AppId, SessionId), Bucket>>,
}

impl SendLimiter {
    /// Takes one send token, or says how many seconds until one is there.
    pub fn take(&self, app: &AppId, session: &SessionId, settings: &AppSettings) -> Result<(), u64> {
        self.take_at(app, session, settings, Instant::now())
    }

    /// Takes one token of a fixed-rate limit, or says how many seconds until one is there.
    pub fn take_rate(&self, what: Throttled, app: &AppId, session: &SessionId, rate: Rate) -> Result<(), u64> {
        self.take_bucket((what, app.clone(), session.clone()), rate, Instant::now())
    }

    fn take_at(&self, app: &AppId, session: &SessionId, settings: &AppSettings, now: Instant) -> Result<(), u64> {
        let rate = Rate {
            per_sec: settings.send_rate_per_sec,
            burst: settings.send_burst,
        };
        self.take_bucket((Throttled::Sends, app.clone(), session.clone()), rate, now)
    }

    fn take_bucket(&self, key: (Throttled, AppId, SessionId), rate: Rate, now: Instant) -> Result<(), u64> {
        let Rate { per_sec: rate, burst } = rate;
        if rate <= 0.0 {
            return Ok(()); // 0 = unlimited
        }
        let burst = f64::from(burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / rate).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = SendLimiter::default();
        let settings = AppSettings {
            send_rate_per_sec: 2.0,
            send_burst: 3,
            ..AppSettings::default()
        };
        let (app, s) = (AppId::parse("a").unwrap(), SessionId::parse("s").unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take_at(&app, &s, &settings, t0).is_ok());
        }
        assert_eq!(limiter.take_at(&app, &s, &settings, t0), Err(1));
        assert!(
            limiter
                .take_at(&app, &s, &settings, t0 + Duration::from_millis(500))
                .is_ok(),
            "refilled at 2/s"
        );
        assert!(
            limiter
                .take_at(&app, &s, &settings, t0 + Duration::from_millis(500))
                .is_err()
        );
        let other = SessionId::parse("other").unwrap();
        assert!(limiter.take_at(&app, &other, &settings, t0).is_ok(), "per session");
        let unlimited = AppSettings {
            send_rate_per_sec: 0.0,
            ..settings
        };
        assert!((0..100).all(|_| limiter.take_at(&app, &s, &unlimited, t0).is_ok()));
    }

    #[test]
    fn fixed_rates_are_kept_apart_from_sends_and_from_each_other() {
        let limiter = SendLimiter::default();
        let (app, s) = (AppId::parse("a").unwrap(), SessionId::parse("s").unwrap());
        let t0 = Instant::now();
        let friend = |at| {
            limiter.take_bucket(
                (Throttled::FriendRequests, app.clone(), s.clone()),
                FRIEND_REQUEST_RATE,
                at,
            )
        };
        for _ in 0..FRIEND_REQUEST_RATE.burst {
            assert!(friend(t0).is_ok());
        }
        assert_eq!(friend(t0), Err(6), "one every 6 seconds after the burst");
        assert!(friend(t0 + Duration::from_secs(6)).is_ok());
        let typing = limiter.take_bucket((Throttled::Typing, app.clone(), s.clone()), TYPING_RATE, t0);
        assert!(typing.is_ok(), "typing has a bucket of its own");
        let settings = AppSettings {
            send_rate_per_sec: 1.0,
            send_burst: 1,
            ..AppSettings::default()
        };
        assert!(limiter.take_at(&app, &s, &settings, t0).is_ok(), "and so do sends");
    }
}
