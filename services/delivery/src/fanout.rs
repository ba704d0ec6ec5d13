//! Fan-out planning as a plain function: events and the routing table in, one list of
//! deliveries per gateway out. Each push is serialized once, whatever its audience.

use herald_bus::RouteTable;
use herald_protocol::bus::{Delivery, Event, EventBody, Push};
use herald_protocol::ws::push;
use herald_protocol::{GatewayId, SessionId};
use serde_json::json;
use std::borrow::Borrow;
use std::collections::HashMap;

/// The push an event becomes (protocol §5; the push catalogue is in the OpenAPI description).
pub fn push_of(event: &Event) -> Push {
    let conv = &event.conv;
    let frame = |json| Push::Frame { json };
    match &event.body {
        EventBody::Message(record) => Push::Message {
            msg_id: record.msg_id,
            msg_data_json: serde_json::to_string(&record.wire()).expect("MsgData serializes"),
            conv: Some(conv.clone()),
            seq: record.seq,
        },
        EventBody::Read { seq, unread, .. } => frame(push(
            "msg-read",
            None,
            json!({"convId": conv, "seq": seq, "unreadNum": unread}),
        )),
        EventBody::Recalled(record) => frame(push(
            "msg-delete",
            None,
            json!({"convId": conv, "msgId": record.msg_id, "seq": record.seq, "forEveryone": true, "msg": record.to_wire()}),
        )),
        EventBody::MembersAdded { sessions, by } => frame(push(
            "conv-membersAdded",
            None,
            json!({"convId": conv, "linkKeys": sessions, "by": by}),
        )),
        EventBody::MembersRemoved { sessions, by } => frame(push(
            "conv-membersRemoved",
            None,
            json!({"convId": conv, "linkKeys": sessions, "by": by}),
        )),
        EventBody::Archived { archived } => frame(push(
            "conv-archive",
            None,
            json!({"convId": conv, "isArchive": archived}),
        )),
    }
}

/// The read receipt of a read event, for the conversation's other members: who read up to
/// which `Seq` (protocol §5, `msg-readBy`). Other events have none.
pub fn receipt_of(event: &Event) -> Option<Push> {
    let EventBody::Read { session, seq, .. } = &event.body else {
        return None;
    };
    Some(Push::Frame {
        json: push(
            "msg-readBy",
            None,
            json!({"convId": event.conv, "linkKey": session, "seq": seq}),
        ),
    })
}

/// `recipients[i]` are the sessions `events[i]` is for; `traces[i]` is the `traceparent` of the
/// span delivering it (empty: untraced).
pub fn plan_fanout(
    events: &[impl Borrow<Event>],
    recipients: &[Vec<SessionId>],
    traces: &[Option<String>],
    routes: &RouteTable,
) -> HashMap<GatewayId, Vec<Delivery>> {
    let mut plan = HashMap::new();
    add_to_plan(&mut plan, events, recipients, traces, routes, true, |e| {
        Some(push_of(e))
    });
    plan
}

/// Adds the read receipts of `events` (`receivers[i]`: who gets `events[i]`'s) to `plan`, after
/// what each gateway already has, so a gateway writes a reader's receipt after the reads before it.
pub fn plan_receipts(
    plan: &mut HashMap<GatewayId, Vec<Delivery>>,
    events: &[impl Borrow<Event>],
    receivers: &[Vec<SessionId>],
    traces: &[Option<String>],
    routes: &RouteTable,
) {
    // a receipt nobody online wants is not an event lost: the reader's cursor is stored
    add_to_plan(plan, events, receivers, traces, routes, false, receipt_of);
}

fn add_to_plan(
    plan: &mut HashMap<GatewayId, Vec<Delivery>>,
    events: &[impl Borrow<Event>],
    recipients: &[Vec<SessionId>],
    traces: &[Option<String>],
    routes: &RouteTable,
    count_unrouted: bool,
    push_of: impl Fn(&Event) -> Option<Push>,
) {
    for (index, event) in events.iter().map(Borrow::borrow).enumerate() {
        let trace = traces.get(index).cloned().flatten();
        let Some(sessions) = recipients.get(index) else {
            continue;
        };
        let by_gateway = routes.plan(&event.app, sessions);
        if by_gateway.is_empty() {
            // every recipient offline (or the routing table wrong): the store still has it
            if count_unrouted && !sessions.is_empty() {
                metrics::counter!("herald_events_unrouted_total").increment(1);
            }
            continue;
        }
        let Some(push) = push_of(event) else {
            continue;
        };
        for (gateway, sessions) in by_gateway {
            plan.entry(gateway).or_default().push(Delivery {
                app: event.app.clone(),
                recipients: sessions,
                push: push.clone(),
                trace: trace.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_bus::RouteKey;
    use herald_protocol::{AppId, ConvId, MessageRecord, MsgId, SessionId};

    fn record(seq: u64) -> MessageRecord {
        MessageRecord {
            app: AppId::parse("a").unwrap(),
            conv: ConvId::parse("c").unwrap(),
            seq,
            msg_id: MsgId(seq),
            from: SessionId::parse("alice").unwrap(),
            send_time: 0,
            status: 0,
            msg_type: 1,
            content: "x".into(),
            idempotency_key: format!("{seq}").into(),
            client_msg_id: None,
        }
    }

    #[test]
    fn one_batch_per_gateway_in_event_order() {
        let routes = RouteTable::default();
        let (g1, g2) = (GatewayId::parse("g1").unwrap(), GatewayId::parse("g2").unwrap());
        let key = |s: &str| RouteKey {
            app: AppId::parse("a").unwrap(),
            session: SessionId::parse(s).unwrap(),
        };
        routes.add(key("alice"), g1.clone());
        routes.add(key("bob"), g1.clone());
        routes.add(key("bob"), g2.clone());
        let members: Vec<SessionId> = ["alice", "bob", "offline"]
            .iter()
            .map(|s| SessionId::parse(*s).unwrap())
            .collect();
        let events: Vec<Event> = (1..=3)
            .map(|s| Event {
                app: AppId::parse("a").unwrap(),
                conv: ConvId::parse("c").unwrap(),
                body: EventBody::Message(record(s)),
            })
            .collect();
        let plan = plan_fanout(&events, &vec![members; 3], &[], &routes);
        assert_eq!(plan.len(), 2);
        let ids = |g: &GatewayId| {
            plan[g]
                .iter()
                .map(|d| match &d.push {
                    Push::Message { msg_id, .. } => msg_id.0,
                    Push::Frame { .. } => 0,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&g1), vec![1, 2, 3]);
        assert_eq!(ids(&g2), vec![1, 2, 3]);
        assert_eq!(plan[&g1][0].recipients.len(), 2);
        assert_eq!(plan[&g2][0].recipients, vec![SessionId::parse("bob").unwrap()]);
    }
}
