//! Fan-out planning as a plain function: events and the routing table in, one list of
//! deliveries per gateway out. Each message is serialized once, whatever its audience.

use herald_bus::RouteTable;
use herald_protocol::GatewayId;
use herald_protocol::bus::{Delivery, Event, Push};
use std::collections::HashMap;

pub fn plan_fanout(events: &[Event], routes: &RouteTable) -> HashMap<GatewayId, Vec<Delivery>> {
    let mut plan: HashMap<GatewayId, Vec<Delivery>> = HashMap::new();
    for event in events {
        let Event::Message { record, recipients } = event;
        let by_gateway = routes.plan(&record.app, recipients);
        if by_gateway.is_empty() {
            continue;
        }
        let msg_data_json = serde_json::to_string(&record.to_wire()).expect("MsgData serializes");
        for (gateway, sessions) in by_gateway {
            plan.entry(gateway).or_default().push(Delivery {
                app: record.app.clone(),
                recipients: sessions,
                push: Push::Message {
                    conv: record.conv.clone(),
                    seq: record.seq,
                    msg_data_json: msg_data_json.clone(),
                },
            });
        }
    }
    plan
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
            idempotency_key: format!("{seq}"),
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
            .map(|s| Event::Message {
                record: record(s),
                recipients: members.clone(),
            })
            .collect();
        let plan = plan_fanout(&events, &routes);
        assert_eq!(plan.len(), 2);
        let seqs = |g: &GatewayId| {
            plan[g]
                .iter()
                .map(|d| match &d.push {
                    Push::Message { seq, .. } => *seq,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(seqs(&g1), vec![1, 2, 3]);
        assert_eq!(seqs(&g2), vec![1, 2, 3]);
        assert_eq!(plan[&g1][0].recipients.len(), 2);
        assert_eq!(plan[&g2][0].recipients, vec![SessionId::parse("bob").unwrap()]);
    }
}
