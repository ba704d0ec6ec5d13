//! App settings as the console and the app's backend read and write them (protocol §6).

use crate::error::ApiError;
use herald_store::{AppSettings, LoginPolicy};
use serde::Deserialize;
use serde_json::{Value, json};

/// A partial update; unknown fields are refused rather than ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    /// `multi` or `kick`.
    login_policy: Option<String>,
    /// 1:1 messages between non-friends are refused with code 1003.
    require_friendship: Option<bool>,
    /// Messages to a 1:1 peer who never answered; 0 turns the rule off (0-10000).
    spam_unanswered_limit: Option<u32>,
    /// Sustained sends per second per session, per gateway; 0 = unlimited (0-10000, default 20).
    send_rate_per_sec: Option<f64>,
    /// Burst of the send rate limit (1-100000, default 50).
    send_burst: Option<u32>,
    /// Opens `/user/register` and `/user/login` (off by default, `default` included).
    end_user_accounts: Option<bool>,
    /// Most members of one conversation (2-1000000; default 10000).
    max_members: Option<u32>,
}

pub fn apply(settings: &mut AppSettings, update: SettingsUpdate) -> Result<(), ApiError> {
    if let Some(policy) = update.login_policy {
        settings.login_policy = LoginPolicy::parse(&policy)
            .ok_or_else(|| ApiError::bad_input("login_policy must be \"multi\" or \"kick\""))?;
    }
    if let Some(require) = update.require_friendship {
        settings.require_friendship = require;
    }
    if let Some(limit) = update.spam_unanswered_limit {
        if limit > 10_000 {
            return Err(ApiError::bad_input("spam_unanswered_limit must be 0 to 10000"));
        }
        settings.spam_unanswered_limit = limit;
    }
    if let Some(rate) = update.send_rate_per_sec {
        if !(0.0..=10_000.0).contains(&rate) {
            return Err(ApiError::bad_input("send_rate_per_sec must be 0 to 10000"));
        }
        settings.send_rate_per_sec = rate;
    }
    if let Some(burst) = update.send_burst {
        if !(1..=100_000).contains(&burst) {
            return Err(ApiError::bad_input("send_burst must be 1 to 100000"));
        }
        settings.send_burst = burst;
    }
    if let Some(open) = update.end_user_accounts {
        settings.end_user_accounts = open;
    }
    if let Some(max) = update.max_members {
        if !(2..=1_000_000).contains(&max) {
            return Err(ApiError::bad_input("max_members must be 2 to 1000000"));
        }
        settings.max_members = max;
    }
    Ok(())
}

pub fn to_json(settings: &AppSettings) -> Value {
    json!({
        "login_policy": settings.login_policy.as_str(),
        "require_friendship": settings.require_friendship,
        "spam_unanswered_limit": settings.spam_unanswered_limit,
        "send_rate_per_sec": settings.send_rate_per_sec,
        "send_burst": settings.send_burst,
        "end_user_accounts": settings.end_user_accounts,
        "max_members": settings.max_members,
    })
}
