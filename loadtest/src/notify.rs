//! Push-only clients of `/notify` over server-sent events and long polling. (Over WebSocket,
//! `/notify?protoc=ws` uses `connection`.)

use crate::api::Api;
use crate::connection::{Outcome, Role};
use crate::frames::Msg;
use crate::run::{Counters, Run};
use serde::Deserialize;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Opens `/notify?protoc=sse` and records every event until the run stops reading.
pub async fn spawn_sse(api: &Api, token: &str, role: Role, run: Arc<Run>) -> anyhow::Result<JoinHandle<Outcome>> {
    let response = api.get(&format!("/notify?protoc=sse&token={token}")).await?;
    anyhow::ensure!(response.status().is_success(), "sse: {}", response.status());
    Counters::add(&run.counters.connections, 1);
    Ok(tokio::spawn(async move {
        let mut response = response;
        let mut outcome = Outcome::for_role(&role);
        let mut local = run.recorder.local();
        let mut buffer = String::new();
        loop {
            let chunk = tokio::select! {
                chunk = response.chunk() => chunk,
                _ = run.stop_reading.cancelled() => break,
            };
            match chunk {
                Ok(Some(bytes)) => buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) => {
                    outcome.on_closed("sse stream ended".to_owned(), &run);
                    break;
                }
                Err(err) => {
                    outcome.on_closed(format!("sse error: {err}"), &run);
                    break;
                }
            }
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                if let Some(data) = line.trim_end().strip_prefix("data:") {
                    match serde_json::from_str::<Msg>(data.trim_start()) {
                        Ok(msg) => outcome.on_push(&msg, &role, &run, &mut local),
                        Err(err) => outcome.errors.push(format!("sse data: {err}")),
                    }
                }
            }
        }
        outcome
    }))
}

#[derive(Deserialize)]
struct PollAnswer<'a> {
    #[serde(borrow, default)]
    data: Vec<Msg<'a>>,
}

/// Long-polls `/notify?protoc=poll` (one second per poll) until the run stops reading.
pub async fn spawn_poll(api: &Api, token: &str, role: Role, run: Arc<Run>) -> anyhow::Result<JoinHandle<Outcome>> {
    let path = format!("/notify?protoc=poll&wait=1&max=1000&token={token}");
    // the first poll registers the mailbox before any message is sent
    let first = api.get(&path).await?;
    anyhow::ensure!(first.status().is_success(), "poll: {}", first.status());
    Counters::add(&run.counters.connections, 1);
    let api = api.clone();
    Ok(tokio::spawn(async move {
        let mut outcome = Outcome::for_role(&role);
        let mut local = run.recorder.local();
        let mut pending = Some(first);
        loop {
            let response = match pending.take() {
                Some(response) => Ok(response),
                None => tokio::select! {
                    response = api.get(&path) => response,
                    _ = run.stop_reading.cancelled() => break,
                },
            };
            let response = match response {
                Ok(response) => response,
                Err(err) => {
                    outcome.on_closed(format!("poll error: {err}"), &run);
                    break;
                }
            };
            if response.status().as_u16() == 204 {
                continue;
            }
            if !response.status().is_success() {
                outcome.on_closed(format!("poll answered {}", response.status()), &run);
                break;
            }
            let Ok(body) = response.bytes().await else { continue };
            match serde_json::from_slice::<PollAnswer>(&body) {
                Ok(answer) => {
                    for msg in &answer.data {
                        outcome.on_push(msg, &role, &run, &mut local);
                    }
                }
                Err(err) => outcome.errors.push(format!("poll body: {err}")),
            }
        }
        outcome
    }))
}
