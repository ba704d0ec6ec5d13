//! The chat load: senders over HTTP through both gateways, each sending one message at a time
//! and retrying it with the same client key until acknowledged; every acknowledgement is
//! recorded (key, `MsgID`, `Seq`, when) for the checks.

use crate::support::Api;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Pause between one sender's acknowledged send and its next: a steady load the 2-core CI
/// machine carries beside three NATS servers and six Herald processes.
const PACE: Duration = Duration::from_millis(100);
/// One attempt's bound: longer than the gateway's ack timeout (2.5 s), short enough that a
/// paused gateway costs a sender little before it turns to the other one.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// A send not acknowledged within this, through either gateway, fails the run.
const GIVE_UP: Duration = Duration::from_secs(90);

#[derive(Debug, Clone)]
pub struct Ack {
    pub sender: usize,
    pub key: String,
    pub msg_id: String,
    pub seq: u64,
    /// When the first attempt was made and when the acknowledgement came.
    pub started: Instant,
    pub at: Instant,
}

/// Every acknowledgement so far, per conversation in the order they came; and what failed.
#[derive(Default)]
pub struct Ledger {
    pub acks: HashMap<String, Vec<Ack>>,
    pub failures: Vec<String>,
    pub attempts: u64,
    /// When the latest acknowledgement came.
    pub last_ack: Option<Instant>,
}

impl Ledger {
    pub fn total(&self) -> usize {
        self.acks.values().map(Vec::len).sum()
    }

    /// The highest acknowledged `Seq` of each conversation.
    pub fn highest(&self) -> HashMap<String, u64> {
        self.acks
            .iter()
            .map(|(conv, acks)| (conv.clone(), acks.iter().map(|a| a.seq).max().unwrap_or(0)))
            .collect()
    }
}

pub type SharedLedger = Arc<Mutex<Ledger>>;

/// One sender: a session sending into one conversation.
#[derive(Clone)]
pub struct Sender {
    pub id: usize,
    pub session: String,
    pub token: String,
    pub conv: String,
    /// The gateways, the one this sender prefers first.
    pub gateways: Vec<Api>,
}

/// Runs `sender` until `stop`; its current send is finished (acknowledged) before it returns.
pub fn spawn(sender: Sender, ledger: SharedLedger, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0u64;
        while !stop.is_cancelled() {
            i += 1;
            let key = format!("{}-{i}", sender.session);
            let started = Instant::now();
            match send_until_acked(&sender, &key, &ledger).await {
                Ok((msg_id, seq)) => {
                    let ack = Ack {
                        sender: sender.id,
                        key,
                        msg_id,
                        seq,
                        started,
                        at: Instant::now(),
                    };
                    let mut ledger = ledger.lock().unwrap();
                    ledger.last_ack = Some(ack.at);
                    ledger.acks.entry(sender.conv.clone()).or_default().push(ack);
                }
                Err(err) => {
                    ledger.lock().unwrap().failures.push(err);
                    return;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(PACE) => {}
            }
        }
    })
}

/// `/send_msg` with `key`, through the gateways in turn until one acknowledges it. Like
/// `support::send_until_acked_through`, but with a shorter attempt (a paused gateway answers
/// nothing) and an error instead of a panic, so the run can report what it saw.
async fn send_until_acked(sender: &Sender, key: &str, ledger: &SharedLedger) -> Result<(String, u64), String> {
    let deadline = Instant::now() + GIVE_UP;
    let body =
        json!({"conversation_id": sender.conv, "type": 1, "content": format!("chaos {key}"), "client_msg_id": key});
    for api in sender.gateways.iter().cycle() {
        ledger.lock().unwrap().attempts += 1;
        let sent = api
            .http
            .post(format!("{}/send_msg", api.base))
            .bearer_auth(&sender.token)
            .json(&body)
            .timeout(ATTEMPT_TIMEOUT)
            .send()
            .await;
        if let Ok(response) = sent
            && response.status().as_u16() == 200
            && let Ok(reply) = response.json::<Value>().await
        {
            let msg_id = reply["data"]["MsgID"].as_str().map(str::to_owned);
            let seq = reply["data"]["Seq"].as_u64();
            return match (msg_id, seq) {
                (Some(msg_id), Some(seq)) => Ok((msg_id, seq)),
                _ => Err(format!("{key}: acknowledgement without MsgID and Seq: {reply}")),
            };
        }
        if Instant::now() > deadline {
            return Err(format!("{key} ({}) not acknowledged within {GIVE_UP:?}", sender.conv));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!("at least one gateway")
}
