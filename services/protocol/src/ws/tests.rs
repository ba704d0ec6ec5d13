//! The typed parse of `/ws` frames (every action, unknown actions, bad parameters, JSON and
//! MessagePack alike) and the encoding of replies and pushes.

use super::*;
use crate::ErrorCode;
use serde_json::{Value, json};

fn msgpack(frame: &Value) -> Vec<u8> {
    rmp_serde::to_vec_named(frame).unwrap()
}

/// The request a frame makes, read from its JSON text and from its MessagePack form; both must agree.
fn parse(frame: Value) -> Result<(Envelope, Request), String> {
    let mut outcomes = Vec::new();
    for (bytes, format) in [
        (frame.to_string().into_bytes(), Format::Json),
        (msgpack(&frame), Format::MsgPack),
    ] {
        let outcome = Envelope::parse(&bytes, format)
            .map_err(|m| m.reason)
            .and_then(|envelope| {
                Request::parse(&envelope.action, &bytes, format)
                    .map(|request| (envelope, request))
                    .map_err(|e| e.to_string())
            });
        outcomes.push(outcome);
    }
    let msgpack = outcomes.pop().unwrap();
    let json = outcomes.pop().unwrap();
    assert_eq!(json.is_ok(), msgpack.is_ok(), "{frame}: {json:?} / {msgpack:?}");
    if let (Ok(a), Ok(b)) = (&json, &msgpack) {
        assert_eq!(a, b, "JSON and MessagePack give the same request");
    }
    json
}

fn request(action: &str, param: Value) -> Request {
    parse(json!({"action": action, "reqId": 1, "param": param}))
        .unwrap_or_else(|e| panic!("{action}: {e}"))
        .1
}

#[test]
fn every_action_parses_to_its_variant() {
    let c = || "c".to_owned();
    let cases = [
        ("ping", Value::Null, Request::Ping),
        (
            "msg-im",
            json!({"convId": "c", "msgKey": "k", "msgType": "image", "msgContent": "hi"}),
            Request::MsgIm(MsgIm {
                conv_id: c(),
                msg_key: Some("k".into()),
                msg_type: Scalar::Text("image".into()),
                msg_content: "hi".into(),
            }),
        ),
        (
            "msg-read",
            json!({"convId": "c", "seq": 4}),
            Request::MsgRead(MsgRead {
                conv_id: c(),
                seq: Some(4),
            }),
        ),
        (
            "msg-listHistory",
            json!({"convId": "c", "limit": 5, "beforeSeq": 9}),
            Request::ListHistory(ListHistory {
                conv_id: c(),
                limit: Some(5),
                offset: None,
                before_seq: Some(9),
            }),
        ),
        (
            "msg-delete",
            json!({"convId": "c", "msgId": "12", "forEveryone": true}),
            Request::MsgDelete(MsgDelete {
                conv_id: c(),
                msg_id: Scalar::Text("12".into()),
                for_everyone: true,
            }),
        ),
        (
            "conv-create",
            json!({"convType": "multi", "convName": "n", "linkKeys": ["b"], "conversationType": 3}),
            Request::ConvCreate(ConvCreate {
                conv_type: Some("multi".into()),
                conv_key: None,
                conv_name: Some("n".into()),
                conv_avt: None,
                link_keys: vec!["b".into()],
                conversation_type: Scalar::UInt(3),
                open: None,
            }),
        ),
        (
            "conv-list",
            json!({"cursor": null}),
            Request::ConvList(ConvList {
                cursor: Some(None),
                limit: None,
            }),
        ),
        (
            "conv-delete",
            json!({"convId": "c"}),
            Request::ConvDelete(ConvRef { conv_id: c() }),
        ),
        (
            "chat-conv-join",
            json!({"convId": "c"}),
            Request::ChatJoin(ConvRef { conv_id: c() }),
        ),
        (
            "chat-conv-leave",
            json!({"convId": "c"}),
            Request::ChatLeave(ConvRef { conv_id: c() }),
        ),
        (
            "typing",
            json!({"convId": "c"}),
            Request::Typing(ConvRef { conv_id: c() }),
        ),
        (
            "sync",
            json!({"convs": {"c": 3}}),
            Request::Sync(Sync {
                convs: [(c(), 3)].into(),
            }),
        ),
        (
            "friend-request",
            json!({"linkKey": "b", "information": "hello"}),
            Request::FriendRequest(FriendRequest {
                link_key: "b".into(),
                information: Scalar::Text("hello".into()),
            }),
        ),
        (
            "friend-respond",
            json!({"linkKey": "b", "accept": true}),
            Request::FriendRespond(FriendRespond {
                link_key: "b".into(),
                accept: Scalar::Bool(true),
            }),
        ),
        (
            "friend-list",
            json!({"after": "a"}),
            Request::FriendList(FriendList {
                after: Some("a".into()),
            }),
        ),
        (
            "friend-delete",
            json!({"linkKey": "b"}),
            Request::FriendDelete(LinkRef { link_key: "b".into() }),
        ),
        (
            "presence-query",
            json!({"linkKeys": ["a", "b"]}),
            Request::PresenceQuery(PresenceQuery {
                link_keys: vec!["a".into(), "b".into()],
            }),
        ),
        (
            "signal",
            json!({"to": ["b"], "kind": "ice", "callId": "c1", "data": {"candidate": "x"}}),
            Request::Signal(Signal {
                to: vec!["b".into()],
                kind: "ice".into(),
                call_id: "c1".into(),
                data: Some(json!({"candidate": "x"})),
            }),
        ),
    ];
    for (action, param, expected) in cases {
        assert_eq!(request(action, param), expected, "{action}");
    }
    let links = || ConvLinks {
        conv_id: c(),
        link_keys: vec!["b".into()],
    };
    let param = json!({"convId": "c", "linkKeys": ["b"]});
    assert_eq!(request("conv-join", param.clone()), Request::ConvJoin(links()));
    assert_eq!(request("conv-leave", param.clone()), Request::ConvLeave(links()));
    assert_eq!(
        request("conv-inviteLinks", param.clone()),
        Request::ConvInviteLinks(links())
    );
    assert_eq!(request("conv-removeLinks", param), Request::ConvRemoveLinks(links()));
    let (_, chat) = parse(json!({
        "action": "chat-msg-im", "param": {"convId": "c", "msgKey": "k"}, "data": {"msgType": 1, "content": "x"}
    }))
    .unwrap();
    assert_eq!(
        chat,
        Request::ChatMsg(
            ChatMsg {
                conv_id: c(),
                msg_key: Some("k".into())
            },
            ChatData {
                msg_type: Scalar::UInt(1),
                content: "x".into()
            }
        )
    );
}

#[test]
fn every_listed_action_is_known() {
    for action in ACTIONS {
        let frame = json!({"action": action, "param": {}}).to_string();
        assert!(
            !matches!(
                Request::parse(action, frame.as_bytes(), Format::Json),
                Err(RequestError::UnknownAction(_))
            ),
            "{action}"
        );
    }
}

#[test]
fn an_unknown_action_keeps_its_envelope() {
    let frame = json!({"action": "no-such", "reqId": "r", "linkKey": "me"}).to_string();
    let envelope = Envelope::parse(frame.as_bytes(), Format::Json).unwrap();
    assert_eq!(
        (envelope.action.as_str(), &envelope.req_id, envelope.link_key.as_deref()),
        ("no-such", &json!("r"), Some("me"))
    );
    let err = Request::parse(&envelope.action, frame.as_bytes(), Format::Json).unwrap_err();
    assert_eq!(err.to_string(), r#"unknown action "no-such""#);
}

#[test]
fn a_bad_param_is_an_invalid_param() {
    for (action, param) in [
        ("msg-im", json!({"convId": "c"})),
        ("msg-read", json!({"convId": 5})),
        ("sync", json!({"convs": {"c": "x"}})),
        ("presence-query", Value::Null),
        ("signal", json!({"to": "b", "kind": "invite", "callId": "c"})),
        ("conv-list", json!({"limit": "ten"})),
        ("msg-delete", json!({"convId": "c"})),
    ] {
        let err = parse(json!({"action": action, "reqId": 1, "param": param})).unwrap_err();
        assert!(err.starts_with("invalid param: "), "{action}: {err}");
    }
    let err = parse(json!({"action": "chat-msg-im", "param": {"convId": "c"}})).unwrap_err();
    assert!(err.contains("content"), "a missing data is reported: {err}");
}

#[test]
fn malformed_frames_keep_what_can_be_echoed() {
    let bad = |bytes: &[u8], format| Envelope::parse(bytes, format).unwrap_err();
    let broken = bad(br#"{"action": "ping""#, Format::Json);
    assert!(broken.reason.starts_with("malformed JSON: "), "{broken:?}");
    let garbage = bad(&[0xc1], Format::MsgPack);
    assert!(garbage.reason.starts_with("malformed MessagePack: "), "{garbage:?}");
    for frame in [json!(5), json!(["ping", 1]), json!("ping"), Value::Null] {
        let m = bad(frame.to_string().as_bytes(), Format::Json);
        assert!(m.reason.starts_with("malformed request: "), "{frame}: {m:?}");
        assert_eq!((m.action.as_str(), &m.req_id), ("", &Value::Null));
    }
    let m = bad(br#"{"action": 7, "reqId": 3}"#, Format::Json);
    assert_eq!((m.action.as_str(), &m.req_id), ("", &json!(3)));
    let m = bad(br#"{"reqId": [1]}"#, Format::Json);
    assert_eq!((m.action.as_str(), &m.req_id), ("", &json!([1])));
    let m = bad(br#"{"action": "ping", "reqId": {"a": 1}, "linkKey": 4}"#, Format::Json);
    assert_eq!((m.action.as_str(), &m.req_id), ("ping", &json!({"a": 1})));
}

#[test]
fn replies_are_encoded_once_in_the_clients_format() {
    let req_id = json!(7);
    let data = json!({"convId": "c", "b": [1, 2]});
    let Encoded::Text(text) = Format::Json.ok_reply("ping", &req_id, &data) else {
        panic!("text")
    };
    assert_eq!(
        text,
        r#"{"action":"ping","reqId":7,"status":"ok","data":{"b":[1,2],"convId":"c"}}"#
    );
    let Encoded::Text(text) = Format::Json.error_reply("x", &Value::Null, ErrorCode::NotFound, "no") else {
        panic!("text")
    };
    assert_eq!(
        text,
        r#"{"action":"x","reqId":null,"status":"error","code":10005,"error":"no"}"#
    );
    // MessagePack: the same document, keys sorted as they always were
    for (reply, json_text) in [
        (
            Format::MsgPack.ok_reply("ping", &req_id, &data),
            Format::Json.ok_reply("ping", &req_id, &data),
        ),
        (
            Format::MsgPack.error_reply("x", &json!("r"), ErrorCode::TooLarge, "big"),
            Format::Json.error_reply("x", &json!("r"), ErrorCode::TooLarge, "big"),
        ),
    ] {
        let (Encoded::Binary(bytes), Encoded::Text(text)) = (reply, json_text) else {
            panic!("binary and text")
        };
        assert_eq!(bytes, push_to_msgpack(&text), "byte for byte as before");
    }
}

#[test]
fn push_frame_is_valid_json() {
    let frame = message_push(r#"{"MsgId":"1"}"#);
    let value: Value = serde_json::from_str(&frame).unwrap();
    assert_eq!(value["data"]["MsgId"], "1");
    assert_eq!(value["code"], 200);
    assert!(value.get("reqId").is_none());
    let other: Value = serde_json::from_str(&push("typing", None, json!({"convId": "c"}))).unwrap();
    assert!(other.get("code").is_none() && other.get("reqId").is_none());
}
