//! The per-session send rate limit: a token bucket per (app, session) on each gateway, with the
//! app's rate and burst. Bounded: idle buckets are forgotten.

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

#[derive(Default)]
pub struct SendLimiter {
    buckets: Mutex<HashMap<(AppId, SessionId), Bucket>>,
}

impl SendLimiter {
    /// Takes one token, or says how many seconds until one is there.
    pub fn take(&self, app: &AppId, session: &SessionId, settings: &AppSettings) -> Result<(), u64> {
        self.take_at(app, session, settings, Instant::now())
    }

    fn take_at(&self, app: &AppId, session: &SessionId, settings: &AppSettings, now: Instant) -> Result<(), u64> {
        let rate = settings.send_rate_per_sec;
        if rate <= 0.0 {
            return Ok(()); // 0 = unlimited
        }
        let burst = f64::from(settings.send_burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry((app.clone(), session.clone())).or_insert(Bucket {
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
}
