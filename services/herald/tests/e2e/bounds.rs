//! Replies stay bounded (protocol §5, §7): `sync`, history routes and listings come in pages of
//! about 1 MiB at most, contiguous, over JSON and MessagePack; boundary numbers never panic; a
//! client-chosen conversation id is created once.

use crate::support::{Api, BusKind, Herald, WsClient};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio_tungstenite::tungstenite::Message;

/// The reply budget, and room for the envelope around the items (action, reqId, keys, `lastSeq`).
const BUDGET: usize = 1024 * 1024;
const ENVELOPE: usize = 16 * 1024;
/// About 30 KiB per message: 35 of them are more than one page.
const BIG: usize = 30 * 1024;

fn big_content(conv: &str, seq: u64) -> String {
    let head = format!("{conv}#{seq}:");
    format!("{head}{}", "x".repeat(BIG - head.len()))
}

/// Sends `count` big messages into `conv` from `senders` concurrent tasks; returns the ids by `Seq`.
async fn fill(api: &Api, token: &str, conv: &str, count: u64, senders: u64) -> BTreeMap<u64, String> {
    let tasks: Vec<_> = (0..senders)
        .map(|task| {
            let (api, token, conv) = (api.clone(), token.to_owned(), conv.to_owned());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for i in (task..count).step_by(senders as usize) {
                    // content names the key; the Seq it gets is checked against it below
                    let key = format!("k{i}");
                    let (id, seq) = api.send_until_acked(&token, &conv, &key, &big_content(&conv, i)).await;
                    sent.push((seq, id, i));
                }
                sent
            })
        })
        .collect();
    let mut ids = BTreeMap::new();
    for task in tasks {
        for (seq, id, _) in task.await.unwrap() {
            ids.insert(seq, id);
        }
    }
    assert_eq!(ids.keys().copied().collect::<Vec<_>>(), (1..=count).collect::<Vec<_>>());
    ids
}

/// One `sync` round trip, returning the reply and the size of its frame on the wire.
async fn sync_frame(ws: &mut WsClient, convs: &BTreeMap<String, u64>, msgpack: bool, req_id: u64) -> (Value, usize) {
    let request = json!({"action": "sync", "reqId": req_id, "param": {"convs": convs}});
    if msgpack {
        ws.send_message(Message::Binary(rmp_serde::to_vec_named(&request).unwrap().into()))
            .await;
    } else {
        ws.send_frame(request).await;
    }
    loop {
        let (frame, size): (Value, usize) = match ws.next_raw().await.expect("a reply") {
            Message::Binary(bytes) if msgpack => (rmp_serde::from_slice(&bytes).unwrap(), bytes.len()),
            Message::Text(text) if !msgpack => (serde_json::from_str(text.as_str()).unwrap(), text.len()),
            other => panic!("unexpected frame {other:?}"),
        };
        if frame["reqId"] == json!(req_id) {
            return (frame, size);
        }
    }
}

/// Syncs every conversation from 0 until nothing is left; checks each page and returns the
/// contents received per conversation, in order.
async fn sync_all(ws: &mut WsClient, convs: &[&str], msgpack: bool) -> BTreeMap<String, Vec<(u64, String)>> {
    let mut cursors: BTreeMap<String, u64> = convs.iter().map(|c| (c.to_string(), 0)).collect();
    let mut received: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for page in 0.. {
        assert!(page < 100, "sync never finished");
        let (reply, size) = sync_frame(ws, &cursors, msgpack, 1000 + page).await;
        assert_eq!(reply["status"], "ok", "{reply}");
        assert!(size <= BUDGET + ENVELOPE, "page {page} is {size} bytes");
        let mut more = false;
        let mut count = 0;
        for (conv, entry) in reply["data"]["convs"].as_object().unwrap() {
            let from = cursors[conv];
            let msgs = entry["msgs"].as_array().unwrap();
            for (i, msg) in msgs.iter().enumerate() {
                assert_eq!(
                    msg["Seq"].as_u64(),
                    Some(from + 1 + i as u64),
                    "contiguous from lastSeq"
                );
                received.entry(conv.clone()).or_default().push((
                    msg["Seq"].as_u64().unwrap(),
                    msg["Content"].as_str().unwrap().to_owned(),
                ));
            }
            count += msgs.len();
            let reached = msgs.last().map_or(from, |m| m["Seq"].as_u64().unwrap());
            let last = entry["lastSeq"].as_u64().unwrap();
            assert_eq!(entry["hasMore"].as_bool(), Some(reached < last), "{conv}: hasMore");
            more |= reached < last;
            cursors.insert(conv.clone(), reached);
        }
        assert!(count <= 1000, "at most 1000 messages per reply");
        if !more {
            break;
        }
        assert!(count > 0, "a page with more to come carries something");
    }
    received
}

async fn sync_pages_a_big_history_within_the_budget(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("reader", 1).await;
    let mut ws = api.ws(&token).await;
    // ids chosen so the big one comes first in the reply's order
    for key in ["a-big", "b-small"] {
        let created = ws
            .request("conv-create", json!({"convType": "multi", "convKey": key}))
            .await;
        assert_eq!(created["status"], "ok", "{created}");
    }
    fill(&api, &token, "a-big", 80, 4).await;
    for i in 0..3 {
        api.send_until_acked(&token, "b-small", &format!("s{i}"), &format!("small {i}"))
            .await;
    }
    for msgpack in [false, true] {
        let received = sync_all(&mut ws, &["a-big", "b-small"], msgpack).await;
        let big = &received["a-big"];
        assert_eq!(
            big.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            (1..=80).collect::<Vec<_>>(),
            "every message once, in Seq order (msgpack: {msgpack})"
        );
        let mut sent: Vec<u64> = big
            .iter()
            .map(|(_, content)| {
                let index: u64 = content.split(['#', ':']).nth(1).unwrap().parse().unwrap();
                assert_eq!(content, &big_content("a-big", index), "messages arrive whole");
                index
            })
            .collect();
        sent.sort_unstable();
        assert_eq!(sent, (0..80).collect::<Vec<_>>(), "each sent message exactly once");
        let small: Vec<&str> = received["b-small"].iter().map(|(_, c)| c.as_str()).collect();
        assert_eq!(small, vec!["small 0", "small 1", "small 2"]);
    }
    // the first page is full of the big conversation: the small one waits with hasMore
    let (reply, _) = sync_frame(
        &mut ws,
        &[("a-big".to_owned(), 0), ("b-small".to_owned(), 0)].into(),
        false,
        1,
    )
    .await;
    let small = &reply["data"]["convs"]["b-small"];
    assert_eq!(
        (small["msgs"].as_array().map(Vec::len), small["hasMore"].as_bool()),
        (Some(0), Some(true)),
        "a conversation that does not fit waits for the next page"
    );
    herald.stop().await;
}

on_both_buses!(sync_pages_a_big_history_within_the_budget);

/// A POST whose answer size is measured too.
async fn post_sized(api: &Api, path: &str, token: &str, body: Value) -> (u16, Value, usize) {
    let response = api
        .http
        .post(format!("{}{path}", api.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap(), bytes.len())
}

/// by_range over 1,000 big messages (30 MB): each answer stays within the budget, is contiguous,
/// says `HasMore`, and continuing from the last one received walks the whole range once.
/// History reads go to the store, not the bus: one bus is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_range_of_a_thousand_big_messages_comes_in_budgeted_pages() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let token = api.token("ranger", 1).await;
    let conv = api.create_group(&token, &[]).await;
    let ids = fill(&api, &token, &conv, 1000, 8).await;
    let mut seqs = Vec::new();
    let mut start = ids[&1].clone();
    for page in 0.. {
        assert!(page < 100, "the range never ended");
        let body = json!({"conversation_id": conv, "start_msg_id": start, "end_msg_id": ids[&1000]});
        let (status, body, size) = post_sized(&api, "/get_conversation_msg_by_range", &token, body).await;
        assert_eq!(status, 200, "{body}");
        assert!(size <= BUDGET + ENVELOPE, "page {page} is {size} bytes");
        let msgs = body["data"]["Msg"].as_array().unwrap();
        let first = msgs[0]["Seq"].as_u64().unwrap();
        let page_seqs: Vec<u64> = msgs.iter().map(|m| m["Seq"].as_u64().unwrap()).collect();
        assert_eq!(
            page_seqs,
            (first..first + msgs.len() as u64).collect::<Vec<_>>(),
            "contiguous"
        );
        let last = *page_seqs.last().unwrap();
        assert_eq!(body["data"]["HasMore"].as_bool(), Some(last < 1000));
        // the range is inclusive: a continued page repeats the message it starts from
        seqs.extend(page_seqs.into_iter().skip(usize::from(page > 0)));
        if last == 1000 {
            break;
        }
        start = ids[&last].clone();
    }
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>(), "the whole range, once, in order");
    // the last 30, newest kept when cut: within the budget too
    let (status, body, size) = post_sized(
        &api,
        "/get_conversation_last_30_msg",
        &token,
        json!({"conversation_id": conv}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(size <= BUDGET + ENVELOPE, "{size} bytes");
    let msgs = body["data"]["Msg"].as_array().unwrap();
    assert_eq!(msgs.last().unwrap()["Seq"], 1000, "the newest are kept");
    assert_eq!(body["data"]["HasMore"].as_bool(), Some(msgs.len() < 30));
    herald.stop().await;
}

/// More conversations than one page: the first page keeps its original shape, and the cursor
/// walks every conversation once, on /ws and over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_list_comes_in_pages() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let token = api.token("joiner", 1).await;
    let mut created = Vec::new();
    for _ in 0..250 {
        created.push(api.create_group(&token, &[]).await);
    }
    created.sort();
    let mut ws = api.ws(&token).await;

    let first = ws.request("conv-list", json!({})).await;
    let first = first["data"].as_array().expect("without a cursor: the original array");
    assert_eq!(first.len(), 100, "the default page");
    assert!(first[0]["convId"].is_string() && first[0]["unreadNum"].is_u64());

    let mut listed = Vec::new();
    let mut cursor = Value::Null;
    for page in 0.. {
        assert!(page < 10);
        let param = if cursor.is_null() {
            json!({"limit": 70})
        } else {
            json!({"limit": 70, "cursor": cursor})
        };
        let reply = ws.request("conv-list", param).await;
        let convs = reply["data"]["convs"].as_array().expect("{convs, next}");
        assert!(convs.len() <= 70);
        listed.extend(convs.iter().map(|c| c["convId"].as_str().unwrap().to_owned()));
        cursor = reply["data"]["next"].clone();
        if cursor.is_null() {
            break;
        }
    }
    listed.sort();
    assert_eq!(listed, created, "/ws: every conversation once");

    let (status, body) = api.post("/get_joined_conversation", &token, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["Conversations"].as_array().unwrap().len(), 100);
    let mut listed = Vec::new();
    let mut cursor = Value::Null;
    for page in 0.. {
        assert!(page < 10);
        let (status, body) = api
            .post(
                "/get_joined_conversation",
                &token,
                json!({"cursor": cursor, "limit": 100}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let convs = body["data"]["Conversations"].as_array().unwrap();
        listed.extend(convs.iter().map(|c| c["ConversationID"].as_str().unwrap().to_owned()));
        cursor = body["data"]["Next"].clone();
        if cursor.is_null() {
            break;
        }
    }
    listed.sort();
    assert_eq!(listed, created, "HTTP: every conversation once");
    let (status, body) = api
        .post("/get_joined_conversation", &token, json!({"cursor": "nonsense"}))
        .await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(10001)), "{body}");
    herald.stop().await;
}

/// A list whose entries carry big last messages stops at the budget and its cursor goes on from
/// the last entry listed, on /ws and over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_big_last_messages_stops_at_the_budget() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let token = api.token("lister", 1).await;
    let mut created = Vec::new();
    for i in 0..45 {
        let conv = api.create_group(&token, &[]).await;
        api.send_until_acked(&token, &conv, "big", &big_content(&conv, i)).await;
        created.push(conv);
    }
    created.sort();
    let mut ws = api.ws(&token).await;
    let mut listed = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 10);
        ws.send_frame(json!({"action": "conv-list", "reqId": pages, "param": {"cursor": cursor}}))
            .await;
        // the pushes of the messages just sent may still arrive: the reply is the frame with our reqId
        let (text, reply) = loop {
            let Some(Message::Text(text)) = ws.next_raw().await else {
                panic!("a text reply")
            };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            if frame["reqId"] == json!(pages) {
                break (text, frame);
            }
        };
        assert!(text.len() <= BUDGET + ENVELOPE, "{} bytes", text.len());
        let convs = reply["data"]["convs"].as_array().expect("{convs, next}");
        listed.extend(convs.iter().map(|c| c["convId"].as_str().unwrap().to_owned()));
        cursor = reply["data"]["next"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert!(pages > 1, "45 entries of 30 KiB do not fit one page");
    listed.sort();
    assert_eq!(listed, created, "/ws: every conversation once");
    let mut listed = Vec::new();
    let mut cursor = Value::Null;
    for page in 0.. {
        assert!(page < 10);
        let (status, body, size) =
            post_sized(&api, "/get_joined_conversation", &token, json!({"cursor": cursor})).await;
        assert_eq!(status, 200);
        assert!(size <= BUDGET + ENVELOPE, "{size} bytes");
        let convs = body["data"]["Conversations"].as_array().unwrap();
        listed.extend(convs.iter().map(|c| c["ConversationID"].as_str().unwrap().to_owned()));
        cursor = body["data"]["Next"].clone();
        if cursor.is_null() {
            break;
        }
    }
    listed.sort();
    assert_eq!(listed, created, "HTTP: every conversation once");
    herald.stop().await;
}
