//! Friends and presence (protocol §6): requests and answers, online/offline across gateways,
//! and a gateway restarted under its name.

use crate::accounts::put;
use crate::support::{Api, BusKind, Herald, Process, SECRET, free_addr, wait_healthy};
use serde_json::json;
use std::time::{Duration, Instant};

async fn friends_and_presence(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut ann = api.ws(&api.token("ann", 1).await).await;
    let mut ben = api.ws(&api.token("ben", 1).await).await;
    let mut cal = api.ws(&api.token("cal", 1).await).await;

    assert_eq!(
        ann.request(
            "friend-request",
            json!({"linkKey": "ben", "information": "hi, it's ann"})
        )
        .await["status"],
        "ok"
    );
    let request = ben.next_push("friend-request").await;
    assert_eq!(
        (request["code"].as_u64(), request["data"]["linkKey"].as_str()),
        (Some(1000), Some("ann"))
    );
    assert_eq!(request["data"]["information"], "hi, it's ann");
    assert_eq!(
        ben.request("friend-respond", json!({"linkKey": "ann", "accept": true}))
            .await["status"],
        "ok"
    );
    let accepted = ann.next_push("friend-accepted").await;
    assert_eq!(
        (accepted["code"].as_u64(), accepted["data"]["linkKey"].as_str()),
        (Some(1001), Some("ben"))
    );
    assert_eq!(
        ben.request("friend-respond", json!({"linkKey": "ann", "accept": true}))
            .await["code"],
        10005,
        "answered once"
    );
    cal.request("friend-request", json!({"linkKey": "ann"})).await;
    ann.next_push("friend-request").await;
    ann.request("friend-respond", json!({"linkKey": "cal", "accept": false}))
        .await;
    let rejected = cal.next_push("friend-rejected").await;
    assert_eq!(rejected["code"], 1002);
    let list = ann.request("friend-list", json!({})).await;
    assert_eq!(list["data"]["friends"], json!(["ben"]));

    // presence: online when the first connection opens, offline when the last closes. The
    // tracker may still announce ben's arrival (it looks up friends when it handles the change,
    // which may be before or after the friendship): let it settle. A fixed window, because
    // whether that push comes at all depends on that race; nothing marks its end.
    while tokio::time::timeout(Duration::from_millis(1500), ann.next_push("presence"))
        .await
        .is_ok()
    {}
    let query = ann.request("presence-query", json!({"linkKeys": ["ben", "dan"]})).await;
    assert_eq!(query["data"]["presence"], json!({"ben": true, "dan": false}));
    let ben_token = api.token("ben", 2).await;
    let second = api.ws(&ben_token).await;
    drop(ben);
    // a fixed window: closing one of two connections changes no route, so no event exists
    // that could serve as a barrier; 1.5 s is many times the close's handling
    assert!(
        ann.is_quiet(Duration::from_millis(1500)).await,
        "ben still has a connection: no offline"
    );
    drop(second);
    let offline = ann.next_push("presence").await;
    assert_eq!(
        (offline["code"].as_u64(), offline["data"]["linkKey"].as_str()),
        (Some(2000), Some("ben"))
    );
    let ben_again = api.ws(&ben_token).await;
    let online = ann.next_push("presence").await;
    assert_eq!(
        (online["code"].as_u64(), online["data"]["online"].as_bool()),
        (Some(2001), Some(true))
    );
    // a fixed window: presence pushes and the pushes a barrier could use travel different
    // paths with no order between them, so "nothing arrives" can only be waited for
    assert!(
        cal.is_quiet(Duration::from_millis(300)).await,
        "only friends hear of it"
    );

    // presence is event-driven: a connection opened and closed at once is still announced,
    // online and then offline
    drop(ben_again);
    let offline = ann.next_push("presence").await;
    assert_eq!(offline["code"].as_u64(), Some(2000), "{offline}");
    drop(api.ws(&ben_token).await);
    let brief: Vec<(Option<u64>, Option<bool>)> = [ann.next_push("presence").await, ann.next_push("presence").await]
        .iter()
        .map(|p| (p["code"].as_u64(), p["data"]["online"].as_bool()))
        .collect();
    assert_eq!(brief, [(Some(2001), Some(true)), (Some(2000), Some(false))]);

    // require_friendship: 1:1 between non-friends is refused with 1003; groups are not affected
    let (status, _) = put(&api, "/inner/settings", SECRET, json!({"require_friendship": true})).await;
    assert_eq!(status, 200);
    let single = cal
        .request("conv-create", json!({"convType": "single", "linkKeys": ["ann"]}))
        .await;
    let single = single["data"]["convId"].as_str().unwrap().to_owned();
    let refused = cal
        .request("msg-im", json!({"convId": single, "msgContent": "hi"}))
        .await;
    assert_eq!(refused["code"], 1003);
    let friendly = ann
        .request("conv-create", json!({"convType": "single", "linkKeys": ["ben"]}))
        .await;
    let friendly = friendly["data"]["convId"].as_str().unwrap().to_owned();
    assert_eq!(
        ann.request("msg-im", json!({"convId": friendly, "msgContent": "hi ben"}))
            .await["status"],
        "ok"
    );
    assert_eq!(
        ann.request("friend-delete", json!({"linkKey": "ben"})).await["status"],
        "ok"
    );
    assert_eq!(
        ann.request("msg-im", json!({"convId": friendly, "msgContent": "still?"}))
            .await["code"],
        1003,
        "unfriended"
    );
    let group = cal
        .request("conv-create", json!({"convType": "multi", "linkKeys": ["ann"]}))
        .await;
    let group = group["data"]["convId"].as_str().unwrap().to_owned();
    assert_eq!(
        cal.request("msg-im", json!({"convId": group, "msgContent": "group ok"}))
            .await["status"],
        "ok"
    );
    herald.stop().await;
}

on_both_buses!(friends_and_presence);

/// One session on two gateways; the gateway process holding one connection is killed: the
/// session stays online while its other connection lives, and goes offline when that closes.
/// A session only on the killed gateway goes offline by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_survives_a_killed_gateway() {
    let herald = Herald::start(BusKind::Nats).await;
    let api = herald.api();
    let addr = free_addr();
    let env = herald.process_env(addr);
    let mut doomed = Process::spawn("gateway-doomed", "gateway", &env, herald.data_dir.path());
    wait_healthy(addr).await;
    let other = Api::new(addr);
    let mut watcher = api.ws(&api.token("watcher", 1).await).await;
    for friend in ["dual", "lonely"] {
        let mut f = api.ws(&api.token(friend, 1).await).await;
        befriend(&mut watcher, &mut f, friend).await;
    }
    let dual_here = api.ws(&api.token("dual", 3).await).await;
    let _dual_there = other.ws(&other.token("dual", 4).await).await;
    let _lonely_there = other.ws(&other.token("lonely", 4).await).await;
    herald_testkit::eventually(Duration::from_secs(10), "both online", || {
        let api = api.clone();
        async move {
            let mut ws = api.ws(&api.token("probe", 1).await).await;
            let reply = ws
                .request("presence-query", json!({"linkKeys": ["dual", "lonely"]}))
                .await;
            (reply["data"]["presence"] == json!({"dual": true, "lonely": true})).then_some(())
        }
    })
    .await;
    // let the tracker finish announcing the arrivals: whether one is announced depends on
    // whether the friendship was stored first, so no count of pushes can be waited for
    while tokio::time::timeout(Duration::from_millis(1500), watcher.next_push("presence"))
        .await
        .is_ok()
    {}

    doomed.kill9();
    let killed = Instant::now();
    let offline = watcher.next_push("presence").await;
    assert_eq!(
        (offline["code"].as_u64(), offline["data"]["linkKey"].as_str()),
        (Some(2000), Some("lonely")),
        "{offline}"
    );
    eprintln!(
        "a session of a killed gateway went offline after {:?}",
        killed.elapsed()
    );
    // a fixed window: dual keeps a route on the live gateway, so the withdrawal of the dead
    // gateway's routes is no change for it and no event follows that could be waited for
    assert!(
        watcher.is_quiet(Duration::from_secs(2)).await,
        "dual still has a connection on the live gateway"
    );
    drop(dual_here);
    let offline = watcher.next_push("presence").await;
    assert_eq!(
        (offline["code"].as_u64(), offline["data"]["linkKey"].as_str()),
        (Some(2000), Some("dual"))
    );
    herald.stop().await;
}

/// A gateway restarted under the same name (a pod keeps its name) is a new gateway: the
/// sessions its previous life held go offline, and a client that reconnects to it is online
/// and served again (issue 11 item 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_restarted_under_its_name_is_a_new_gateway() {
    let herald = Herald::start(BusKind::Nats).await;
    let api = herald.api();
    let addr = free_addr();
    let env = herald.process_env(addr);
    let mut pod = Process::spawn("pod-0", "gateway", &env, herald.data_dir.path());
    wait_healthy(addr).await;
    let restarting = Api::new(addr);
    let mut watcher = api.ws(&api.token("watcher", 1).await).await;
    let mut lonely = restarting.ws(&restarting.token("lonely", 1).await).await;
    // a push crosses gateways once the route of lonely's connection reached the other one
    lonely_routed(&api).await;
    befriend(&mut watcher, &mut lonely, "lonely").await;
    let conv = api.create_group(&api.token("watcher", 1).await, &["lonely"]).await;

    pod.kill9();
    drop(lonely);
    let _pod = Process::spawn("pod-0", "gateway", &env, herald.data_dir.path());
    wait_healthy(addr).await;
    let offline = watcher.next_push("presence").await;
    assert_eq!(
        (offline["code"].as_u64(), offline["data"]["linkKey"].as_str()),
        (Some(2000), Some("lonely")),
        "the previous life's session goes offline: {offline}"
    );
    let mut lonely = restarting.ws(&restarting.token("lonely", 1).await).await;
    lonely_routed(&api).await;
    let online = watcher.next_push("presence").await;
    assert_eq!(
        (online["code"].as_u64(), online["data"]["linkKey"].as_str()),
        (Some(2001), Some("lonely")),
        "{online}"
    );
    let (_, seq) = api
        .send_until_acked(&api.token("watcher", 1).await, &conv, "after-restart", "welcome back")
        .await;
    let pushed = lonely.next_message().await;
    assert_eq!(
        (pushed["Seq"].as_u64(), pushed["Content"].as_str()),
        (Some(seq), Some("welcome back"))
    );
    herald.stop().await;
}

/// `watcher` asks `friend` (whose session is `name`) for friendship, and `friend` accepts.
async fn befriend(watcher: &mut crate::support::WsClient, friend: &mut crate::support::WsClient, name: &str) {
    watcher.request("friend-request", json!({"linkKey": name})).await;
    friend.next_push("friend-request").await;
    friend
        .request("friend-respond", json!({"linkKey": "watcher", "accept": true}))
        .await;
    watcher.next_push("friend-accepted").await;
}

/// Waits until the gateway behind `api` routes to a connection of "lonely" (it answers
/// presence queries from its replica of the routing table).
async fn lonely_routed(api: &Api) {
    herald_testkit::eventually(
        Duration::from_secs(10),
        "lonely's route reaches the other gateway",
        || async {
            let mut probe = api.ws(&api.token("probe", 1).await).await;
            let reply = probe.request("presence-query", json!({"linkKeys": ["lonely"]})).await;
            (reply["data"]["presence"]["lonely"] == true).then_some(())
        },
    )
    .await;
}

/// `friend-pending`: a request made while its recipient was offline waits for the answer, in
/// sender order and paged; answering it removes it.
async fn requests_made_offline_wait_for_the_answer(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    for from in ["zed", "amy", "kim"] {
        let mut sender = api.ws(&api.token(from, 1).await).await;
        let sent = sender
            .request(
                "friend-request",
                json!({"linkKey": "dot", "information": format!("{from} here")}),
            )
            .await;
        assert_eq!(sent["status"], "ok", "{sent}");
    }
    let mut dot = api.ws(&api.token("dot", 1).await).await;
    let pending = dot.request("friend-pending", json!({})).await;
    let listed: Vec<(&str, &str)> = pending["data"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["linkKey"].as_str().unwrap(), r["information"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [("amy", "amy here"), ("kim", "kim here"), ("zed", "zed here")],
        "{pending}"
    );
    assert_eq!(pending["data"]["hasMore"], false);
    let created = pending["data"]["requests"][0]["createdAt"].as_i64().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now_ms - 60_000..=now_ms).contains(&created),
        "createdAt is unix milliseconds of the last minute: {created}"
    );
    let after = dot.request("friend-pending", json!({"after": "kim"})).await;
    assert_eq!(after["data"]["requests"].as_array().unwrap().len(), 1, "{after}");
    assert_eq!(after["data"]["requests"][0]["linkKey"], "zed");

    let accepted = dot
        .request("friend-respond", json!({"linkKey": "kim", "accept": true}))
        .await;
    assert_eq!(accepted["status"], "ok", "{accepted}");
    let rejected = dot
        .request("friend-respond", json!({"linkKey": "zed", "accept": false}))
        .await;
    assert_eq!(rejected["status"], "ok", "{rejected}");
    let left = dot.request("friend-pending", json!({})).await;
    let senders: Vec<&str> = left["data"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["linkKey"].as_str().unwrap())
        .collect();
    assert_eq!(senders, ["amy"], "answered requests are gone: {left}");
    let mine = api
        .ws(&api.token("amy", 1).await)
        .await
        .request("friend-pending", json!({}))
        .await;
    assert_eq!(mine["data"]["requests"], json!([]), "only requests sent to the caller");
    herald.stop().await;
}
on_both_buses!(requests_made_offline_wait_for_the_answer);
