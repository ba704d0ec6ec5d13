//! The scenarios: each prepares sessions, conversations and connections, then hands them to
//! `load::measure`.

pub mod baseline;
pub mod chat;
pub mod group;
pub mod history;
pub mod idle;
mod pairs;

use crate::api::Api;
use crate::progress;

/// Tokens for `sessions`, with a bar.
pub(crate) async fn tokens(api: &Api, sessions: &[String], quiet: bool) -> anyhow::Result<Vec<String>> {
    let bar = progress::steps("tokens", sessions.len() as u64, quiet);
    let tokens = api.tokens(sessions, &bar).await;
    bar.finish_and_clear();
    tokens
}

/// A conversation id as a JSON string, ready to paste into frames.
pub(crate) fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}
