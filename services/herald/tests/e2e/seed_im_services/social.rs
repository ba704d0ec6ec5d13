//! Friends, presence and call requests on `/im/connect`: friend pushes 1000/1001/1002 and
//! presence 2000/2001 in seed 002's shapes, the 2002 online query, the 600 relay.

use super::{relax_limits, single, stored};
use crate::support::{Api, BusKind, Herald, ImClient};
use serde_json::{Value, json};

/// Checks a friend push `{msg_code, id, form_id, to_id, status, created_at, information,
/// users:{name, id, avatar}}`: `users` is `user` (the requester for 1000, the responder after).
/// `information` is the request's text, checked where the contract gives it (1000).
fn assert_friend_frame(frame: &Value, code: u64, from: &str, to: &str, user: &str, information: Option<&str>) {
    let fields: Vec<&str> = frame
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = fields.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "created_at",
            "form_id",
            "id",
            "information",
            "msg_code",
            "status",
            "to_id",
            "users"
        ],
        "{frame}"
    );
    assert_eq!(frame["msg_code"], code, "{frame}");
    assert!(!frame["id"].is_null(), "a record id: {frame}");
    assert_eq!(
        (&frame["form_id"], &frame["to_id"]),
        (&json!(from), &json!(to)),
        "{frame}"
    );
    assert!(frame["status"].is_number(), "{frame}");
    assert!(frame["created_at"].is_string(), "{frame}");
    match information {
        Some(text) => assert_eq!(frame["information"], text, "{frame}"),
        None => assert!(!frame["information"].is_null(), "{frame}"),
    }
    let users = &frame["users"];
    assert_eq!(users["id"], user, "{frame}");
    assert!(users["name"].is_string() && users["avatar"].is_string(), "{frame}");
}

async fn request(api: &Api, from: &str, to: &str, information: &str) -> crate::support::WsClient {
    let mut client = api.ws(&api.token(from, 1).await).await;
    let reply = client
        .request("friend-request", json!({"linkKey": to, "information": information}))
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    client
}

/// Friend requests and answers reach the 002 connection as 1000 / 1001 / 1002 frames, and a
/// friend's presence as `{msg_code: 2001|2000, id}`.
async fn friend_and_presence_pushes(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut ann = ImClient::connect(&api, &api.token("ann", 3).await).await;

    let _ben = request(&api, "ben", "ann", "hi, it's ben").await;
    let pushed = ann.next_code(1000).await;
    assert_friend_frame(&pushed, 1000, "ben", "ann", "ben", Some("hi, it's ben"));

    // cal and dan are online when asked: a friend request is pushed live only
    let mut cal = api.ws(&api.token("cal", 1).await).await;
    let mut dan = api.ws(&api.token("dan", 1).await).await;
    let mut ann_native = request(&api, "ann", "cal", "ann here").await;
    cal.next_push("friend-request").await;
    let reply = cal
        .request("friend-respond", json!({"linkKey": "ann", "accept": true}))
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let accepted = ann.next_code(1001).await;
    assert_friend_frame(&accepted, 1001, "cal", "ann", "cal", None);

    let reply = ann_native
        .request("friend-request", json!({"linkKey": "dan", "information": "and dan?"}))
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    dan.next_push("friend-request").await;
    let reply = dan
        .request("friend-respond", json!({"linkKey": "ann", "accept": false}))
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let rejected = ann.next_code(1002).await;
    assert_friend_frame(&rejected, 1002, "dan", "ann", "dan", None);

    // presence of the friend cal: his arrival may or may not have been announced (it raced the
    // friendship), his departure is, since the friendship exists by then
    let cal_presence = |frame: &Value| frame["id"] == "cal" && (frame["msg_code"] == 2000 || frame["msg_code"] == 2001);
    drop(cal);
    let offline = ann
        .next_matching(|frame| cal_presence(frame) && frame["msg_code"] == 2000)
        .await;
    assert_eq!(offline, json!({"msg_code": 2000, "id": "cal"}));
    let cal = api.ws(&api.token("cal", 2).await).await;
    assert_eq!(
        ann.next_matching(cal_presence).await,
        json!({"msg_code": 2001, "id": "cal"})
    );
    drop(cal);
    assert_eq!(
        ann.next_matching(cal_presence).await,
        json!({"msg_code": 2000, "id": "cal"})
    );
    herald.stop().await;
}

on_both_buses!(friend_and_presence_pushes);

/// `{"msg_code":2002,"to_id":X}` answers whether X is online, `to_id` in the type it came in.
async fn online_query(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut ann = ImClient::connect(&api, &api.token("ann", 3).await).await;
    let _ben = ImClient::connect(&api, &api.token("ben", 1).await).await;
    let _u42 = api.ws(&api.token("42", 1).await).await;
    for (to_id, online) in [
        (json!("ben"), true),
        (json!("nobody"), false),
        (json!(42), true),
        (json!(43), false),
    ] {
        ann.send(json!({"msg_code": 2002, "to_id": to_id})).await;
        assert_eq!(
            ann.next_code(2002).await,
            json!({"msg_code": 2002, "to_id": to_id, "online": online})
        );
    }
    herald.stop().await;
}

on_both_buses!(online_query);

/// A call request (600) reaches `to_id`'s 002 connections live, on every gateway, and is not
/// stored.
async fn call_request_relayed_live(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let second = match kind {
        BusKind::Nats => Some(herald.second_gateway().await),
        BusKind::Embedded => None,
    };
    let ann_token = api.token("ann", 3).await;
    let conv = single(&api, &ann_token, "ben").await;
    let mut ann = ImClient::connect(&api, &ann_token).await;
    ann.send(super::chat(json!(1), json!("ben"), 1, "before the call"))
        .await;
    ann.next_code(1005).await;
    let mut callees = vec![ImClient::connect(&api, &api.token("ben", 1).await).await];
    if let Some(second) = &second {
        let api_b = Api::new(second.addr);
        callees.push(ImClient::connect(&api_b, &api_b.token("ben", 2).await).await);
    }

    if let Some(second) = &second {
        // the caller's gateway relays by its replica of the routing table, which follows the
        // table's change feed: once it sees a session that connected to the second gateway after
        // ben, it has seen ben's route there too
        let api_b = Api::new(second.addr);
        let _probe = ImClient::connect(&api_b, &api_b.token("probe", 1).await).await;
        let deadline = tokio::time::Instant::now() + crate::support::WAIT;
        loop {
            ann.send(json!({"msg_code": 2002, "to_id": "probe"})).await;
            if ann.next_code(2002).await["online"] == true {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the second gateway's routes never reached the first"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let offer = json!({"sdp": "v=0", "call_id": "c-1"});
    ann.send(json!({"msg_code": 600, "to_id": "ben", "data": offer})).await;
    for callee in callees.iter_mut() {
        let call = callee.next_code(600).await;
        assert_eq!(call["data"], offer, "{call}");
        assert_eq!(call["form_id"], "ann", "the caller is the token's session: {call}");
    }
    assert_eq!(stored(&herald, &conv).await, 1, "a call request is not stored");
    let (status, body) = api
        .post("/get_joined_conversation", &api.token("ben", 1).await, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["Conversations"].as_array().map(Vec::len),
        Some(1),
        "no conversation made for it: {body}"
    );
    if let Some(second) = second {
        second.stop().await;
    }
    herald.stop().await;
}

on_both_buses!(call_request_relayed_live);
