//! From log events to webhook jobs: the webhook events one event of the events log makes for its
//! app's endpoints (`message.created`, `message.recalled`, `members.changed`,
//! `conversation.archived`, `offline_push` for the members with no live connection,
//! `bot.message` for bot members), and the jobs that queue them. Shared by the events log's
//! consumer (`dispatch`, clusters) and the sequencer's inline queue (`inline`, embedded).

use crate::directory::{AppView, Directory};
use crate::events::{self, Lane, Outgoing};
use herald_bus::RouteTable;
use herald_protocol::bus::{Event, EventBody};
use herald_protocol::{MessageRecord, SessionId};
use herald_store::{DirectoryStore, StoreError, WebhookEndpoint, WebhookJob};
use serde_json::{Value, json};
use std::collections::HashSet;
use tracing::Instrument;

/// One event to queue, with what places it.
pub struct Source<'a> {
    pub event: &'a Event,
    /// Its place in its conversation's lane: increasing with each later event of the conversation.
    pub order: i64,
    /// The id of its webhook event when it has no message id (member changes, archiving):
    /// unique, and the same when the event is made again (a replay).
    pub event_id: String,
    /// The W3C `traceparent` it was made in.
    pub trace: Option<String>,
}

/// What queuing reads: the apps' webhooks, conversation members, who is online.
pub struct Queuer<'a> {
    pub directory: &'a dyn DirectoryStore,
    pub views: &'a Directory,
    pub routes: Option<&'a RouteTable>,
    /// The events log's partitions (a lane's jobs are sent by its partition's owner).
    pub partitions: u32,
    /// The partition being queued (for the spans).
    pub partition: u32,
}

impl Queuer<'_> {
    /// The jobs of `sources` for the endpoints that asked for their types; events of apps without
    /// endpoints cost no store read.
    pub async fn jobs(&self, sources: &[Source<'_>]) -> Result<Vec<WebhookJob>, StoreError> {
        let views = self.views.views().await?;
        let mut outgoing = Vec::new();
        for source in sources {
            let Some(view) = views.get(&source.event.app).filter(|v| !v.endpoints.is_empty()) else {
                continue;
            };
            // the message's trace goes on: its webhook events are queued in a span of it
            let span = tracing::info_span!("webhooks.queue", partition = self.partition, order = source.order);
            herald_bus::trace::continue_trace(&span, source.trace.as_deref());
            let trace = herald_bus::trace::traceparent_of(&span);
            let made = self.outgoing(view, source).instrument(span).await?;
            outgoing.extend(made.into_iter().map(|o| Outgoing {
                trace: trace.clone(),
                ..o
            }));
        }
        if outgoing.is_empty() {
            return Ok(Vec::new());
        }
        // the endpoints of the apps with events here, not every app's
        let mut apps: Vec<&herald_protocol::AppId> = outgoing.iter().map(|o| &o.app).collect();
        apps.sort();
        apps.dedup();
        let endpoints: Vec<WebhookEndpoint> = apps
            .into_iter()
            .filter_map(|app| views.get(app))
            .flat_map(|v| v.endpoints.iter().cloned())
            .collect();
        // counted once stored (`events::count_queued`), not here: a batch planned again after a
        // failed append would count its jobs twice
        Ok(events::jobs(&outgoing, &endpoints, self.partitions, events::now_ms()))
    }

    /// The webhook events of one log event.
    async fn outgoing(&self, view: &AppView, source: &Source<'_>) -> Result<Vec<Outgoing>, StoreError> {
        let event = source.event;
        let at = |kind: &'static str, id: String, data: Value, created_at: i64| Outgoing {
            app: event.app.clone(),
            id,
            kind,
            lane: Lane::Conversation(event.conv.clone()),
            order: source.order,
            data,
            created_at,
            trace: None,
        };
        let now = herald_protocol::timefmt::now_nanos();
        let mut out = Vec::new();
        match &event.body {
            EventBody::Message(record) => {
                let id = |kind: &str| format!("{kind}:{}", record.msg_id);
                let message = serde_json::to_value(record.to_wire()).unwrap_or(Value::Null);
                if view.wants(events::MESSAGE_CREATED) {
                    out.push(at(
                        events::MESSAGE_CREATED,
                        id("msg"),
                        message.clone(),
                        record.send_time,
                    ));
                }
                if view.wants(events::OFFLINE_PUSH) || view.wants(events::BOT_MESSAGE) {
                    let members = self.directory.members(&event.app, &event.conv).await?;
                    if view.wants(events::OFFLINE_PUSH) {
                        let offline = self.offline(record, &members);
                        if !offline.is_empty() {
                            let data = json!({"message": message, "recipients": offline});
                            out.push(at(events::OFFLINE_PUSH, id("offline"), data, record.send_time));
                        }
                    }
                    for bot in members.iter().filter(|m| view.bots.contains(*m) && **m != record.from) {
                        let data = json!({"bot": bot, "message": message});
                        let bot_id = format!("bot:{}:{bot}", record.msg_id);
                        out.push(at(events::BOT_MESSAGE, bot_id, data, record.send_time));
                    }
                }
            }
            EventBody::Recalled(record) => {
                let data = serde_json::to_value(record.to_wire()).unwrap_or(Value::Null);
                let id = format!("recall:{}", record.msg_id);
                out.push(at(events::MESSAGE_RECALLED, id, data, now));
            }
            EventBody::MembersAdded { sessions, by } | EventBody::MembersRemoved { sessions, by } => {
                let change = if matches!(event.body, EventBody::MembersAdded { .. }) {
                    "added"
                } else {
                    "removed"
                };
                let data = json!({"ConversationID": event.conv, change: sessions, "by": by});
                out.push(at(events::MEMBERS_CHANGED, source.event_id.clone(), data, now));
            }
            EventBody::Archived { archived } => {
                let data = json!({"ConversationID": event.conv, "archived": archived});
                out.push(at(events::CONVERSATION_ARCHIVED, source.event_id.clone(), data, now));
            }
            EventBody::Read { .. } => {}
        }
        Ok(out.into_iter().filter(|o| view.wants(o.kind)).collect())
    }

    /// The members other than the sender with no live connection on any gateway.
    fn offline(&self, record: &MessageRecord, members: &[SessionId]) -> Vec<SessionId> {
        let others: Vec<&SessionId> = members.iter().filter(|m| **m != record.from).collect();
        let Some(routes) = self.routes else {
            return others.into_iter().cloned().collect();
        };
        let online: HashSet<SessionId> = routes
            .plan(&record.app, others.iter().copied())
            .into_values()
            .flatten()
            .collect();
        others.into_iter().filter(|m| !online.contains(*m)).cloned().collect()
    }
}
