//! The webhook queue is in the store: what was queued survives `kill -9` of the server and is
//! delivered after the restart, each event once.

use super::{accepted, register};
use crate::support::{Api, Process, Receiver, free_addr, wait_healthy};
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_webhooks_survive_kill9_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let env = vec![
        ("HERALD_DATA_DIR", dir.path().join("data").display().to_string()),
        ("HERALD_HTTP_ADDR", addr.to_string()),
        ("HERALD_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("HERALD_WEBHOOK_RETRY_BASE_MS", "100".to_owned()),
    ];
    let mut herald = Process::spawn("up-1", "up", &env, dir.path());
    wait_healthy(addr).await;
    let api = Api::new(addr);
    api.unlimited_sends().await;
    let receiver = Receiver::start().await;
    receiver.answer_with(|_| (503, "down".into(), Duration::ZERO));
    register(&api, &receiver, &["message.created"]).await;
    let alice = api.token("alice", 1).await;
    // ten conversations, ten lanes: each one's event is tried at once, so the receiver's
    // refusals show every event is queued
    let mut sent = HashSet::new();
    for i in 0..10 {
        let conv = api.create_group(&alice, &[&format!("peer{i}")]).await;
        let (msg_id, _) = api.send_until_acked(&alice, &conv, "k", &format!("m{i}")).await;
        sent.insert(msg_id);
    }
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    loop {
        let tried: HashSet<String> = receiver.received().into_iter().map(|r| r.event_id).collect();
        if tried.len() >= 10 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 10 events tried",
            tried.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    herald.kill9();
    receiver.answer_with(|_| (200, String::new(), Duration::ZERO));
    let _restarted = Process::spawn("up-2", "up", &env, dir.path());
    wait_healthy(addr).await;
    let got = accepted(&receiver, 10, |_| true).await;
    let delivered: HashSet<String> = got
        .iter()
        .map(|r| r.body["data"]["MsgId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered, sent, "every queued event, after the restart");
    let ids: Vec<&String> = got.iter().map(|r| &r.event_id).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "each accepted once"
    );
}

/// An acknowledged message's webhook events survive a `kill -9` right after the last
/// acknowledgement: every message's `message.created` arrives after the restart. Embedded, the
/// in-process events log is gone, and the jobs were written in the messages' own append; on
/// NATS the webhooks consumer resumes the durable events log from its checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_keep_their_events_across_kill9_embedded() {
    acknowledged_messages_keep_their_events_across_kill9(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_keep_their_events_across_kill9_nats() {
    let nats = herald_testkit::NatsServer::start();
    acknowledged_messages_keep_their_events_across_kill9(Some(&nats.url)).await;
}

async fn acknowledged_messages_keep_their_events_across_kill9(nats_url: Option<&str>) {
    const CONVERSATIONS: usize = 16;
    const MESSAGES: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut env = vec![
        ("HERALD_DATA_DIR", dir.path().join("data").display().to_string()),
        ("HERALD_HTTP_ADDR", addr.to_string()),
        ("HERALD_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("HERALD_WEBHOOK_RETRY_BASE_MS", "100".to_owned()),
    ];
    if let Some(url) = nats_url {
        // the dead process's leases lapse soon, so the restarted one takes its partitions
        env.push(("HERALD_NATS_URL", url.to_owned()));
        env.push(("HERALD_LEASE_TTL_MS", "2000".to_owned()));
    }
    let mut herald = Process::spawn("up-1", "up", &env, dir.path());
    wait_healthy(addr).await;
    let api = Api::new(addr);
    api.unlimited_sends().await;
    let receiver = Receiver::start().await;
    register(&api, &receiver, &["message.created"]).await;
    let alice = api.token("alice", 1).await;
    let mut convs = Vec::new();
    for i in 0..CONVERSATIONS {
        convs.push(api.create_group(&alice, &[&format!("peer{i}")]).await);
    }
    // pipelined (a window under the 64 requests a connection may have in flight), so the last
    // acknowledgements come while the events of the ones before are still being handled
    let mut ws = api.ws(&alice).await;
    let send = |i: usize| {
        let conv = &convs[i % CONVERSATIONS];
        serde_json::json!({"convId": conv, "msgContent": format!("m{i}")})
    };
    let mut next = 0;
    while next < 48 {
        ws.send_request("msg-im", send(next)).await;
        next += 1;
    }
    let mut acked = HashSet::new();
    while acked.len() < MESSAGES {
        let reply = ws.next_reply().await;
        assert_eq!(reply["status"], "ok", "{reply}");
        acked.insert(reply["data"]["MsgId"].as_str().expect("a MsgId").to_owned());
        if next < MESSAGES {
            ws.send_request("msg-im", send(next)).await;
            next += 1;
        }
    }
    herald.kill9();
    let _restarted = Process::spawn("up-2", "up", &env, dir.path());
    wait_healthy(addr).await;
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    loop {
        let delivered: HashSet<String> = receiver
            .accepted()
            .iter()
            .filter_map(|r| r.body["data"]["MsgId"].as_str().map(str::to_owned))
            .collect();
        let missing = acked.difference(&delivered).count();
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} of {MESSAGES} acknowledged messages never reached the endpoint"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
