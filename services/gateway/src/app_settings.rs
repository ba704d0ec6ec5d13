//! App settings as the console and the app's backend read and write them (protocol §6).

use crate::error::ApiError;
use herald_store::{AppSettings, BeforeSend, DEFAULT_BEFORE_SEND_TIMEOUT_MS, LoginPolicy};
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
    /// The moderation hook called before each message is sequenced (protocol §10), or null to
    /// turn it off.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BeforeSendUpdate>)]
    before_send: Option<Option<BeforeSendUpdate>>,
}

/// `before_send`: where and how the hook is called.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeforeSendUpdate {
    /// http or https; loopback and private addresses only where the server allows them.
    url: String,
    /// How long to wait for the answer, 50-10000 ms (default 2000).
    timeout_ms: Option<u32>,
    /// Without a valid answer in time: allow the message (true) or refuse it with 503 / 10010 (false, the default).
    fail_open: Option<bool>,
}

/// A field that may be absent (no change), null (`Some(None)`: off) or set.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Applies an update; `allow_private` says whether a hook may point at a private address.
pub fn apply(settings: &mut AppSettings, update: SettingsUpdate, allow_private: bool) -> Result<(), ApiError> {
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
    if let Some(hook) = update.before_send {
        settings.before_send = match hook {
            None => None,
            Some(hook) => Some(before_send(hook, allow_private)?),
        };
    }
    Ok(())
}

fn before_send(hook: BeforeSendUpdate, allow_private: bool) -> Result<BeforeSend, ApiError> {
    let url = herald_webhooks::guard::check_url(&hook.url, allow_private)
        .map_err(|e| ApiError::bad_input(format!("before_send.{e}")))?;
    let timeout_ms = hook.timeout_ms.unwrap_or(DEFAULT_BEFORE_SEND_TIMEOUT_MS);
    if !(50..=10_000).contains(&timeout_ms) {
        return Err(ApiError::bad_input("before_send.timeout_ms must be 50 to 10000"));
    }
    Ok(BeforeSend {
        url: url.to_string(),
        timeout_ms,
        fail_open: hook.fail_open.unwrap_or(false),
    })
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
        "before_send": settings.before_send.as_ref().map(|hook| json!({
            "url": hook.url,
            "timeout_ms": hook.timeout_ms,
            "fail_open": hook.fail_open,
        })),
    })
}
