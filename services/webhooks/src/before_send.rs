//! The before-send hook (protocol §10): an app's synchronous say over a message before it is
//! sequenced. Herald posts `{"type": "message.before_send", "app", "data": {ConversationID,
//! FromSession, Type, Content, ClientMsgId}}`, signed like every webhook request, and obeys
//! `{"action": "allow"}`, `{"action": "reject", "reason"}` or `{"action": "replace", "content"}`.
//! No valid answer within the app's timeout is the app's `fail_open` choice.

use crate::sign::{SIGNATURE_HEADER, signature};
use herald_protocol::AppId;
use herald_store::BeforeSend;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The event type of the hook's request.
pub const BEFORE_SEND: &str = "message.before_send";
/// Longest reason or replacement kept from an answer, in bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The message the hook is asked about.
pub struct Asked<'a> {
    pub app: &'a AppId,
    pub conversation: &'a str,
    pub from: &'a str,
    pub msg_type: i32,
    pub content: &'a str,
    pub client_msg_id: Option<&'a str>,
}

/// What the app decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Reject(String),
    Replace(String),
    /// No valid answer in time: the app's `fail_open` says what follows; the text says why.
    NoAnswer(String),
}

/// Asks the hook; `secret` signs the request when the app has one to sign with.
pub async fn ask(client: &reqwest::Client, hook: &BeforeSend, secret: Option<&str>, asked: &Asked<'_>) -> Verdict {
    let started = Instant::now();
    let body = json!({
        "type": BEFORE_SEND,
        "app": asked.app,
        "data": {
            "ConversationID": asked.conversation,
            "FromSession": asked.from,
            "Type": asked.msg_type,
            "Content": asked.content,
            "ClientMsgId": asked.client_msg_id,
        },
    })
    .to_string();
    let mut request = client
        .post(&hook.url)
        .timeout(Duration::from_millis(u64::from(hook.timeout_ms.max(1))))
        .header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header(
            SIGNATURE_HEADER,
            signature(secret, crate::events::now_ms() / 1000, &body),
        );
    }
    let verdict = match request.body(body).send().await {
        Ok(response) if response.status().is_success() => match response.bytes().await {
            Ok(bytes) if bytes.len() <= MAX_ANSWER_BYTES * 2 => read_answer(&bytes),
            Ok(_) => Verdict::NoAnswer("the answer is too large".to_owned()),
            Err(_) => Verdict::NoAnswer("the answer was cut off".to_owned()),
        },
        Ok(response) => Verdict::NoAnswer(format!("the hook answered {}", response.status().as_u16())),
        Err(err) if err.is_timeout() => Verdict::NoAnswer("the hook did not answer in time".to_owned()),
        Err(_) => Verdict::NoAnswer("the hook could not be reached".to_owned()),
    };
    let outcome = match &verdict {
        Verdict::Allow => "allow",
        Verdict::Reject(_) => "reject",
        Verdict::Replace(_) => "replace",
        Verdict::NoAnswer(_) => "no_answer",
    };
    metrics::counter!("herald_before_send_total", "outcome" => outcome).increment(1);
    metrics::histogram!("herald_before_send_seconds").record(started.elapsed().as_secs_f64());
    verdict
}

/// An answer's body as a verdict.
pub fn read_answer(bytes: &[u8]) -> Verdict {
    let Ok(answer) = serde_json::from_slice::<Value>(bytes) else {
        return Verdict::NoAnswer("the answer is not JSON".to_owned());
    };
    let text = |field: &str| {
        answer
            .get(field)
            .and_then(Value::as_str)
            .filter(|t| t.len() <= MAX_ANSWER_BYTES)
            .map(str::to_owned)
    };
    match answer.get("action").and_then(Value::as_str) {
        Some("allow") => Verdict::Allow,
        Some("reject") => Verdict::Reject(text("reason").unwrap_or_default()),
        Some("replace") => match text("content") {
            Some(content) => Verdict::Replace(content),
            None => Verdict::NoAnswer("a replace answer without a content string".to_owned()),
        },
        _ => Verdict::NoAnswer("the answer's action is not allow, reject or replace".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(read_answer(br#"{"action":"allow"}"#), Verdict::Allow);
        assert_eq!(
            read_answer(br#"{"action":"reject","reason":"spam"}"#),
            Verdict::Reject("spam".into())
        );
        assert_eq!(
            read_answer(br#"{"action":"replace","content":"***"}"#),
            Verdict::Replace("***".into())
        );
        for bad in [
            &b"nope"[..],
            br#"{"action":"maybe"}"#,
            br#"{"action":"replace"}"#,
            b"[]",
        ] {
            assert!(
                matches!(read_answer(bad), Verdict::NoAnswer(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
