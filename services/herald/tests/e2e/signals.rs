//! Call signalling (protocol §10 `signal`): relayed live to the addressed sessions' connections,
//! on another gateway too, and never stored.

use crate::support::{Api, BusKind, Herald, WAIT};
use serde_json::{Value, json};

fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["status"], "ok", "{reply}");
    &reply["data"]
}

async fn a_signal_reaches_the_callee_live_and_is_not_stored(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let second = match kind {
        BusKind::Nats => Some(herald.second_gateway().await),
        BusKind::Embedded => None,
    };
    let api = herald.api();
    let callee_api = second.as_ref().map_or_else(|| api.clone(), |s| Api::new(s.addr));
    let mut caller = api.ws(&api.token("caller", 3).await).await;
    let mut callee = callee_api.ws(&callee_api.token("callee", 1).await).await;
    let mut callee_desktop = callee_api.ws(&callee_api.token("callee", 4).await).await;
    // the callee's routes reach the caller's gateway asynchronously
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = caller.request("presence-query", json!({"linkKeys": ["callee"]})).await;
        if ok(&reply)["presence"]["callee"] == true {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the callee never showed online");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let sdp = json!({"sdp": "v=0 o=- 1 2 IN IP4 127.0.0.1", "video": true});
    let reply = caller
        .request(
            "signal",
            json!({"to": ["callee"], "kind": "invite", "callId": "call-1", "data": sdp}),
        )
        .await;
    assert_eq!(ok(&reply), &json!({"callId": "call-1", "to": ["callee"]}));
    for device in [&mut callee, &mut callee_desktop] {
        let push = device.next_push("signal").await;
        assert_eq!(push["code"], 600, "{push}");
        assert_eq!(
            push["data"],
            json!({"from": "caller", "kind": "invite", "callId": "call-1", "data": sdp})
        );
    }
    let answer = callee
        .request(
            "signal",
            json!({"to": ["caller"], "kind": "accept", "callId": "call-1"}),
        )
        .await;
    ok(&answer);
    let push = caller.next_push("signal").await;
    assert_eq!(push["data"]["kind"], "accept");
    assert_eq!(push["data"]["from"], "callee");

    // nothing stored: no conversation came of it for either side
    for client in [&mut caller, &mut callee] {
        let list = client.request("conv-list", json!({})).await;
        assert_eq!(ok(&list), &json!([]), "a signal creates no conversation");
    }
    drop(second);
    herald.stop().await;
}
on_both_buses!(a_signal_reaches_the_callee_live_and_is_not_stored);

async fn a_bad_signal_is_refused_and_relays_nothing(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut caller = api.ws(&api.token("caller", 3).await).await;
    let mut callee = api.ws(&api.token("callee", 1).await).await;
    let too_many: Vec<String> = (0..101).map(|i| format!("s{i}")).collect();
    for (param, expected) in [
        (json!({"to": ["callee"], "kind": "dance", "callId": "c"}), 10001),
        (json!({"to": ["callee"], "kind": "invite", "callId": ""}), 10001),
        (
            json!({"to": ["callee"], "kind": "invite", "callId": "x".repeat(129)}),
            10001,
        ),
        (json!({"to": "callee", "kind": "invite", "callId": "c"}), 10001),
        (json!({"to": too_many, "kind": "invite", "callId": "c"}), 10007),
    ] {
        let reply = caller.request("signal", param.clone()).await;
        assert_eq!(reply["status"], "error", "{param}: {reply}");
        assert_eq!(reply["code"], expected, "{param}: {reply}");
    }
    // a barrier on the same path: the next push the callee gets is this one, not a refused one
    ok(&caller
        .request("signal", json!({"to": ["callee"], "kind": "hangup", "callId": "after"}))
        .await);
    let push = callee.next_push("signal").await;
    assert_eq!(
        push["data"]["callId"], "after",
        "a refused signal reached the callee: {push}"
    );
    herald.stop().await;
}
on_both_buses!(a_bad_signal_is_refused_and_relays_nothing);
